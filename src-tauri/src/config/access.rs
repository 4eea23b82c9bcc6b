//! Who may connect, and over what: access tokens and TLS (see `SECURITY.md`).
//!
//! Kept apart from the rest of [`super::ServerConfig`] because it is one concern with its own
//! defaults: **loopback stays open** (the original demo's contract: `--auth none` on
//! `127.0.0.1`, `::1`, `localhost`), **anything else wants the token**.

use std::net::IpAddr;
use std::path::PathBuf;

/// `--auth none|token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone who can reach the port may connect (the Host and Origin checks still apply).
    None,
    /// Every request but `/health` and the page's files needs the access token.
    Token,
}

impl std::str::FromStr for AuthMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(AuthMode::None),
            "token" => Ok(AuthMode::Token),
            other => Err(format!("--auth takes `none` or `token`, not `{other}`")),
        }
    }
}

/// `--tls-cert/--tls-key`, `--tls self-signed`, or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP and ws.
    #[default]
    Off,
    /// A certificate chain and its private key, both PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// A certificate made here (kept in the data directory, or in memory without one).
    SelfSigned,
}

impl TlsMode {
    pub fn is_on(&self) -> bool {
        !matches!(self, TlsMode::Off)
    }
}

/// The access part of the server's configuration.
#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    /// `None`: chosen from the bound address ([`AccessConfig::auth_mode`]).
    pub auth: Option<AuthMode>,
    /// Replace the stored token at start (`--rotate-token`).
    pub rotate_token: bool,
    pub tls: TlsMode,
    /// Addresses offered for "Share on this network" besides the machine's own interfaces
    /// (`--share-address`; the tests offer 127.0.0.2).
    pub share_addresses: Vec<IpAddr>,
}

impl AccessConfig {
    /// The mode in force on a listener bound to `host`: the configured one, else `none` only on
    /// loopback's well-known addresses (127.0.0.1, ::1) and `token` everywhere else, including
    /// the rest of 127.0.0.0/8.
    pub fn auth_mode(&self, host: IpAddr) -> AuthMode {
        self.auth.unwrap_or_else(|| default_auth_mode(host))
    }
}

/// See [`AccessConfig::auth_mode`].
pub fn default_auth_mode(host: IpAddr) -> AuthMode {
    let well_known_loopback =
        host == IpAddr::from([127, 0, 0, 1]) || host == IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
    if well_known_loopback {
        AuthMode::None
    } else {
        AuthMode::Token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_well_known_loopback_addresses_default_to_no_auth() {
        let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
        assert_eq!(default_auth_mode(ip("127.0.0.1")), AuthMode::None);
        assert_eq!(default_auth_mode(ip("::1")), AuthMode::None);
        for other in ["127.0.0.2", "0.0.0.0", "::", "192.168.1.20", "10.0.0.1"] {
            assert_eq!(default_auth_mode(ip(other)), AuthMode::Token, "{other}");
        }
        let forced = AccessConfig {
            auth: Some(AuthMode::Token),
            ..AccessConfig::default()
        };
        assert_eq!(forced.auth_mode(ip("127.0.0.1")), AuthMode::Token);
    }

    #[test]
    fn auth_modes_parse() {
        assert_eq!("token".parse::<AuthMode>(), Ok(AuthMode::Token));
        assert_eq!(" None ".parse::<AuthMode>(), Ok(AuthMode::None));
        assert!("bearer".parse::<AuthMode>().is_err());
    }
}
