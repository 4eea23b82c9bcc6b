//! The core's layers point one way: desktop → server → actors → protocol (see `lib.rs`).
//!
//! The compiler does not check this: any module may name any other through `crate::`. So this
//! test reads the source tree with `syn` (the parser every proc macro uses), resolves every path
//! that leaves its module, and fails if it points up or sideways:
//!
//! - `use crate::x::…` and `use crate::{x, y::z}` trees;
//! - `crate::x::f()` paths in code, types, patterns and attributes;
//! - `super::super::x` climbing out of a module (inline `mod tests` blocks count as a level);
//! - paths inside macro calls (`format!`, `tokio::select!`…), whose bodies `syn` leaves as tokens;
//! - `use crate::*` from outside the crate root (it would make every module nameable).
//!
//! Every top-level module must have a place in [`LAYERS`]: a new module fails this test until it
//! is given one, so the rule cannot be dodged by adding a module nobody classified.
//!
//! The checker's own tests (`checker_*`) feed it one offending line of each form, so a checker
//! that stopped seeing an import form fails here too.

use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// Top-level modules, lowest layer first. A module may use modules of strictly lower rank.
const LAYERS: &[(&str, u8)] = &[
    // The wire format: depends on nothing in this crate.
    ("protocol", 0),
    // Small support modules below the actors (configuration, counters, OS facts).
    ("config", 1),
    ("logging", 1),
    ("metrics", 1),
    ("os_limits", 1),
    ("paths", 1),
    // Each room's numbered history, behind a trait: the actors use it, it uses only protocol.
    ("room_log", 1),
    ("cluster", 1),
    ("shutdown_signal", 1),
    // The actor system.
    ("actors", 2),
    // HTTP and WebSocket serving on top of the actors.
    ("server", 3),
    // Entry points of the core: the command line and the server run alone.
    ("cli", 4),
    ("headless", 4),
    // The Tauri shell: may use everything, nothing may use it.
    ("desktop", 5),
];

/// Plain items declared in `lib.rs` itself (no dependencies of their own): usable by everyone.
const ROOT_ITEMS: &[&str] = &["SERVER_NAME", "VERSION"];

/// Crates that only the desktop shell may name (they are optional, behind the `desktop` feature).
const DESKTOP_ONLY_CRATES: &[&str] = &["tauri", "tauri_build", "zbus"];
const DESKTOP_ONLY_CRATE_PREFIX: &str = "tauri_plugin_";

/// This crate's own name, which a path could use instead of `crate` (`extern crate self as …`).
const OWN_CRATE: &str = "tauri_ractor_websocket";

#[derive(Debug)]
struct Violation {
    file: String,
    path: String,
    why: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: `{}`: {}", self.file, self.path, self.why)
    }
}

/// What one file's scan found.
#[derive(Debug, Default)]
struct Scan {
    /// Paths that leave their own module (for the "the scanner is not blind" check).
    references: usize,
    violations: Vec<Violation>,
}

fn rank(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, rank)| *rank)
}

/// `actors/supervisor/directory.rs` → `["actors", "supervisor", "directory"]`; `mod.rs` names
/// its directory; `lib.rs` is the root (`[]`).
fn module_path_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

struct Checker<'a> {
    file: &'a str,
    /// The module being visited: the file's path plus any inline `mod` blocks entered.
    module: Vec<String>,
    scan: Scan,
}

