//! Unit tests of the room with the real actor tree (supervisor, directory, rooms) and a test
//! double of the **store** ([`ControlledStore`]): appends that fail, or that are held until
//! released, to see what the room does meanwhile. Outboxes are real, their "sockets" channels.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{PendingPost, Post, PostReceipt, PostRefused, RoomMsg, LOBBY};
use crate::actors::directory::DirectoryMsg;
use crate::actors::outbox::{Outbox, OutboxLimits};
use crate::actors::supervisor::{ConnectionSupervisor, FatalSignal, SupervisorArgs, SupervisorMsg};
use crate::metrics::ConnectionStats;
use crate::protocol::Resume;
use crate::room_log::sqlite::{Retention, SqliteOptions};
use crate::room_log::test_double::{ControlledStore, Controls};
use crate::room_log::{HistoryLimits, LogStore, SqliteStore};

const PATIENCE: Duration = Duration::from_secs(10);
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

struct Tree {
    supervisor: ActorRef<SupervisorMsg>,
    directory: ActorRef<DirectoryMsg>,
    controls: Arc<Controls>,
}

async fn tree(history: usize) -> Tree {
    let store = ControlledStore::new(HistoryLimits {
        frames_per_room: history,
        bytes_per_room: 1 << 24,
        total_bytes: 1 << 26,
    });
    let controls = Arc::clone(&store.controls);
    tree_on(Arc::new(store), controls).await
}

/// A supervision tree on `store` (`controls` only act on a [`ControlledStore`]).
async fn tree_on(store: Arc<dyn LogStore>, controls: Arc<Controls>) -> Tree {
    let args = SupervisorArgs {
        store,
        presence_limit: 100,
        max_rooms: 10,
        max_room_restarts: 10,
        room_restart_window: Duration::from_secs(60),
        call_timeout: Duration::from_secs(5),
        metrics: Arc::default(),
        fatal: Arc::new(FatalSignal::default()),
        cluster: None,
        #[cfg(feature = "test-hooks")]
        start_connection_delay: (Duration::ZERO, 0),
    };
    let (supervisor, _) = Actor::spawn(None, ConnectionSupervisor, args)
        .await
        .expect("supervisor starts");
    let directory = match supervisor
        .call(SupervisorMsg::Directory, TIMEOUT)
        .await
        .expect("call")
    {
        CallResult::Success(directory) => directory,
        _ => panic!("no directory"),
    };
    Tree {
        supervisor,
        directory,
        controls,
    }
}

/// A member: a registered connection (without a connection actor: the test plays it).
struct Client {
    id: u64,
    outbox: Outbox,
    socket: UnboundedReceiver<Message>,
}

impl Client {
    async fn next(&mut self) -> Value {
        let frame = tokio::time::timeout(PATIENCE, self.socket.recv())
            .await
            .expect("a frame in time")
            .expect("the socket is open");
        match frame {
            Message::Text(text) => serde_json::from_str(text.as_str()).expect("JSON"),
            other => panic!("expected text, got {other:?}"),
        }
    }

    async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Numbered frames and errors only, skipping presence and notices.
    async fn next_interesting(&mut self) -> Value {
        loop {
            let frame = self.next().await;
            if !matches!(frame["type"].as_str(), Some("presence" | "notice")) {
                return frame;
            }
        }
    }

    /// Every frame already received, without waiting.
    fn drain(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Ok(Message::Text(text)) = self.socket.try_recv() {
            frames.push(serde_json::from_str(text.as_str()).expect("JSON"));
        }
        frames
    }
}

fn roomy() -> OutboxLimits {
    OutboxLimits {
        frames: 1024,
        bytes: 1 << 20,
    }
}

async fn connect(tree: &Tree, id: u64, limits: OutboxLimits) -> Client {
    let (outbox, socket) = Outbox::for_test(limits, true);
    let claimed = tree
        .directory
        .call(
            |reply| DirectoryMsg::Claim {
                id,
                requested_name: None,
                session: None,
                outbox: outbox.clone(),
                stats: Arc::new(ConnectionStats::new(0)),
                reply,
            },
            TIMEOUT,
        )
        .await
        .expect("claim");
    assert!(matches!(claimed, CallResult::Success(_)));
    Client { id, outbox, socket }
}

