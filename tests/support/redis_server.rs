//! A real `redis-server` of the test's own: started on a free loopback port in a temporary
//! directory, with persistence off (`--save '' --appendonly no`), and killed when dropped.
//!
//! Used by the library's unit tests of the Redis room log and by the fan-out benchmark's Redis
//! rows (both include it with `#[path]`), and by the integration tests, so all of them start
//! Redis the same way. Fault tests call
//! [`RedisServer::kill`] (Redis gone, as after a crash) and [`RedisServer::restart`] (the same
//! port again, with no data: persistence is off, so a restart is also a data loss).
//!
//! `redis-server` comes from Debian's package (`scripts/install-prereqs --test`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// One port chooser for every test (see its docs); a path, because this file is also included
// on its own.
#[path = "free_port.rs"]
mod free_port_choice;
use free_port_choice::free_port;

/// How long a started server gets to answer `PING` (generous: the machine may be loaded).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a fresh server; panics (failing the test) if it cannot.
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("temporary directory for redis-server");
        let port = free_port();
        let mut server = RedisServer {
            port,
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The running server's process id (the benchmark counts its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, and starts a new one on the same port, with no data.
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.dir.path().join("dump.rdb"));
        self.spawn();
    }

    /// Writes the data to `dump.rdb` (`SAVE`), then kills the server: [`RedisServer::start_again`]
    /// brings it back with that data, as a Redis with persistence comes back from a crash.
    pub fn kill_keeping_data(&mut self) {
        assert_eq!(self.command(&["SAVE"]), "+OK", "redis SAVE");
        self.kill();
    }

    /// Starts the server again on the same port and directory (with the data of
    /// [`RedisServer::kill_keeping_data`], if it was stopped that way).
    pub fn start_again(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs one command given as words, the way `redis-cli` would, and returns the raw reply
    /// (RESP). For test set-up and faults (`FLUSHALL`), not for the code under test.
    pub fn command(&self, words: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut request = format!("*{}\r\n", words.len());
        for word in words {
            request.push_str(&format!("${}\r\n{}\r\n", word.len(), word));
        }
        stream.write_all(request.as_bytes()).expect("send to redis");
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .expect("redis reply");
        line.trim_end().to_owned()
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/install-prereqs --test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                if stream.write_all(b"PING\r\n").is_ok() {
                    let mut line = String::new();
                    if BufReader::new(stream).read_line(&mut line).is_ok()
                        && line.starts_with("+PONG")
                    {
                        return;
                    }
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING within {READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
