//! Running the server alone, without a window: `--headless`, or automatically when there is no
//! display. Stops gracefully on SIGINT/SIGTERM (exit status 0), or when the server fails beyond
//! healing (exit status 1, with the reason on stderr).

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
    let url = server.base_url();
    match server.access_token() {
        Some(_) => println!(
            "tauri-ractor-websocket is listening on {url} with token auth: open {url}/?token=<the \
             token in the data directory's auth-token file> in a browser (Ctrl-C to stop)"
        ),
        None => println!(
            "tauri-ractor-websocket is listening on {url} (open it in a browser; Ctrl-C to stop)"
        ),
    }
    let failure = server.failure();
    let outcome = tokio::select! {
        signal = wait_for_shutdown_signal() => Ok(signal),
        reason = failure => Err(reason),
    };
    match &outcome {
        Ok(signal) => tracing::info!(signal, "shutting down"),
        Err(reason) => tracing::error!(%reason, "shutting down after a failure"),
    }
    server.shutdown().await;
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
    }
}