impl Checker<'_> {
    /// Checks one path, given as its segments.
    fn check_segments(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let text = segments.join("::");
        let home = self.module.first().cloned();
        let home_is_desktop = home.as_deref() == Some("desktop");
        let first_is_desktop_crate = DESKTOP_ONLY_CRATES.contains(&first.as_str())
            || first.starts_with(DESKTOP_ONLY_CRATE_PREFIX);
        if first_is_desktop_crate && !home_is_desktop {
            self.violation(
                &text,
                "the core must not use the desktop shell's crates (only `desktop` may)",
            );
            return;
        }

        // Resolve to a path from the crate root.
        let absolute: Vec<String> = match first.as_str() {
            "crate" | OWN_CRATE => segments[1..].to_vec(),
            "super" => {
                let climbs = segments.iter().take_while(|s| *s == "super").count();
                if climbs > self.module.len() {
                    self.violation(&text, "climbs above the crate root");
                    return;
                }
                let mut resolved = self.module[..self.module.len() - climbs].to_vec();
                resolved.extend_from_slice(&segments[climbs..]);
                resolved
            }
            _ => return, // a relative path (own items, submodules) or another crate
        };
        let Some(target) = absolute.first() else {
            return; // `use super::super;` naming the root module itself: names nothing yet
        };
        if self.module.is_empty() {
            return; // lib.rs declares the modules: it is above all of them
        }
        if home.as_deref() == Some(target.as_str()) {
            return; // inside its own module
        }
        self.scan.references += 1;
        if target == "*" {
            self.violation(
                &text,
                "a glob of the crate root makes every module nameable",
            );
            return;
        }
        if ROOT_ITEMS.contains(&target.as_str()) {
            return;
        }
        let home = home.unwrap_or_default();
        let (Some(from), Some(to)) = (rank(&home), rank(target)) else {
            self.violation(
                &text,
                &format!(
                    "module `{}` has no layer: add it to LAYERS in tests/layering.rs",
                    if rank(&home).is_none() { &home } else { target }
                ),
            );
            return;
        };
        if to >= from {
            self.violation(
                &text,
                &format!(
                    "`{home}` (layer {from}) must not depend on `{target}` (layer {to}): \
                     dependencies point one way, desktop → server → actors → protocol"
                ),
            );
        }
    }

    fn violation(&mut self, path: &str, why: &str) {
        self.scan.violations.push(Violation {
            file: self.file.to_owned(),
            path: path.to_owned(),
            why: why.to_owned(),
        });
    }

    /// Walks a `use` tree; `prefix` holds the segments above this branch.
    fn check_use_tree(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.check_use_tree(&path.tree, prefix);
                prefix.pop();
            }
            syn::UseTree::Group(group) => {
                for item in &group.items {
                    self.check_use_tree(item, prefix);
                }
            }
            syn::UseTree::Name(name) => self.check_use_leaf(prefix, name.ident.to_string()),
            syn::UseTree::Rename(rename) => self.check_use_leaf(prefix, rename.ident.to_string()),
            syn::UseTree::Glob(_) => self.check_use_leaf(prefix, "*".to_owned()),
        }
    }

    fn check_use_leaf(&mut self, prefix: &[String], leaf: String) {
        let mut segments = prefix.to_vec();
        if leaf != "self" {
            segments.push(leaf);
        }
        self.check_segments(&segments);
    }

    /// Finds `crate :: a :: b` and `super :: …` runs in a macro's raw tokens.
    fn check_tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut index = 0;
        while index < trees.len() {
            match &trees[index] {
                TokenTree::Group(group) => {
                    self.check_tokens(group.stream());
                    index += 1;
                }
                TokenTree::Ident(ident) => {
                    let starts_path = matches!(ident.to_string().as_str(), "crate" | "super")
                        || ident == OWN_CRATE;
                    let after_colons = index >= 2 && is_path_sep(&trees[index - 2..index]);
                    if !starts_path || after_colons {
                        index += 1;
                        continue;
                    }
                    let mut segments = vec![ident.to_string()];
                    let mut next = index + 1;
                    while is_path_sep(trees.get(next..).unwrap_or_default()) {
                        match trees.get(next + 2) {
                            Some(TokenTree::Ident(segment)) => {
                                segments.push(segment.to_string());
                                next += 3;
                            }
                            Some(TokenTree::Group(group)) => {
                                // `crate::{a, b::c}` in a macro: each branch's first name.
                                for branch in branch_heads(group.stream()) {
                                    let mut branch_path = segments.clone();
                                    branch_path.push(branch);
                                    self.check_segments(&branch_path);
                                }
                                next += 3;
                                break;
                            }
                            _ => break,
                        }
                    }
                    self.check_segments(&segments);
                    index = next;
                }
                _ => index += 1,
            }
        }
    }
}

