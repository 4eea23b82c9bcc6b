//! Identity that survives a blip: a client whose connection died silently comes back with its
//! session token and gets its name at once; the old connection is closed with 4001. Names never
//! collide, and only their owner can give them up.

mod support {
    pub mod ws_client;
}

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::ws_client::{start_server, wait_for_counts, Client, PATIENCE};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

fn session_of(welcome: &Value) -> String {
    let token = welcome["session"].as_str().expect("welcome has a session");
    assert!(token.len() >= 32, "at least 128 bits: {token}");
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "URL-safe: {token}"
    );
    token.to_owned()
}

#[tokio::test]
async fn a_session_token_reclaims_the_name_from_a_connection_that_died_silently() {
    let server = start_server().await;
    let addr = server.local_addr();
    let (mut old, welcome) = Client::connect_with(addr, "name=alice").await;
    assert_eq!(welcome["name"], "alice");
    let token = session_of(&welcome);
    old.next_of_type("joined").await;
    // The network path dies: the server still holds the socket (it would reap it only after the
    // idle timeout), so the name is taken…
    let (mut impostor, welcome) = Client::connect_with(addr, "name=alice").await;
    assert!(welcome["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("guest-")));
    assert_eq!(impostor.next_of_type("error").await["code"], "name_taken");
    // …and a made-up or malformed token changes nothing.
    let (_guess, welcome) =
        Client::connect_with(addr, "name=alice&session=0123456789abcdef0123456789abcdef").await;
    assert_ne!(welcome["name"], "alice");
    let (_junk, welcome) = Client::connect_with(addr, "name=alice&session=%00%3A").await;
    assert_ne!(welcome["name"], "alice");

    // The same client, back with its token: the name at once, a new token.
    let (mut back, welcome) =
        Client::connect_with(addr, &format!("session={token}&name=alice")).await;
    assert_eq!(welcome["name"], "alice");
    let new_token = session_of(&welcome);
    assert_ne!(new_token, token, "tokens are not reused");
    back.next_of_type("joined").await;

    // The old socket is told why it goes, and must not reconnect by itself.
    let code = loop {
        match tokio::time::timeout(PATIENCE, old.ws.next())
            .await
            .expect("the old connection is closed")
        {
            Some(Ok(Message::Close(Some(close)))) => break close.code,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, CloseCode::from(4001));

    // The old token is spent: it cannot take the name again.
    let (_late, welcome) = Client::connect_with(addr, &format!("session={token}&name=alice")).await;
    assert_ne!(welcome["name"], "alice");

    // The old connection leaving did not free the name it no longer owns.
    drop(old);
    wait_for_counts(addr, 5).await;
    impostor
        .send_json(json!({"type": "rename", "name": "alice"}))
        .await;
    assert_eq!(impostor.next_of_type("error").await["code"], "name_taken");
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|line| line == r#"trw_disconnects_total{reason="replaced"} 1"#),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn guest_names_never_collide_with_taken_names() {
    let server = start_server().await;
    let addr = server.local_addr();
    let mut first = Client::connect(addr).await;
    // Connection ids are handed out in order: take the next guest name before it arrives.
    let next = format!("guest-{}", first.id + 1);
    first
        .send_json(json!({"type": "rename", "name": next}))
        .await;
    assert_eq!(first.next_of_type("renamed").await["name"], next.as_str());

    let second = Client::connect(addr).await;
    assert_eq!(second.id, first.id + 1);
    assert_ne!(second.name, next, "the guest name was taken");
    assert!(second.name.starts_with(&next), "{}", second.name);
    server.shutdown().await;
}

#[tokio::test]
async fn after_a_takeover_the_name_belongs_to_the_new_connection() {
    let server = start_server().await;
    let addr = server.local_addr();
    let (mut old, welcome) = Client::connect_with(addr, "name=bob").await;
    let token = session_of(&welcome);
    old.next_of_type("joined").await;
    let (mut back, _) = Client::connect_with(addr, &format!("session={token}")).await;
    back.next_of_type("joined").await;
    // The new connection renames; the name "bob" is released by its owner (the new one).
    back.send_json(json!({"type": "rename", "name": "robert"}))
        .await;
    assert_eq!(back.next_of_type("renamed").await["old_name"], "bob");
    let (_other, welcome) = Client::connect_with(addr, "name=bob").await;
    assert_eq!(welcome["name"], "bob");
    server.shutdown().await;
}
