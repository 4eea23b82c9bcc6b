//! Command-line flags. Every flag can also be set from an environment variable (shown in
//! `--help`), which is how tests and the WebDriver harness configure the app.

use std::net::IpAddr;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};

use crate::config::ServerConfig;

/// The port used when neither `--port` nor `TRW_PORT` is given.
pub const DEFAULT_PORT: u16 = 8000;

/// A desktop chat room and notification hub: a built-in WebSocket server with one actor per
/// connection. The window and any browser tab on http://127.0.0.1:PORT share one live room.
#[derive(Debug, Clone, Parser)]
#[command(name = "tauri-ractor-websocket", version, about, long_about = None)]
pub struct Cli {
    /// Run only the server, without a window. Also chosen automatically when there is no display.
    /// In the variable, 1/true/yes/on mean yes.
    #[arg(long, env = "TRW_HEADLESS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub headless: bool,

    /// Address to listen on. Keep it on loopback unless you have read SECURITY.md.
    #[arg(long, env = "TRW_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on [default: 8000]. When given, the app fails rather than use another.
    #[arg(long, env = "TRW_PORT")]
    pub port: Option<u16>,

    /// Extra origin allowed to open WebSockets and POST broadcasts (repeatable, or
    /// comma-separated in the variable), e.g. http://192.168.1.20:8000.
    #[arg(
        long = "allow-origin",
        env = "TRW_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,
}

impl Cli {
    /// The server configuration these flags describe.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            host: self.host,
            port: self.port.unwrap_or(DEFAULT_PORT),
            extra_allowed_origins: self.allow_origins.clone(),
            ..ServerConfig::default()
        }
    }

    /// Whether the user insisted on a port (then we never silently pick another one).
    pub fn port_is_forced(&self) -> bool {
        self.port.is_some()
    }
}