/// The first name of each comma-separated branch of a `{a, b::c}` group.
fn branch_heads(tokens: TokenStream) -> Vec<String> {
    let mut heads = Vec::new();
    let mut at_branch_start = true;
    for tree in tokens {
        match tree {
            TokenTree::Punct(punct) if punct.as_char() == ',' => at_branch_start = true,
            TokenTree::Ident(ident) if at_branch_start => {
                heads.push(ident.to_string());
                at_branch_start = false;
            }
            _ => at_branch_start = false,
        }
    }
    heads
}

/// True if the slice starts with `::` (two `:` puncts, the first joint).
fn is_path_sep(trees: &[TokenTree]) -> bool {
    matches!(
        trees,
        [TokenTree::Punct(a), TokenTree::Punct(b), ..]
            if a.as_char() == ':' && b.as_char() == ':' && a.spacing() == proc_macro2::Spacing::Joint
    )
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if item.content.is_some() {
            self.module.push(item.ident.to_string());
            syn::visit::visit_item_mod(self, item);
            self.module.pop();
        } else {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        // `use ::x::…` names an external crate: its first segment is checked as a crate name.
        self.check_use_tree(&item.tree, &mut Vec::new());
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        self.check_segments(&segments);
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.check_tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

/// Scans one file's source. `relative` is its path under `src-tauri/src`.
fn scan_source(relative: &Path, source: &str) -> Result<Scan, String> {
    let syntax =
        syn::parse_file(source).map_err(|error| format!("{}: {error}", relative.display()))?;
    let file = relative.display().to_string();
    let mut checker = Checker {
        file: &file,
        module: module_path_of(relative),
        scan: Scan::default(),
    };
    checker.visit_file(&syntax);
    Ok(checker.scan)
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn dependencies_point_one_way() {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);

    let mut references = 0;
    let mut violations = Vec::new();
    let mut unclassified = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&root).expect("under the source root");
        // main.rs is the binary crate: it reaches the library by name, like any user.
        if relative == Path::new("main.rs") {
            continue;
        }
        let top = module_path_of(relative);
        if let Some(top) = top.first() {
            if rank(top).is_none() {
                unclassified.push(top.clone());
            }
        }
        let source = fs::read_to_string(path).expect("readable source");
        let scan = scan_source(relative, &source).expect("parsable source");
        references += scan.references;
        violations.extend(scan.violations);
    }

    unclassified.sort();
    unclassified.dedup();
    assert!(
        unclassified.is_empty(),
        "top-level modules without a layer (add them to LAYERS in tests/layering.rs): {unclassified:?}"
    );
    let report: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        report.is_empty(),
        "layering violations:\n  {}",
        report.join("\n  ")
    );
    // Not blind: the core names its lower layers many times (actors → protocol, server → actors…).
    assert!(
        references >= 50,
        "the scan saw only {references} cross-module paths: is it still reading the sources?"
    );
}

/// Scans one snippet as if it were the file `relative`, returning the offending paths.
fn offending(relative: &str, source: &str) -> Vec<String> {
    scan_source(Path::new(relative), source)
        .expect("snippet parses")
        .violations
        .into_iter()
        .map(|violation| violation.path)
        .collect()
}

