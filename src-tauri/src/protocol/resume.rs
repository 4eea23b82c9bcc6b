//! Resume points: where a reconnecting client asks each room to continue.
//!
//! A resume point is a sequence number and, since protocol v2, the **epoch** of the room's log it
//! came from. The epoch tells numberings apart: a room whose log was deleted (evicted at the room
//! cap) or lost starts again at 1 under a new epoch, so an old `since` must not be taken at face
//! value. Forms accepted in `?since=`:
//!
//! - `lobby:EPOCH:120` (v2);
//! - `lobby:120` (v1, still parsed: no epoch, the number is trusted as far as it can be).
//!
//! Every number here comes from a client: parsing never panics, and entries that do not parse
//! are ignored (the connection still gets the room, just without a resume).

use super::names::validate_room_name;

/// Longest epoch accepted, in characters.
pub const MAX_EPOCH_CHARS: usize = 64;

/// Where to resume in one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The last seq the client saw.
    pub since: u64,
    /// The epoch that seq belongs to, if the client knows it.
    pub epoch: Option<String>,
}

/// True for 1 to 64 characters of `A-Z`, `a-z`, `0-9`, `-` and `_`.
pub fn is_valid_epoch(epoch: &str) -> bool {
    is_valid_token(epoch)
}

/// The shape of every opaque token of the protocol (epochs, session tokens): 1 to 64 characters
/// of `A-Z`, `a-z`, `0-9`, `-` and `_`.
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_EPOCH_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses `lobby:EPOCH:120,dev:33`: at most `max_rooms` entries, the first one for each room
/// wins, entries that do not parse are skipped.
pub fn parse_since_list(since: Option<&str>, max_rooms: usize) -> Vec<(String, Resume)> {
    let mut rooms: Vec<(String, Resume)> = Vec::new();
    for entry in since.unwrap_or_default().split(',') {
        if rooms.len() >= max_rooms {
            break;
        }
        let Some((room, resume)) = parse_entry(entry) else {
            continue;
        };
        if rooms.iter().all(|(known, _)| *known != room) {
            rooms.push((room, resume));
        }
    }
    rooms
}

fn parse_entry(entry: &str) -> Option<(String, Resume)> {
    let mut parts = entry.trim().splitn(3, ':');
    let room = validate_room_name(parts.next()?).ok()?;
    let second = parts.next()?;
    let resume = match parts.next() {
        None => Resume {
            since: second.trim().parse().ok()?,
            epoch: None,
        },
        Some(seq) => {
            let epoch = second.trim();
            if !is_valid_epoch(epoch) {
                return None;
            }
            Resume {
                since: seq.trim().parse().ok()?,
                epoch: Some(epoch.to_owned()),
            }
        }
    };
    Some((room, resume))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume(since: u64, epoch: Option<&str>) -> Resume {
        Resume {
            since,
            epoch: epoch.map(str::to_owned),
        }
    }

    #[test]
    fn both_forms_parse_and_junk_is_skipped() {
        assert_eq!(
            parse_since_list(
                Some("lobby:ab_C-9:120,Dev:33,bad,x y:1,z:-1,q:e!:3,r:e:1:2,s::4"),
                16
            ),
            vec![
                ("lobby".to_owned(), resume(120, Some("ab_C-9"))),
                ("dev".to_owned(), resume(33, None)),
            ]
        );
        assert!(parse_since_list(None, 16).is_empty());
    }

    #[test]
    fn extreme_numbers_parse_or_are_skipped_without_panicking() {
        assert_eq!(
            parse_since_list(Some("lobby:18446744073709551615"), 16),
            vec![("lobby".to_owned(), resume(u64::MAX, None))]
        );
        assert!(parse_since_list(Some("lobby:18446744073709551616"), 16).is_empty());
        assert!(parse_since_list(Some("lobby:99999999999999999999999999"), 16).is_empty());
    }

    #[test]
    fn the_first_entry_per_room_wins_and_the_count_is_capped() {
        assert_eq!(
            parse_since_list(Some("a:1,a:2,b:3,c:4"), 2),
            vec![
                ("a".to_owned(), resume(1, None)),
                ("b".to_owned(), resume(3, None))
            ]
        );
    }

    #[test]
    fn epochs_are_checked() {
        assert!(is_valid_epoch("0123abcdEF-_"));
        assert!(!is_valid_epoch(""));
        assert!(!is_valid_epoch(&"a".repeat(65)));
        assert!(is_valid_epoch(&"a".repeat(64)));
        assert!(!is_valid_epoch("a:b"));
        assert!(!is_valid_epoch("é"));
    }
}
