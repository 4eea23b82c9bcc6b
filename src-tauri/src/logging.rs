//! Logging with `tracing`, filtered by `RUST_LOG` (default: `info` for this crate, `warn` for
//! the rest). One line per connection opened or closed, with the actor's id.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,tauri_ractor_websocket=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
