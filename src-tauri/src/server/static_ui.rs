//! Serves the UI in `ui/` to browser tabs. The files are embedded at build time (see build.rs),
//! so an installed binary needs nothing next to it.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// `(url path, contents)` for every file under `ui/`.
static UI_ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Looks up an embedded file; `/` means `/index.html`.
pub fn find_asset(path: &str) -> Option<&'static [u8]> {
    let path = if path == "/" { "/index.html" } else { path };
    UI_ASSETS
        .iter()
        .find(|(asset_path, _)| *asset_path == path)
        .map(|(_, bytes)| *bytes)
}

pub async fn serve_ui(uri: Uri) -> Response {
    let path = uri.path();
    match find_asset(path) {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit('.').next().unwrap_or_default();
    match extension {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ if path == "/" => "text/html; charset=utf-8",
        _ => "text/html; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::{content_type, find_asset};

    /// The page is native ES modules in nested folders: each must be embedded, and served as
    /// JavaScript (a browser refuses a module script of any other type).
    #[test]
    fn nested_module_scripts_are_embedded_and_served_as_javascript() {
        for path in [
            "/index.html",
            "/main.js",
            "/store.js",
            "/store/rooms.js",
            "/views/messages.js",
            "/styles/base.css",
        ] {
            assert!(find_asset(path).is_some(), "{path} is not embedded");
        }
        assert_eq!(
            content_type("/views/messages.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("/styles/base.css"), "text/css; charset=utf-8");
    }
}
