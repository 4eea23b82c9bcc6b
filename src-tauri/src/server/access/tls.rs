//! TLS for a listener: a rustls server config from PEM files (`--tls-cert`, `--tls-key`) or from
//! a self-signed certificate (`--tls self-signed`, and sharing).
//!
//! **Self-signed certificates** are made with rcgen (ECDSA P-256), for `localhost`, the loopback
//! addresses and the address listened on, and kept in `<data dir>/tls/` (the key mode 0600), one
//! pair per address, so that a browser or a phone that accepted the certificate once sees the
//! same one next time. Its SHA-256 fingerprint is logged: that is what a user compares with
//! what the browser shows before trusting it.
//!
//! The crypto provider is `ring`, passed explicitly (no process-wide default to install); see
//! [`crypto_provider`].

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// A ready TLS setup: the rustls config and the certificate's fingerprint.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate, as `AB:CD:…` (what browsers show).
    pub fingerprint: String,
}

/// From a PEM certificate chain and a PEM private key.
pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsSetup, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("cannot read the certificate {}: {error}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| format!("cannot read the private key {}: {error}", key.display()))?;
    build(certs, key)
}

/// A self-signed certificate for `ip` (and loopback), kept in `data_dir/tls/` when there is
/// one: read back if present, made and saved otherwise.
pub fn self_signed(data_dir: Option<&Path>, ip: IpAddr) -> Result<TlsSetup, String> {
    let files = data_dir.map(|dir| SelfSignedFiles::for_ip(dir, ip));
    if let Some(files) = &files {
        if files.cert.exists() && files.key.exists() {
            return from_pem_files(&files.cert, &files.key);
        }
    }
    let (cert_pem, key_pem) = make_self_signed(ip)?;
    if let Some(files) = &files {
        files.save(&cert_pem, &key_pem).map_err(|error| {
            format!(
                "cannot save the certificate in {}: {error}",
                files.dir.display()
            )
        })?;
        tracing::info!(cert = %files.cert.display(), "made a self-signed certificate");
    }
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("the new certificate does not parse: {error}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|error| format!("the new key does not parse: {error}"))?;
    build(certs, key)
}

/// `(certificate PEM, private key PEM)`, valid for `localhost`, 127.0.0.1, ::1 and `ip`.
pub fn make_self_signed(ip: IpAddr) -> Result<(String, String), String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !names.contains(&ip.to_string()) && !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|error| format!("cannot make a self-signed certificate: {error}"))?;
    Ok((made.cert.pem(), made.signing_key.serialize_pem()))
}

fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsSetup, String> {
    let leaf = certs
        .first()
        .ok_or_else(|| "the certificate file holds no certificate".to_owned())?;
    let fingerprint = fingerprint(leaf.as_ref());
    let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS setup: {error}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| format!("the certificate and key do not go together: {error}"))?;
    // HTTP/1.1 only: hyper serves HTTP/1.1 here, and WebSockets upgrade from it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSetup {
        config: Arc::new(config),
        fingerprint,
    })
}

/// The TLS crypto provider: `ring`, with its default cipher suites and key exchanges.
///
/// rustls 0.23.48 marks `ring::default_provider` deprecated because ring has no post-quantum key
/// exchange (only aws-lc-rs does). We keep ring on purpose: aws-lc-rs needs a much longer C build
/// and more tools on every machine, and the classical X25519/P-256 exchanges protect a LAN chat
/// well today. Switching is this one function (and the crate features in Cargo.toml).
#[allow(deprecated)]
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `AB:CD:…`: SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

struct SelfSignedFiles {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl SelfSignedFiles {
    fn for_ip(data_dir: &Path, ip: IpAddr) -> Self {
        let dir = data_dir.join("tls");
        let stem = format!("self-signed-{}", ip.to_string().replace(':', "_"));
        Self {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
            dir,
        }
    }

    fn save(&self, cert: &str, key: &str) -> io::Result<()> {
        use std::io::Write as _;
        std::fs::create_dir_all(&self.dir)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&self.key)?.write_all(key.as_bytes())?;
        std::fs::write(&self.cert, cert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_kept_and_read_back() {
        let dir = std::env::temp_dir().join(format!(
            "trw-tls-{}-{}",
            std::process::id(),
            crate::protocol::token::random_hex(4)
        ));
        let ip: IpAddr = "127.0.0.2".parse().expect("ip");
        let first = self_signed(Some(&dir), ip).expect("made");
        let again = self_signed(Some(&dir), ip).expect("read back");
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        let other = self_signed(Some(&dir), "127.0.0.3".parse().expect("ip")).expect("made");
        assert_ne!(first.fingerprint, other.fingerprint);
        let _ = std::fs::remove_dir_all(dir);
    }
}
