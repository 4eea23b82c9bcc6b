//! Names and sessions: who is called what, and which token may take a connection over.
//!
//! Names are unique ignoring case. The rules that kept them unique only most of the time are gone:
//!
//! - a guest name is never handed out while somebody holds it (someone may have renamed
//!   themselves `guest-8` before connection 8 arrived): the next free `guest-8-2`, `guest-8-3`…;
//! - a name is only released by its owner: a rename or a departure removes the old key only if
//!   it still points at that connection (after a session takeover, it points at the new one).

use std::collections::HashMap;

use crate::protocol::names::{name_key, validate_display_name};
use crate::protocol::ErrorCode;

/// Name key (lowercase) → connection id, and session token → connection id.
#[derive(Debug, Default)]
pub struct Names {
    owners: HashMap<String, u64>,
    sessions: HashMap<String, u64>,
}

impl Names {
    /// `requested` if it is valid and not held by another connection.
    pub fn claimable(&self, requested: &str, id: u64) -> Result<String, (ErrorCode, String)> {
        let name =
            validate_display_name(requested).map_err(|reason| (ErrorCode::InvalidName, reason))?;
        match self.owners.get(&name_key(&name)) {
            Some(owner) if *owner != id => Err((
                ErrorCode::NameTaken,
                format!("the name {name:?} is taken; pick another"),
            )),
            _ => Ok(name),
        }
    }

    /// `guest-<id>`, or the first free `guest-<id>-<n>`.
    pub fn guest_name(&self, id: u64) -> String {
        let base = format!("guest-{id}");
        if self.is_free(&base, id) {
            return base;
        }
        (2u64..)
            .map(|n| format!("{base}-{n}"))
            .find(|name| self.is_free(name, id))
            .unwrap_or(base)
    }

    fn is_free(&self, name: &str, id: u64) -> bool {
        self.owners
            .get(&name_key(name))
            .is_none_or(|owner| *owner == id)
    }

    /// Records that `id` holds `name` (already checked with [`Names::claimable`]).
    pub fn take(&mut self, name: &str, id: u64) {
        self.owners.insert(name_key(name), id);
    }

    /// Releases `name` if `id` holds it.
    pub fn release(&mut self, name: &str, id: u64) {
        let key = name_key(name);
        if self.owners.get(&key) == Some(&id) {
            self.owners.remove(&key);
        }
    }

    /// Moves `id` from `old` to `new` (checked with [`Names::claimable`]).
    pub fn rename(&mut self, id: u64, old: &str, new: &str) {
        self.release(old, id);
        self.take(new, id);
    }

    pub fn names_held(&self) -> usize {
        self.owners.len()
    }

    pub fn add_session(&mut self, token: String, id: u64) {
        self.sessions.insert(token, id);
    }

    /// The connection a session token belongs to, if it is still open.
    pub fn session_owner(&self, token: &str) -> Option<u64> {
        self.sessions.get(token).copied()
    }

    pub fn remove_session(&mut self, token: &str) {
        self.sessions.remove(token);
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_names_skip_names_somebody_took() {
        let mut names = Names::default();
        assert_eq!(names.guest_name(8), "guest-8");
        names.take("Guest-8", 3);
        names.take("guest-8-2", 4);
        assert_eq!(names.guest_name(8), "guest-8-3");
        assert_eq!(names.guest_name(9), "guest-9");
    }

    #[test]
    fn names_are_unique_ignoring_case() {
        let mut names = Names::default();
        names.take("Alice", 1);
        assert_eq!(
            names.claimable("alice", 2).unwrap_err().0,
            ErrorCode::NameTaken
        );
        assert_eq!(names.claimable("ALICE", 1), Ok("ALICE".to_owned()));
        assert_eq!(
            names.claimable(" ", 2).unwrap_err().0,
            ErrorCode::InvalidName
        );
    }

    #[test]
    fn only_the_owner_releases_a_name() {
        let mut names = Names::default();
        names.take("alice", 1);
        // A takeover gave the name to connection 2; connection 1 then renames or leaves.
        names.take("alice", 2);
        names.rename(1, "alice", "old-alice");
        assert_eq!(
            names.claimable("alice", 3).unwrap_err().0,
            ErrorCode::NameTaken
        );
        names.release("alice", 1);
        assert_eq!(
            names.claimable("alice", 3).unwrap_err().0,
            ErrorCode::NameTaken
        );
        names.release("alice", 2);
        assert_eq!(names.claimable("alice", 3), Ok("alice".to_owned()));
    }

    #[test]
    fn sessions_map_to_their_connection() {
        let mut names = Names::default();
        names.add_session("t1".into(), 5);
        assert_eq!(names.session_owner("t1"), Some(5));
        assert_eq!(names.session_owner("t2"), None);
        names.remove_session("t1");
        assert_eq!(names.session_owner("t1"), None);
    }
}
