//! The supervisor: parent of every connection actor and of the rooms, and it outlives them all.
//!
//! Each child is spawned *linked* to the supervisor, so the actor system reports to it whenever a
//! child starts, stops or fails. ractor's default `handle_supervisor_evt` stops the supervisor
//! when any child ends, which is the right default for a tree of co-dependent actors and exactly
//! wrong for connections, which come and go all day. So this supervisor overrides it: a child's
//! end is logged, a failed connection gets close code 1011, and everything else keeps running.

use std::collections::HashMap;
use std::net::SocketAddr;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::connection::{ConnectionActor, ConnectionArgs, ConnectionMsg};
use super::outbox::Outbox;
use crate::protocol::CloseCode;

/// Messages the supervisor understands.
pub enum SupervisorMsg {
    /// Start the actor for a freshly upgraded WebSocket and answer with its address.
    StartConnection {
        args: ConnectionArgs,
        peer: SocketAddr,
        reply: RpcReplyPort<Result<ActorRef<ConnectionMsg>, String>>,
    },
    /// Close every connection with `code` (1001 at shutdown); answers how many were asked.
    CloseAll {
        code: CloseCode,
        reply: RpcReplyPort<usize>,
    },
    /// Test-only: make one connection's actor panic; answers whether it was found.
    #[cfg(feature = "test-hooks")]
    InjectPanic {
        connection_id: u64,
        reply: RpcReplyPort<bool>,
    },
}

/// What the supervisor remembers about each live connection actor.
struct Child {
    connection_id: u64,
    outbox: Outbox,
}

/// The supervisor's data.
#[derive(Default)]
pub struct SupervisorState {
    children: HashMap<ActorId, Child>,
}

/// The supervisor's behaviour.
pub struct ConnectionSupervisor;

impl Actor for ConnectionSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState::default())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::StartConnection { args, peer, reply } => {
                let connection_id = args.id;
                let name = args.name.clone();
                let outbox = args.outbox.clone();
                let started =
                    Actor::spawn_linked(None, ConnectionActor, args, myself.get_cell()).await;
                let answer = match started {
                    Ok((actor, _join)) => {
                        tracing::info!(
                            connection = connection_id,
                            actor = %actor.get_id(),
                            %name,
                            %peer,
                            "connection opened"
                        );
                        state.children.insert(
                            actor.get_id(),
                            Child {
                                connection_id,
                                outbox,
                            },
                        );
                        Ok(actor)
                    }
                    Err(error) => {
                        tracing::error!(connection = connection_id, %error, "could not start a connection actor");
                        Err(error.to_string())
                    }
                };
                let _ = reply.send(answer);
            }
            SupervisorMsg::CloseAll { code, reply } => {
                for child in state.children.values() {
                    child.outbox.close(code);
                }
                let _ = reply.send(state.children.len());
            }
            #[cfg(feature = "test-hooks")]
            SupervisorMsg::InjectPanic {
                connection_id,
                reply,
            } => {
                let target = state
                    .children
                    .iter()
                    .find(|(_, child)| child.connection_id == connection_id)
                    .map(|(actor_id, _)| *actor_id);
                let found = target
                    .and_then(|actor_id| {
                        myself
                            .get_children()
                            .into_iter()
                            .find(|cell| cell.get_id() == actor_id)
                    })
                    .is_some_and(|cell| {
                        ActorRef::<ConnectionMsg>::from(cell)
                            .cast(ConnectionMsg::Panic)
                            .is_ok()
                    });
                let _ = reply.send(found);
            }
        }
        Ok(())
    }

    /// The override that keeps the supervisor alive when a child ends.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _last_state, reason) => {
                if let Some(child) = state.children.remove(&cell.get_id()) {
                    tracing::info!(
                        connection = child.connection_id,
                        actor = %cell.get_id(),
                        reason = reason.as_deref().unwrap_or("stopped"),
                        "connection closed"
                    );
                } else {
                    tracing::debug!(actor = %cell.get_id(), "child actor stopped");
                }
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                if let Some(child) = state.children.remove(&cell.get_id()) {
                    // Only this client is affected: tell it, and let the others carry on.
                    child.outbox.close(CloseCode::InternalError);
                    tracing::error!(
                        connection = child.connection_id,
                        actor = %cell.get_id(),
                        %error,
                        "connection actor failed; closed its connection with 1011"
                    );
                } else {
                    tracing::error!(actor = %cell.get_id(), %error, "child actor failed");
                }
            }
            SupervisionEvent::ActorStarted(_) | SupervisionEvent::ProcessGroupChanged(_) => {}
        }
        Ok(())
    }
}
