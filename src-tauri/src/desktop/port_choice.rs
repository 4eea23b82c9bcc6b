//! Which port the desktop app listens on.
//!
//! `--port`/`TRW_PORT` is a promise: that port or nothing. Without it the app prefers 8000 but,
//! unlike the headless server, does not give up when another program holds it: a desktop user
//! just wants the window to work. It takes the next free port and says so, in the log and in
//! the window.
//!
//! `TRW_PREFERRED_PORT` changes the port tried first (8000) without forcing it. The end-to-end
//! test of the "port taken" path uses it, since tests never touch the real port 8000.

use crate::cli::Cli;
use crate::server::{self, RunningServer, StartError};

/// Environment variable: the port tried first when `--port`/`TRW_PORT` is not given.
pub const PREFERRED_PORT_VAR: &str = "TRW_PREFERRED_PORT";

/// How many ports after the preferred one are tried before asking the OS for any free port.
const PORTS_TO_TRY: u16 = 10;

/// Starts the server; returns it with a sentence for the window when the port had to change.
pub async fn start_server(cli: &Cli) -> Result<(RunningServer, Option<String>), StartError> {
    let mut config = cli.server_config();
    if !cli.port_is_forced() {
        if let Some(port) = preferred_port_override() {
            config.port = port;
        }
    }
    let preferred = config.port;
    let first_error = match server::start(config.clone()).await {
        Ok(server) => return Ok((server, None)),
        Err(error) if error.is_addr_in_use() && !cli.port_is_forced() => error,
        Err(error) => return Err(error),
    };
    tracing::warn!("{first_error}");

    let candidates = (1..=PORTS_TO_TRY)
        .filter_map(|offset| preferred.checked_add(offset))
        .chain(std::iter::once(0));
    let mut last_error = first_error;
    for port in candidates {
        let mut config = config.clone();
        config.port = port;
        match server::start(config).await {
            Ok(server) => {
                let notice = format!(
                    "Port {preferred} is in use by another program, so this app is using port {} instead.",
                    server.local_addr().port()
                );
                tracing::warn!("{notice}");
                return Ok((server, Some(notice)));
            }
            Err(error) if error.is_addr_in_use() => last_error = error,
            Err(error) => return Err(error),
        }
    }
    Err(last_error)
}

fn preferred_port_override() -> Option<u16> {
    let value = std::env::var(PREFERRED_PORT_VAR).ok()?;
    match value.trim().parse() {
        Ok(port) => Some(port),
        Err(error) => {
            tracing::warn!(%error, %value, "ignoring {PREFERRED_PORT_VAR}: not a port number");
            None
        }
    }
}
