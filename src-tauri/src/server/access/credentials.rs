//! Where a request may carry the access token, in the order they are looked at:
//!
//! 1. `Authorization: Bearer <token>`: tools (curl, scripts), on HTTP and on the WebSocket
//!    upgrade;
//! 2. the cookie set by `GET /?token=<token>` ([`cookie_name`]): browser tabs;
//! 3. a `Sec-WebSocket-Protocol` entry `trw.token.<token>`, next to [`SUBPROTOCOL`]: WebSocket
//!    clients that can set neither header nor cookie (the desktop window, whose page is not
//!    served by this server). The server answers with [`SUBPROTOCOL`], never with the entry that
//!    holds the token, and a token there stays out of URLs and so out of access logs (the same
//!    choice as Phoenix, phoenix#5778).

use axum::http::{header, HeaderMap};

/// The subprotocol the server selects when the client offers it (browsers fail a handshake
/// whose offered subprotocols get no answer).
pub const SUBPROTOCOL: &str = "trw.v1";

/// The prefix of the subprotocol entry that carries the token.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "trw.token.";

/// The cookie's name, one per port: browsers share cookies between the ports of one host, so
/// two servers on one machine would otherwise overwrite each other's.
pub fn cookie_name(port: u16) -> String {
    format!("trw_token_{port}")
}

/// Every token the request presents (usually one; empty when it presents none).
pub fn presented(headers: &HeaderMap, port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for value in headers.get_all(header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else { continue };
        if let Some((scheme, token)) = value.trim().split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
                found.push(token.trim().to_owned());
            }
        }
    }
    let name = cookie_name(port);
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((key, token)) = pair.trim().split_once('=') {
                if key.trim() == name && !token.trim().is_empty() {
                    found.push(token.trim().to_owned());
                }
            }
        }
    }
    for value in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            if let Some(token) = entry.trim().strip_prefix(TOKEN_SUBPROTOCOL_PREFIX) {
                if !token.is_empty() {
                    found.push(token.to_owned());
                }
            }
        }
    }
    // A request cannot make the server compare more than a few candidates.
    found.truncate(4);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn each_place_is_read() {
        let mut headers = HeaderMap::new();
        assert!(presented(&headers, 8000).is_empty());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; trw_token_8001=nope; trw_token_8000=def"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("trw.v1, trw.token.ghi"),
        );
        assert_eq!(presented(&headers, 8000), ["abc", "def", "ghi"]);
    }

    #[test]
    fn other_schemes_and_empty_values_are_not_tokens() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("trw_token_8000="));
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("trw.v1, trw.token."),
        );
        assert!(presented(&headers, 8000).is_empty());
    }
}
