//! Names unique in the cluster, at connect time (`--redis` only).
//!
//! The directory and the supervisor never wait for Redis, so the Redis side of a name is settled
//! around the directory's `Claim`:
//!
//! 1. [`reserve`] (by the WebSocket handler, before it asks the supervisor): a requested `?name=` is claimed in Redis first. Held by a connection of any
//!    node → the directory is not asked for it, and the client gets `name_taken` (and a guest
//!    name); Redis unreachable → `unavailable` (and a guest name): a name is never handed out
//!    unchecked.
//! 2. The directory picks the name as on one node (the requested one, a session's old one, or a
//!    guest name) and keeps local uniqueness.
//! 3. [`settle`] (in the background, once the directory answered): a reserved name the directory did not give is released; the name it gave is
//!    claimed for this connection (taking it over from the replaced connection after a session
//!    takeover). Guest names carry the cluster-unique id, so only somebody who renamed
//!    themselves `guest-<that id>` on another node could hold one; that is logged.

use crate::actors::directory::{Claimed, Refusal};
use crate::cluster::Cluster;
use crate::protocol::names::{name_key, validate_display_name};
use crate::protocol::ErrorCode;

/// What [`reserve`] did.
pub struct Reserved {
    /// The name to ask the directory for.
    pub(super) requested: Option<String>,
    /// Why the requested name was refused in the cluster.
    refusal: Option<Refusal>,
    /// The name claimed in Redis for this connection.
    claimed: Option<String>,
    /// The valid name the client asked for, if any.
    wanted: Option<String>,
}

impl Reserved {
    /// Why the client did not get the name it asked for, if it did not: a session takeover may
    /// still have given it its own name back.
    pub(super) fn refusal(&self, claimed: &Claimed) -> Option<Refusal> {
        let got_it = self
            .wanted
            .as_ref()
            .is_some_and(|wanted| name_key(wanted) == name_key(&claimed.name));
        match &self.refusal {
            Some(refusal) if !got_it => Some(refusal.clone()),
            _ => claimed.refusal.clone(),
        }
    }
}

/// Claims the requested name in the cluster, if there is one (see the module docs).
pub async fn reserve(cluster: Option<&Cluster>, id: u64, requested: Option<String>) -> Reserved {
    let unchanged = |requested| Reserved {
        requested,
        refusal: None,
        claimed: None,
        wanted: None,
    };
    let (Some(cluster), Some(wanted)) = (cluster, &requested) else {
        return unchanged(requested);
    };
    // An invalid name is refused by the directory, with its reason.
    let Ok(name) = validate_display_name(wanted) else {
        return unchanged(requested);
    };
    match cluster.claim_name(id, &name, None).await {
        Ok(true) => Reserved {
            requested,
            refusal: None,
            claimed: Some(name.clone()),
            wanted: Some(name),
        },
        Ok(false) => Reserved {
            requested: None,
            refusal: Some((
                ErrorCode::NameTaken,
                format!("the name {name:?} is taken; pick another"),
            )),
            claimed: None,
            wanted: Some(name),
        },
        Err(error) => {
            tracing::warn!(connection = id, %error, "cluster: cannot check a name");
            Reserved {
                requested: None,
                refusal: Some((
                    ErrorCode::Unavailable,
                    "names cannot be checked right now (the cluster's Redis is unreachable); \
                     try again"
                        .to_owned(),
                )),
                claimed: None,
                wanted: Some(name),
            }
        }
    }
}

pub async fn settle(cluster: &Cluster, id: u64, reserved: &Reserved, claimed: &Claimed) {
    if let Some(name) = &reserved.claimed {
        if name_key(name) == name_key(&claimed.name) {
            return;
        }
        let _ = cluster.release_name(id, name).await;
    }
    match cluster
        .claim_name(id, &claimed.name, claimed.replaced)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(connection = id, name = %claimed.name, "cluster: a connection of another node holds this guest name too")
        }
        // The refresher writes it once Redis is back.
        Err(error) => tracing::debug!(connection = id, %error, "cluster: name not claimed yet"),
    }
}
