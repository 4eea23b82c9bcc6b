//! A panic inside one connection's actor takes down that connection only (close code 1011);
//! the supervisor, the room, the other clients and `/health` carry on.
//!
//! The panic is injected through a hook that exists only with the `test-hooks` feature:
//! `cargo test --features test-hooks --test supervision`.

mod support {
    pub mod ws_client;
}

use support::ws_client::{health, start_server, wait_for_counts, Client};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn a_panicking_connection_actor_closes_only_its_own_connection() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut victim = Client::connect(addr).await;
    let mut others = vec![Client::connect(addr).await, Client::connect(addr).await];
    wait_for_counts(addr, 3).await;

    assert!(
        server.inject_panic(victim.id).await,
        "the victim's actor exists"
    );
    assert_eq!(victim.expect_close().await, CloseCode::Error);
    wait_for_counts(addr, 2).await;

    // The survivors still chat, and the room's numbering carries on.
    others[0].send_chat("still standing").await;
    for client in &mut others {
        let frame = client.next_message().await;
        assert_eq!(frame["text"], "still standing");
    }
    // The supervisor still accepts new connections.
    let newcomer = Client::connect(addr).await;
    wait_for_counts(addr, 3).await;
    assert_eq!(health(addr).await["active_actors"], 3);

    newcomer.close().await;
    server.shutdown().await;
}
