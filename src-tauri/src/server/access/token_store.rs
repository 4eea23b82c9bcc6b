//! The access token: 256 random bits, kept in `<data dir>/auth-token` (mode 0600), created on
//! first use, replaced by rotation.
//!
//! Each token comes with a [`Grant`]: a cancellation token that every connection admitted with
//! it watches. Rotation cancels the old grant, which closes those connections with 4003
//! (`unauthorized`), and starts a new one.
//!
//! Without a data directory (tests, embedding) the token lives in memory for this run only.
//! A token file that is not a token is an error at start, never overwritten: the user may have
//! put it there on purpose; `--rotate-token` replaces it deliberately.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use crate::protocol::token::random_hex;

/// The token's size: 256 bits.
pub const ACCESS_TOKEN_BYTES: usize = 32;

/// The file's name inside the data directory.
pub const TOKEN_FILE: &str = "auth-token";

/// One token and what closes the connections admitted with it.
#[derive(Debug, Clone)]
pub struct Grant {
    token: String,
    revoked: CancellationToken,
}

impl Grant {
    fn new(token: String) -> Self {
        Self {
            token,
            revoked: CancellationToken::new(),
        }
    }

    /// Cancelled when this token is rotated away.
    pub fn revoked(&self) -> CancellationToken {
        self.revoked.clone()
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct TokenStore {
    file: Option<PathBuf>,
    current: Mutex<Option<Grant>>,
}

impl TokenStore {
    pub fn new(data_dir: Option<&Path>) -> Self {
        Self {
            file: data_dir.map(|dir| dir.join(TOKEN_FILE)),
            current: Mutex::new(None),
        }
    }

    /// Where the token is kept, if anywhere.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The current grant: loaded from the file, or made (and saved) on first use.
    pub fn grant(&self) -> io::Result<Grant> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(grant) = current.as_ref() {
            return Ok(grant.clone());
        }
        let token = match &self.file {
            Some(file) => match read_token(file)? {
                Some(token) => token,
                None => {
                    let token = random_hex(ACCESS_TOKEN_BYTES);
                    write_token(file, &token)?;
                    tracing::info!(file = %file.display(), "created a new access token");
                    token
                }
            },
            None => random_hex(ACCESS_TOKEN_BYTES),
        };
        let grant = Grant::new(token);
        *current = Some(grant.clone());
        Ok(grant)
    }

    /// The current token, for the desktop window and the join URL.
    pub fn token(&self) -> io::Result<String> {
        self.grant().map(|grant| grant.token)
    }

    /// The grant of `presented`, if it is the current token. Constant time in the token's
    /// content (`subtle`), so the answer's timing says nothing about how much of it matched.
    pub fn admit(&self, presented: &str) -> Option<Grant> {
        let grant = self.grant().ok()?;
        let equal: bool = grant.token.as_bytes().ct_eq(presented.as_bytes()).into();
        equal.then_some(grant)
    }

    /// Replaces the token (saved before anything else changes), then revokes the old one: every
    /// connection admitted with it is closed with 4003. Returns the new token.
    pub fn rotate(&self) -> io::Result<String> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let token = random_hex(ACCESS_TOKEN_BYTES);
        if let Some(file) = &self.file {
            write_token(file, &token)?;
        }
        if let Some(old) = current.replace(Grant::new(token.clone())) {
            old.revoked.cancel();
        }
        tracing::info!(
            "the access token was rotated; connections that used the old one are closed"
        );
        Ok(token)
    }
}

/// `true` for the shape this module writes: 64 lowercase hex characters.
fn is_token(text: &str) -> bool {
    text.len() == ACCESS_TOKEN_BYTES * 2
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

fn read_token(file: &Path) -> io::Result<Option<String>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let token = text.trim();
    if !is_token(token) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} does not hold an access token (64 hex characters); \
                 move it away, or replace it with --rotate-token",
                file.display()
            ),
        ));
    }
    restrict_permissions(file)?;
    Ok(Some(token.to_owned()))
}

/// Writes the token to a temporary file (mode 0600 from the start), flushes it to disk, then
/// renames it over the old one: a crash leaves the old token or the new one, never half.
fn write_token(file: &Path, token: &str) -> io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!("{TOKEN_FILE}.new"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&temporary)?;
    restrict_permissions(&temporary)?;
    out.write_all(token.as_bytes())?;
    out.write_all(b"\n")?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&temporary, file)
}

/// Owner read/write only. A token file that others could read is tightened, and said so.
fn restrict_permissions(file: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            if mode & 0o077 != 0 {
                tracing::warn!(file = %file.display(), mode = format!("{mode:o}"), "the token file was readable by others; now 0600");
            }
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "trw-token-{name}-{}-{}",
            std::process::id(),
            random_hex(4)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn the_token_is_made_once_kept_private_and_read_back() {
        let dir = temp_dir("kept");
        let store = TokenStore::new(Some(&dir));
        let token = store.token().expect("token");
        assert!(is_token(&token), "{token}");
        let file = dir.join(TOKEN_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = TokenStore::new(Some(&dir)).token().expect("token");
        assert_eq!(again, token);
        assert!(store.admit(&token).is_some());
        assert!(store.admit(&token[1..]).is_none());
        assert!(store.admit("").is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn rotation_revokes_the_old_grant_and_saves_the_new_token() {
        let dir = temp_dir("rotate");
        let store = TokenStore::new(Some(&dir));
        let old = store.token().expect("token");
        let old_grant = store.admit(&old).expect("admitted");
        let new = store.rotate().expect("rotate");
        assert_ne!(old, new);
        assert!(old_grant.revoked().is_cancelled());
        assert!(store.admit(&old).is_none());
        assert!(store.admit(&new).is_some());
        let saved = std::fs::read_to_string(dir.join(TOKEN_FILE)).expect("file");
        assert_eq!(saved.trim(), new);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_that_is_not_a_token_is_an_error_and_left_alone() {
        let dir = temp_dir("foreign");
        let file = dir.join(TOKEN_FILE);
        std::fs::write(&file, "my notes\n").expect("write");
        let error = TokenStore::new(Some(&dir)).token().expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(std::fs::read_to_string(&file).expect("file"), "my notes\n");
        let _ = std::fs::remove_dir_all(dir);
    }
}
