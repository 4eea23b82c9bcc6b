//! Running the server alone, without a window: `--headless`, or automatically when there is no
//! display. Stops gracefully on SIGINT/SIGTERM.

use std::process::ExitCode;

use crate::config::ServerConfig;
use crate::server;
use crate::shutdown_signal::wait_for_shutdown_signal;

/// Runs the server until a shutdown signal; returns the process exit code.
pub fn run(config: ServerConfig) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve_until_signal(config))
}

async fn serve_until_signal(config: ServerConfig) -> ExitCode {
    let server = match server::start(config).await {
        Ok(server) => server,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let address = server.local_addr();
    println!("tauri-ractor-websocket is listening on http://{address} (open it in a browser; Ctrl-C to stop)");
    let signal = wait_for_shutdown_signal().await;
    tracing::info!(signal, "shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}
