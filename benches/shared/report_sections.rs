//! Marked sections of `docs/BENCHMARKS.md`, shared by the two bench crates (each includes this
//! file with `#[path]`).
//!
//! The fan-out benchmark writes the whole report; the SQLite log's benchmark (`durable_log`)
//! and the cluster row (`fanout --cluster`) each own one section between an HTML-comment pair
//! of markers. A section's owner replaces it in place ([`replace`]); the fan-out report carries
//! every marked section over when it writes the file again.

use std::path::Path;

/// A section's opening and closing markers.
pub type Markers = (&'static str, &'static str);

/// The SQLite log's start time and chat ingest (`cargo bench --bench durable_log`).
pub const DURABLE_LOG: Markers = ("<!-- durable-log:start -->", "<!-- durable-log:end -->");

/// The cluster row (`cargo bench --bench fanout -- --cluster`).
pub const CLUSTER: Markers = ("<!-- cluster:start -->", "<!-- cluster:end -->");

/// Writes `section` (which starts and ends with `markers`) into the report at `path`: in place
/// of the marked section there, or at the end if there is none (or no file yet).
pub fn replace(path: &Path, markers: Markers, section: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (start_marker, end_marker) = markers;
    let updated = match (text.find(start_marker), text.find(end_marker)) {
        (Some(start), Some(end)) if end > start => format!(
            "{}{}{}",
            &text[..start],
            section.trim_end(),
            &text[end + end_marker.len()..]
        ),
        _ => format!("{}\n{}\n", text.trim_end(), section.trim_end()),
    };
    std::fs::write(path, updated).map_err(|error| format!("{}: {error}", path.display()))
}
