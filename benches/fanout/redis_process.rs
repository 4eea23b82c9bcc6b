//! A `redis-server` of the benchmark's own: on a free loopback port, without persistence
//! (`--save '' --appendonly no`), in a directory under the run's logs, stopped when dropped. The
//! cluster row (`cluster.rs`) and the saturation sweep's Redis row (`saturation.rs`) each start
//! one, so no run depends on a Redis the machine happens to have.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::driver::free_port;
use crate::proc_stats;

/// A `redis-server` of the bench's own, on a free port, stopped when dropped.
pub(crate) struct RedisProcess {
    port: u16,
    child: Option<std::process::Child>,
    _dir: PathBuf,
}

impl RedisProcess {
    pub(crate) fn start(log_dir: &Path) -> Result<RedisProcess, String> {
        let port = free_port()?;
        let dir = log_dir.join(format!("redis-{port}"));
        std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| {
                format!("starting redis-server (scripts/install-prereqs --test): {error}")
            })?;
        let redis = RedisProcess {
            port,
            child: Some(child),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while redis
            .command(&["PING"])
            .map_or(true, |reply| reply != "+PONG")
        {
            if Instant::now() > deadline {
                return Err("redis-server did not answer PING within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(redis)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn cpu_seconds(&self) -> f64 {
        self.child
            .as_ref()
            .and_then(|child| proc_stats::cpu_seconds(child.id()).ok())
            .unwrap_or(0.0)
    }

    /// One command; the first line of the reply.
    pub(crate) fn command(&self, words: &[&str]) -> Result<String, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|error| format!("connecting to redis: {error}"))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut request = format!("*{}\r\n", words.len());
        for word in words {
            request.push_str(&format!("${}\r\n{}\r\n", word.len(), word));
        }
        stream
            .write_all(request.as_bytes())
            .map_err(|error| format!("writing to redis: {error}"))?;
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .map_err(|error| format!("reading from redis: {error}"))?;
        Ok(line.trim_end().to_owned())
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
