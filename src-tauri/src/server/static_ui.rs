//! Serves the page in `ui/` to browser tabs, through [rust-embed](rust_embed).
//!
//! - **Where the files come from**: release builds embed every file under `ui/` in the binary,
//!   so an installed app needs nothing next to it. Debug builds read `ui/` from the source tree
//!   on each request, so a UI edit shows on the next reload without a rebuild.
//! - **Paths**: `/` is `index.html`; nested folders are served as they are (`/views/rooms.js` is
//!   `ui/views/rooms.js`), with the MIME type guessed from the extension by `mime_guess`
//!   (`.js` is `text/javascript`, which ES modules need). Text types say `charset=utf-8`.
//! - **Caching**: the files change only with the app's version, but their URLs carry no version
//!   (`index.html` loads `main.js`, and modules import each other by plain path). A `max-age`
//!   would let a browser mix old and new modules after an upgrade, so every answer says
//!   `Cache-Control: no-cache` (keep it, but ask first) with a strong `ETag`, the file's SHA-256.
//!   The browser asks again with `If-None-Match`, and gets an empty `304` while the file is the
//!   same: one round trip on loopback, no body.
//! - **Traversal**: the path is percent-decoded and refused (404) if a segment is empty, `.` or
//!   `..`, or holds a backslash or NUL, before rust-embed sees it. A release build could only
//!   find embedded files anyway; this keeps the debug build, which reads the disk, as strict.

use std::borrow::Cow;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use headers::{CacheControl, ETag, HeaderMapExt, IfNoneMatch};
use percent_encoding::percent_decode_str;
use rust_embed::{EmbeddedFile, RustEmbed};

/// Every file under `ui/` (the path is relative to the root `Cargo.toml`).
#[derive(RustEmbed)]
#[folder = "ui/"]
struct UiAssets;

/// The fallback route: any path that is not an API is a file of the page, or 404.
pub async fn serve_ui(uri: Uri, request_headers: HeaderMap) -> Response {
    serve_from::<UiAssets>(uri.path(), &request_headers)
}

/// Answers a GET of `path` from the files of `Assets`.
fn serve_from<Assets: RustEmbed>(path: &str, request_headers: &HeaderMap) -> Response {
    let Some(file) = file_name(path).and_then(|name| Assets::get(&name)) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = entity_tag(&file);
    let unchanged = match (&etag, request_headers.typed_get::<IfNoneMatch>()) {
        (Some(etag), Some(if_none_match)) => !if_none_match.precondition_passes(etag),
        _ => false,
    };
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let content_type = content_type(file.metadata.mimetype());
        ([(header::CONTENT_TYPE, content_type)], file.data).into_response()
    };
    let headers = response.headers_mut();
    if let Some(etag) = etag {
        headers.typed_insert(etag);
    }
    headers.typed_insert(CacheControl::new().with_no_cache());
    response
}

/// The file under `ui/` that a request path names, or `None` if the path is not a plain
/// relative file name (see the module docs).
fn file_name(path: &str) -> Option<String> {
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    let relative = decoded.strip_prefix('/')?;
    if relative.is_empty() {
        return Some("index.html".to_owned());
    }
    let plain = relative
        .split('/')
        .all(|segment| !matches!(segment, "" | "." | "..") && !segment.contains(['\\', '\0']));
    plain.then(|| relative.to_owned())
}

/// A strong entity tag from the file's SHA-256 (rust-embed computes it at build time in release
/// builds, at read time in debug builds).
fn entity_tag(file: &EmbeddedFile) -> Option<ETag> {
    let hex: String = file
        .metadata
        .sha256_hash()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("\"{hex}\"").parse().ok()
}

/// The MIME type as a header value, with `charset=utf-8` for text (every file in `ui/` is UTF-8).
fn content_type(mime: &str) -> HeaderValue {
    let value: Cow<str> = if mime.starts_with("text/") {
        Cow::Owned(format!("{mime}; charset=utf-8"))
    } else {
        Cow::Borrowed(mime)
    };
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    //! The handler against a fixture tree with nested folders (`ui/` itself is checked over real
    //! sockets in `tests/static_ui.rs`).

    use super::*;
    use axum::body::to_bytes;

    #[derive(RustEmbed)]
    #[folder = "tests/fixtures/nested-ui/"]
    struct NestedFixture;

    async fn get(path: &str, if_none_match: Option<&HeaderValue>) -> Response {
        let mut request_headers = HeaderMap::new();
        if let Some(tag) = if_none_match {
            request_headers.insert(header::IF_NONE_MATCH, tag.clone());
        }
        serve_from::<NestedFixture>(path, &request_headers)
    }

    async fn body(response: Response) -> Vec<u8> {
        to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body in memory")
            .to_vec()
    }

    /// GETs `path`, checks it is a 200 of `content_type`, and returns the body.
    async fn served(path: &str, content_type: &str) -> Vec<u8> {
        let response = get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], content_type);
        body(response).await
    }

    #[tokio::test]
    async fn a_module_in_a_nested_folder_is_javascript() {
        let served = served(
            "/views/rooms/room-list.js",
            "text/javascript; charset=utf-8",
        )
        .await;
        let expected = include_bytes!("../../../tests/fixtures/nested-ui/views/rooms/room-list.js");
        assert_eq!(served, expected);
    }

    /// The page is native ES modules in nested folders: each must be in `ui/`, and served as
    /// JavaScript (a browser refuses a module script of any other type).
    #[tokio::test]
    async fn the_page_s_nested_module_scripts_are_served_as_javascript() {
        for (path, content_type) in [
            ("/index.html", "text/html; charset=utf-8"),
            ("/main.js", "text/javascript; charset=utf-8"),
            ("/store.js", "text/javascript; charset=utf-8"),
            ("/store/rooms.js", "text/javascript; charset=utf-8"),
            ("/views/messages.js", "text/javascript; charset=utf-8"),
            ("/styles/base.css", "text/css; charset=utf-8"),
        ] {
            let response = serve_from::<UiAssets>(path, &HeaderMap::new());
            assert_eq!(response.status(), StatusCode::OK, "{path} is not served");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                content_type,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn the_root_is_the_index_page() {
        let served = served("/", "text/html; charset=utf-8").await;
        assert!(String::from_utf8_lossy(&served).contains("room-list.js"));
    }

    #[tokio::test]
    async fn a_percent_encoded_name_is_decoded() {
        let response = get("/views/rooms/room%2Dlist.js", None).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_matching_etag_gets_an_empty_304_with_the_same_tag() {
        let first = get("/views/rooms/room-list.js", None).await;
        let tag = first.headers()[header::ETAG].clone();
        assert!(tag.to_str().is_ok_and(|t| t.starts_with('"')), "{tag:?}");

        let again = get("/views/rooms/room-list.js", Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], tag);
        assert_eq!(again.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(body(again).await.is_empty());

        // Another file's tag does not match: the file comes in full.
        let other = get("/index.html", Some(&tag)).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn paths_that_leave_the_folder_or_are_not_plain_are_404() {
        for path in [
            "/../Cargo.toml",
            "/views/../index.html",
            "/views/rooms/../../../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/views/%2e%2e/%2e%2e/Cargo.toml",
            "/views/..%2f..%2fCargo.toml",
            "/views/..%5c..%5cCargo.toml",
            "/./index.html",
            "//index.html",
            "/views/",
            "/views",
            "/index.html%00",
            "/%ff",
            "relative.html",
        ] {
            let response = get(path, None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
