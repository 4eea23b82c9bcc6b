//! The page's files over real sockets: every file under `ui/` (nested folders too) is served
//! with its bytes, its MIME type and the caching headers of `server/static_ui.rs`, and a
//! browser's revalidation gets `304 Not Modified`.

mod support {
    pub mod ws_client;
}

use std::path::{Path, PathBuf};

use support::ws_client::start_server;

/// `ui/` in the source tree: what debug builds read and release builds embed.
fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &Path, prefix: &str, found: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{prefix}{name}");
        if entry.path().is_dir() {
            files_under(&entry.path(), &format!("{relative}/"), found);
        } else {
            found.push(relative);
        }
    }
}

/// The Content-Type each kind of file in `ui/` must have.
fn expected_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        // Browsers refuse to run an ES module served as anything but a JavaScript type.
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        other => panic!("{name}: add the type of .{other:?} files to this test"),
    }
}

#[tokio::test]
async fn every_file_of_the_page_is_served_with_its_type_and_a_validator() {
    let server = start_server().await;
    let addr = server.local_addr();
    let http = reqwest::Client::new();
    let mut names = Vec::new();
    files_under(&ui_dir(), "", &mut names);
    assert!(names.iter().any(|n| n == "index.html"), "{names:?}");

    for name in &names {
        let url = format!("http://{addr}/{name}");
        let response = http.get(&url).send().await.expect(&url);
        assert_eq!(response.status(), 200, "{url}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], expected_type(name), "{url}");
        assert_eq!(headers["cache-control"], "no-cache", "{url}");
        let etag = headers["etag"].clone();
        let on_disk = std::fs::read(ui_dir().join(name)).expect("read the file");
        assert_eq!(response.bytes().await.expect("body"), on_disk, "{url}");

        // The browser revalidates with the tag it kept: nothing changed, so no body.
        let again = http
            .get(&url)
            .header("if-none-match", etag.clone())
            .send()
            .await
            .expect(&url);
        assert_eq!(again.status(), 304, "{url}");
        assert_eq!(again.headers()["etag"], etag, "{url}");
        assert!(again.bytes().await.expect("body").is_empty(), "{url}");

        // A tag from another version of the file does not match: the file comes in full.
        let stale = http
            .get(&url)
            .header("if-none-match", "\"an-older-version\"")
            .send()
            .await
            .expect(&url);
        assert_eq!(stale.status(), 200, "{url}");
    }
    server.shutdown().await;
}