/// Joins and waits until the member is caught up.
async fn join(tree: &Tree, client: &mut Client, room: &str, resume: Option<Resume>) -> Value {
    let (done, caught_up) = tokio::sync::oneshot::channel();
    let id = client.id;
    let answer = tree
        .directory
        .call(
            |reply| DirectoryMsg::JoinRoom {
                id,
                room: room.to_owned(),
                resume,
                done: Some(done),
                reply,
            },
            TIMEOUT,
        )
        .await
        .expect("join");
    assert!(matches!(answer, CallResult::Success(Ok(_))));
    let joined = client.next_of_type("joined").await;
    let _ = tokio::time::timeout(PATIENCE, caught_up).await;
    joined
}

/// Posts `text` to the lobby as `/broadcast` does and waits for the answer (`None`: no answer
/// within [`TIMEOUT`]).
async fn http_post(
    lobby: &ActorRef<RoomMsg>,
    text: String,
) -> Option<Result<PostReceipt, PostRefused>> {
    let post = Post::Chat {
        sender: "http".into(),
        sender_id: 0,
        text,
    };
    match lobby
        .call(
            |reply| RoomMsg::Post(PendingPost::http(LOBBY.to_owned(), post, reply)),
            TIMEOUT,
        )
        .await
    {
        Ok(CallResult::Success(answer)) => Some(answer),
        _ => None,
    }
}

async fn room(tree: &Tree, name: &str) -> ActorRef<RoomMsg> {
    let answer = tree
        .directory
        .call(
            |reply| DirectoryMsg::WhereIs {
                room: name.to_owned(),
                create: false,
                reply,
            },
            TIMEOUT,
        )
        .await
        .expect("where is");
    match answer {
        CallResult::Success(Some(room)) => room,
        _ => panic!("no room {name}"),
    }
}

/// The room's actor once it is another one than `old` (after a restart).
async fn restarted(tree: &Tree, name: &str, old: &ActorRef<RoomMsg>) -> ActorRef<RoomMsg> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let current = room(tree, name).await;
        if current.get_id() != old.get_id() {
            return current;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "#{name} was not restarted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn chat(client: &Client, room: &str, text: &str) -> RoomMsg {
    let post = Post::Chat {
        sender: format!("c{}", client.id),
        sender_id: client.id,
        text: text.to_owned(),
    };
    RoomMsg::Post(PendingPost::chat(
        room.to_owned(),
        post,
        client.outbox.clone(),
        None,
    ))
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_failed_append_is_refused_delivered_to_nobody_and_leaves_no_gap() {
    let tree = tree(500).await;
    let mut alice = connect(&tree, 1, roomy()).await;
    let mut bob = connect(&tree, 2, roomy()).await;
    join(&tree, &mut alice, LOBBY, None).await;
    join(&tree, &mut bob, LOBBY, None).await;
    let lobby = room(&tree, LOBBY).await;

    tree.controls.fail_appends(true);
    lobby.cast(chat(&alice, LOBBY, "lost")).expect("cast");
    let refused = alice.next_interesting().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "unavailable");

    // HTTP posts get the refusal as an answer.
    let answer = http_post(&lobby, "also lost".into()).await;
    assert!(matches!(answer, Some(Err(_))), "{answer:?}");

    // The store recovers: the next post is stored, numbered 1 (no seq was used up).
    tree.controls.fail_appends(false);
    lobby.cast(chat(&alice, LOBBY, "kept")).expect("cast");
    for client in [&mut alice, &mut bob] {
        let message = client.next_interesting().await;
        assert_eq!(
            (message["text"].as_str(), message["seq"].as_u64()),
            (Some("kept"), Some(1)),
            "{message}"
        );
    }
    assert!(bob.drain().iter().all(|frame| frame["text"] != "lost"));
    tree.supervisor.stop(None);
}

