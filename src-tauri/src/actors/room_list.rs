//! The rooms one connection is in, each with a value: a short vector, not a map.
//!
//! A connection is in the lobby and perhaps a few rooms more (at most
//! [`MAX_ROOMS_PER_CONNECTION`](super::connection::MAX_ROOMS_PER_CONNECTION)), and there is one
//! such list per connection in its actor (with each room's address) and one in the directory.
//! A `BTreeMap` or `BTreeSet` allocates a node for eleven entries (a few hundred bytes) on the
//! first insert; this allocates exactly one entry for the usual connection, and a linear search
//! over a handful of names costs less than a tree walk.

/// Room name → `V`, in the order the rooms were joined.
#[derive(Debug)]
pub struct RoomList<V> {
    entries: Vec<(Box<str>, V)>,
}

impl<V> Default for RoomList<V> {
    fn default() -> Self {
        RoomList {
            entries: Vec::new(),
        }
    }
}

impl<V> RoomList<V> {
    pub fn contains(&self, room: &str) -> bool {
        self.position(room).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, room: &str) -> Option<&V> {
        self.position(room).map(|at| &self.entries[at].1)
    }

    pub fn get_mut(&mut self, room: &str) -> Option<&mut V> {
        self.position(room).map(|at| &mut self.entries[at].1)
    }

    /// Adds `room` with `value`, or replaces its value. True if the room is new.
    pub fn insert(&mut self, room: String, value: V) -> bool {
        if let Some(at) = self.position(&room) {
            self.entries[at].1 = value;
            return false;
        }
        if self.entries.capacity() == 0 {
            // The usual connection is in one room: no spare slots until a second.
            self.entries.reserve_exact(1);
        }
        self.entries.push((room.into_boxed_str(), value));
        true
    }

    /// Removes `room`; false if it was not there.
    pub fn remove(&mut self, room: &str) -> bool {
        match self.position(room) {
            Some(at) => {
                self.entries.remove(at);
                true
            }
            None => false,
        }
    }

    /// The room names, in the order they were joined.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| &**name)
    }

    /// The room names in alphabetical order (what views show).
    pub fn sorted_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.names().map(str::to_owned).collect();
        names.sort();
        names
    }

    fn position(&self, room: &str) -> Option<usize> {
        self.entries.iter().position(|(name, _)| &**name == room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_added_found_and_removed_by_name() {
        let mut rooms = RoomList::default();
        assert!(rooms.is_empty());
        assert!(rooms.insert("lobby".to_owned(), 1));
        assert_eq!(rooms.entries.capacity(), 1, "one room, one slot");
        assert!(rooms.insert("dev".to_owned(), 2));
        assert!(!rooms.insert("lobby".to_owned(), 3), "not new");
        assert_eq!(rooms.len(), 2, "inserting again does not duplicate");
        assert_eq!(rooms.get("lobby"), Some(&3));
        if let Some(value) = rooms.get_mut("dev") {
            *value = 4;
        }
        assert_eq!(rooms.get("dev"), Some(&4));
        assert!(!rooms.contains("ops"));
        assert_eq!(rooms.names().collect::<Vec<_>>(), ["lobby", "dev"]);
        assert_eq!(rooms.sorted_names(), ["dev", "lobby"]);
        assert!(rooms.remove("lobby"));
        assert!(!rooms.remove("lobby"));
        assert_eq!(rooms.names().collect::<Vec<_>>(), ["dev"]);
    }
}
