//! Rules for the names people choose: connection names and room names.
//!
//! Validation lives in the protocol layer because it is part of the contract: the same rules are
//! documented in `docs/PROTOCOL.md` and enforced before any actor sees the value.

/// Longest connection or room name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Trims a requested display name and checks it: 1..=32 characters, no control characters.
pub fn validate_display_name(requested: &str) -> Result<String, String> {
    let name = requested.trim();
    if name.is_empty() {
        return Err("a name needs at least one visible character".to_owned());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("a name is at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("a name cannot contain control characters".to_owned());
    }
    Ok(name.to_owned())
}

/// The form used to compare names: two names that differ only in case are the same name.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Lowercases a requested room name and checks it: 1..=32 of `a-z`, `0-9`, `-`, `_`.
pub fn validate_room_name(requested: &str) -> Result<String, String> {
    let room = requested.trim().to_ascii_lowercase();
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if room.is_empty() || room.len() > MAX_NAME_CHARS || !room.chars().all(allowed) {
        return Err(format!(
            "room names are 1 to {MAX_NAME_CHARS} characters of a-z, 0-9, '-' and '_'"
        ));
    }
    Ok(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_limited() {
        assert_eq!(validate_display_name("  alice "), Ok("alice".to_owned()));
        assert_eq!(validate_display_name("Zoë 🦀"), Ok("Zoë 🦀".to_owned()));
        assert!(validate_display_name("   ").is_err());
        assert!(validate_display_name("a\u{7}b").is_err());
        assert!(validate_display_name(&"x".repeat(33)).is_err());
        assert!(validate_display_name(&"é".repeat(32)).is_ok());
    }

    #[test]
    fn room_names_are_lowercased_and_restricted() {
        assert_eq!(validate_room_name("Dev"), Ok("dev".to_owned()));
        assert_eq!(validate_room_name("team_1-a"), Ok("team_1-a".to_owned()));
        assert!(validate_room_name("").is_err());
        assert!(validate_room_name("no spaces").is_err());
        assert!(validate_room_name("ünï").is_err());
        assert!(validate_room_name(&"r".repeat(33)).is_err());
    }
}