#[tokio::test]
async fn posts_that_arrive_during_an_append_share_the_next_one() {
    let tree = tree(500).await;
    let mut alice = connect(&tree, 1, roomy()).await;
    join(&tree, &mut alice, LOBBY, None).await;
    let lobby = room(&tree, LOBBY).await;

    tree.controls.hold_appends();
    lobby.cast(chat(&alice, LOBBY, "m1")).expect("cast");
    eventually("the first append starts", || {
        tree.controls.appends_started() == 1
    })
    .await;
    for i in 2..=5 {
        lobby
            .cast(chat(&alice, LOBBY, &format!("m{i}")))
            .expect("cast");
    }
    // Nothing is fanned out before it is stored.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(alice.drain().iter().all(|frame| frame["type"] != "message"));

    tree.controls.release(1);
    for i in 1..=5u64 {
        let message = alice.next_interesting().await;
        assert_eq!(message["seq"], i, "{message}");
        assert_eq!(message["text"], format!("m{i}"));
    }
    assert_eq!(
        tree.controls.appends_started(),
        2,
        "the four posts that waited were stored in one batch"
    );
    tree.supervisor.stop(None);
}

#[tokio::test]
async fn a_frame_stored_when_the_room_dies_reaches_everyone_exactly_once() {
    let tree = tree(500).await;
    let mut alice = connect(&tree, 1, roomy()).await;
    let mut bob = connect(&tree, 2, roomy()).await;
    join(&tree, &mut alice, "dev", None).await;
    join(&tree, &mut bob, "dev", None).await;
    let dev = room(&tree, "dev").await;
    dev.cast(chat(&alice, "dev", "before")).expect("cast");
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.next_interesting().await["seq"], 1);
    }

    // The append of "in flight" is held; the room dies meanwhile; then the store finishes it.
    tree.controls.hold_appends();
    dev.cast(chat(&alice, "dev", "in flight")).expect("cast");
    eventually("the append starts", || tree.controls.appends_started() == 2).await;
    dev.cast(RoomMsg::Panic).expect("cast");
    let restarted = restarted(&tree, "dev", &dev).await;
    tree.controls.release(1);

    // Stored means delivered: once to each, and the sender gets its echo, not an error.
    for client in [&mut alice, &mut bob] {
        let message = client.next_interesting().await;
        assert_eq!(
            (message["text"].as_str(), message["seq"].as_u64()),
            (Some("in flight"), Some(2)),
            "{message}"
        );
    }
    restarted.cast(chat(&bob, "dev", "after")).expect("cast");
    for client in [&mut alice, &mut bob] {
        let message = client.next_interesting().await;
        assert_eq!(
            (message["text"].as_str(), message["seq"].as_u64()),
            (Some("after"), Some(3)),
            "numbering continues with no gap: {message}"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for client in [&mut alice, &mut bob] {
        assert!(
            client
                .drain()
                .iter()
                .all(|frame| frame["type"] != "message" && frame["type"] != "error"),
            "no duplicates, no refusal"
        );
    }
    tree.supervisor.stop(None);
}

#[tokio::test]
async fn a_joiner_during_an_append_gets_the_backlog_then_the_new_frame_once() {
    let tree = tree(500).await;
    let mut alice = connect(&tree, 1, roomy()).await;
    join(&tree, &mut alice, LOBBY, None).await;
    let lobby = room(&tree, LOBBY).await;
    for i in 1..=3 {
        lobby
            .cast(chat(&alice, LOBBY, &format!("old {i}")))
            .expect("cast");
    }
    for _ in 1..=3 {
        alice.next_interesting().await;
    }

    tree.controls.hold_appends();
    lobby.cast(chat(&alice, LOBBY, "new")).expect("cast");
    eventually("the append starts", || tree.controls.appends_started() == 4).await;
    let mut carol = connect(&tree, 3, roomy()).await;
    let (done, _caught_up) = tokio::sync::oneshot::channel();
    let _ = tree
        .directory
        .call(
            |reply| DirectoryMsg::JoinRoom {
                id: 3,
                room: LOBBY.to_owned(),
                resume: Some(Resume {
                    since: 1,
                    epoch: None,
                }),
                done: Some(done),
                reply,
            },
            TIMEOUT,
        )
        .await
        .expect("join");
    let joined = carol.next_of_type("joined").await;
    assert_eq!(
        (joined["last_seq"].as_u64(), joined["gap"].as_bool()),
        (Some(3), Some(false))
    );
    tree.controls.release(1);

    let mut seqs = Vec::new();
    while seqs.len() < 3 {
        let frame = carol.next_interesting().await;
        seqs.push(frame["seq"].as_u64().expect("numbered"));
    }
    assert_eq!(
        seqs,
        vec![2, 3, 4],
        "backlog, then the live frame, once each"
    );
    tree.supervisor.stop(None);
}

#[tokio::test]
async fn a_backlog_larger_than_the_outbox_is_paced_not_refused() {
    let tree = tree(500).await;
    let mut alice = connect(&tree, 1, roomy()).await;
    join(&tree, &mut alice, LOBBY, None).await;
    let lobby = room(&tree, LOBBY).await;
    let padding = "p".repeat(500);
    for i in 1..=200 {
        lobby
            .cast(chat(&alice, LOBBY, &format!("{i} {padding}")))
            .expect("cast");
    }
    for _ in 1..=200 {
        alice.next_interesting().await;
    }

    // 200 frames of ~600 bytes into a queue of 8 frames or 4 KiB.
    let tiny = OutboxLimits {
        frames: 8,
        bytes: 4096,
    };
    let mut slow = connect(&tree, 2, tiny).await;
    let joined = join(
        &tree,
        &mut slow,
        LOBBY,
        Some(Resume {
            since: 0,
            epoch: None,
        }),
    )
    .await;
    assert_eq!(joined["gap"], false);
    for i in 1..=200u64 {
        let frame = slow.next_interesting().await;
        assert_eq!(frame["seq"], i, "{frame}");
    }
    assert_eq!(
        slow.outbox.close_code(),
        None,
        "never closed for its own backlog"
    );
    tree.supervisor.stop(None);
}

#[tokio::test]
async fn left_comes_after_every_frame_the_room_queued_and_nothing_after_it() {
    let tree = tree(500).await;
    let mut alice = connect(&tree, 1, roomy()).await;
    let mut bob = connect(&tree, 2, roomy()).await;
    join(&tree, &mut alice, "dev", None).await;
    join(&tree, &mut bob, "dev", None).await;
    let dev = room(&tree, "dev").await;
    for i in 1..=20 {
        dev.cast(chat(&bob, "dev", &format!("m{i}"))).expect("cast");
    }
    let _ = tree.directory.cast(DirectoryMsg::LeaveRoom {
        id: 1,
        room: "dev".into(),
    });
    for i in 21..=40 {
        dev.cast(chat(&bob, "dev", &format!("m{i}"))).expect("cast");
    }
    let mut seqs = Vec::new();
    loop {
        let frame = alice.next_interesting().await;
        if frame["type"] == "left" {
            break;
        }
        seqs.push(frame["seq"].as_u64().expect("numbered"));
    }
    // Whenever the leave arrived, everything queued before it came first, in order.
    let count = seqs.len() as u64;
    assert_eq!(seqs, (1..=count).collect::<Vec<u64>>());
    for i in 1..=40u64 {
        assert_eq!(bob.next_interesting().await["seq"], i);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        alice.drain().iter().all(|frame| frame["room"] != "dev"),
        "nothing for #dev after left"
    );
    tree.supervisor.stop(None);
}

#[tokio::test]
async fn a_restarted_room_takes_its_members_back_without_a_word() {
    let tree = tree(500).await;
    let mut alice = connect(&tree, 1, roomy()).await;
    join(&tree, &mut alice, "dev", None).await;
    let dev = room(&tree, "dev").await;
    dev.cast(RoomMsg::Panic).expect("cast");
    let restarted = restarted(&tree, "dev", &dev).await;
    restarted
        .cast(chat(&alice, "dev", "hello again"))
        .expect("cast");
    let frame = alice.next_interesting().await;
    assert_eq!(
        (frame["type"].as_str(), frame["seq"].as_u64()),
        (Some("message"), Some(1)),
        "no second joined, no gap: {frame}"
    );
    tree.supervisor.stop(None);
}

/// The next `notice` about member `id`.
async fn notice_about(client: &mut Client, id: u64) -> Value {
    loop {
        let frame = client.next_of_type("notice").await;
        if frame["id"] == id {
            return frame;
        }
    }
}

/// The cluster's presence loop tells a room about its members on other nodes: each remote join,
/// rename and leave is announced, and lists and counts include them.
#[tokio::test]
async fn members_of_other_nodes_are_announced_listed_and_counted() {
    use crate::cluster::presence::RemoteMembers;
    let tree = tree(10).await;
    let mut here = connect(&tree, 1, roomy()).await;
    join(&tree, &mut here, "dev", None).await;
    let dev = room(&tree, "dev").await;
    let remote_id = (7 << 32) + 1;
    let remote = |name: &str| RemoteMembers {
        count: 1,
        members: [(remote_id, name.to_owned())].into_iter().collect(),
    };

    dev.cast(RoomMsg::RemotePresence(remote("far")))
        .expect("cast");
    let notice = notice_about(&mut here, remote_id).await;
    assert_eq!(
        (
            notice["event"].as_str(),
            notice["id"].as_u64(),
            notice["name"].as_str()
        ),
        (Some("joined"), Some(remote_id), Some("far"))
    );
    let presence = here.next_of_type("presence").await;
    assert_eq!(presence["member_count"], 2, "{presence}");
    assert_eq!(presence["members"][1]["id"], remote_id, "{presence}");

    // A local joiner's `joined` lists and counts the remote member.
    let mut late = connect(&tree, 2, roomy()).await;
    let joined = join(&tree, &mut late, "dev", None).await;
    assert_eq!(joined["member_count"], 3, "{joined}");
    assert_eq!(joined["members"][2]["name"], "far", "{joined}");

    dev.cast(RoomMsg::RemotePresence(remote("farther")))
        .expect("cast");
    let notice = notice_about(&mut late, remote_id).await;
    assert_eq!(
        (
            notice["event"].as_str(),
            notice["name"].as_str(),
            notice["old_name"].as_str()
        ),
        (Some("renamed"), Some("farther"), Some("far"))
    );
    dev.cast(RoomMsg::RemotePresence(RemoteMembers::default()))
        .expect("cast");
    let notice = notice_about(&mut late, remote_id).await;
    assert_eq!(
        (notice["event"].as_str(), notice["id"].as_u64()),
        (Some("left"), Some(remote_id))
    );
    let presence = late.next_of_type("presence").await;
    assert_eq!(presence["member_count"], 2, "{presence}");

    // Beyond the presence limit (100): no notices, a summary with the whole count.
    let crowd = RemoteMembers {
        count: 500,
        members: (0..100).map(|n| ((9 << 32) + n, format!("n{n}"))).collect(),
    };
    dev.cast(RoomMsg::RemotePresence(crowd)).expect("cast");
    let summary = loop {
        let frame = late.next().await;
        assert_ne!(
            frame["type"], "notice",
            "no per-member notices in a large room"
        );
        if frame["type"] == "presence" {
            break frame;
        }
    };
    assert_eq!(summary["member_count"], 502, "{summary}");
    assert_eq!(summary["members"].as_array().map(Vec::len), Some(100));
}

/// The real SQLite store, 16 HTTP posters at once on a multi-thread runtime (appends answered
/// from the writer thread while the next posts gather): every post is answered, its receipt
/// counts the member it reached, and the member gets every frame once, in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_log_under_concurrent_posts_answers_and_delivers_each_once_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open_in(
        dir.path(),
        SqliteOptions {
            full_fsync: false,
            retention: Retention {
                frames_per_room: 100_000,
                bytes_per_room: 1 << 30,
                max_age: None,
            },
            max_rooms: 100,
        },
    )
    .expect("store");
    let tree = tree_on(Arc::new(store), Arc::default()).await;
    let mut alice = connect(&tree, 1, roomy()).await;
    join(&tree, &mut alice, LOBBY, None).await;
    let lobby = room(&tree, LOBBY).await;
    let mut posters = Vec::new();
    for poster in 0..16 {
        let lobby = lobby.clone();
        posters.push(tokio::spawn(async move {
            let mut bad = Vec::new();
            for i in 0..100 {
                match http_post(&lobby, format!("p{poster}-{i}")).await {
                    Some(Ok(receipt)) if receipt.delivered_to == 1 => {}
                    other => bad.push(format!("{other:?}")),
                }
            }
            bad
        }));
    }
    for poster in posters {
        let bad = poster.await.expect("poster");
        assert!(bad.is_empty(), "{bad:?}");
    }
    for seq in 1..=1600u64 {
        let message = alice.next_interesting().await;
        assert_eq!(message["seq"], seq, "{message}");
    }
    tree.supervisor.stop(None);
}