#[test]
fn checker_catches_use_of_a_higher_layer() {
    assert_eq!(
        offending(
            "protocol/client_message.rs",
            "use crate::actors::room::LOBBY;"
        ),
        ["crate::actors::room::LOBBY"]
    );
    assert_eq!(
        offending("actors/room.rs", "use crate::server::AppState;"),
        ["crate::server::AppState"]
    );
    assert_eq!(
        offending("server/mod.rs", "use crate::desktop::run;"),
        ["crate::desktop::run"]
    );
    assert_eq!(
        offending("headless.rs", "use crate::desktop;"),
        ["crate::desktop"]
    );
}

#[test]
fn checker_catches_use_groups_and_renames() {
    assert_eq!(
        offending(
            "protocol/decode.rs",
            "use crate::{metrics, protocol::names, server::{AppState as S, RequestPolicy}};"
        ),
        [
            "crate::metrics",
            "crate::server::AppState",
            "crate::server::RequestPolicy"
        ]
    );
}

#[test]
fn checker_catches_paths_in_code_types_and_macros() {
    let source = r#"
        fn f(state: &crate::server::AppState) -> usize {
            let lobby = crate::actors::room::LOBBY;
            tracing::info!("{}", crate::desktop::window::MAIN_WINDOW);
            lobby.len()
        }
    "#;
    assert_eq!(
        offending("protocol/decode.rs", source),
        [
            "crate::server::AppState",
            "crate::actors::room::LOBBY",
            "crate::desktop::window::MAIN_WINDOW"
        ]
    );
    assert_eq!(
        offending(
            "actors/room.rs",
            "fn f() { tokio::select! { _ = crate::server::start() => {} } }"
        ),
        ["crate::server::start"]
    );
}

#[test]
fn checker_resolves_super_climbing_out_of_a_module() {
    // actors::supervisor::directory → super::super is `actors`, one more is the crate root.
    assert_eq!(
        offending(
            "actors/supervisor/directory.rs",
            "use super::super::super::server::AppState;\nuse super::super::room::RoomMsg;\nuse super::SupervisorMsg;"
        ),
        ["super::super::super::server::AppState"]
    );
    // An inline `mod tests` is one more level: its `super` is the file's own module.
    assert_eq!(
        offending(
            "actors/room.rs",
            "mod tests { use super::*; use super::super::outbox::Outbox; use super::super::super::server; }"
        ),
        ["super::super::super::server"]
    );
    assert_eq!(
        offending(
            "protocol/names.rs",
            "fn f() { let _ = super::super::actors::room::LOBBY; }"
        ),
        ["super::super::actors::room::LOBBY"]
    );
}

#[test]
fn checker_catches_root_globs_desktop_crates_and_unknown_modules() {
    assert_eq!(offending("actors/room.rs", "use crate::*;"), ["crate::*"]);
    assert_eq!(
        offending(
            "server/mod.rs",
            "use tauri::Manager; use tauri_plugin_opener::OpenerExt;"
        ),
        ["tauri::Manager", "tauri_plugin_opener::OpenerExt"]
    );
    assert_eq!(
        offending("protocol/decode.rs", "use crate::brand_new::Thing;"),
        ["crate::brand_new::Thing"]
    );
}

#[test]
fn checker_allows_what_the_layers_allow() {
    let allowed = [
        (
            "server/state.rs",
            "use crate::actors::room::RoomMsg; use crate::metrics::Metrics;",
        ),
        (
            "actors/room.rs",
            "use crate::protocol::{ServerMessage, LOBBY}; use super::outbox::Outbox;",
        ),
        (
            "actors/connection.rs",
            "fn f() -> &'static str { crate::SERVER_NAME }",
        ),
        (
            "desktop/mod.rs",
            "use crate::server::RunningServer; use tauri::Manager;",
        ),
        (
            "protocol/decode.rs",
            "use super::names; mod tests { use super::*; }",
        ),
        (
            "headless.rs",
            "use crate::server; use crate::config::ServerConfig;",
        ),
    ];
    for (file, source) in allowed {
        assert!(offending(file, source).is_empty(), "{file}: {source}");
    }
}
