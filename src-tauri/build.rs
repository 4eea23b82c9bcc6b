//! Build script.
//!
//! 1. Embeds every file under `ui/` into the binary (`$OUT_DIR/ui_assets.rs`), so the server can
//!    serve the page to browser tabs from an installed package with no files next to it.
//! 2. With the `desktop` feature, runs tauri-build, which embeds `tauri.conf.json`, the icons and
//!    the capabilities. The GUI-free core skips it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    embed_ui_assets();

    #[cfg(feature = "desktop")]
    {
        println!("cargo:rerun-if-changed=src-tauri/capabilities");
        println!("cargo:rerun-if-changed=tauri.conf.json");
        let attributes = tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*");
        if let Err(error) = tauri_build::try_build(attributes) {
            panic!("tauri-build failed: {error:#}");
        }
    }
}

fn embed_ui_assets() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ui_dir = manifest_dir.join("ui");
    println!("cargo:rerun-if-changed=ui");

    let mut files = Vec::new();
    collect_files(&ui_dir, &mut files);
    files.sort();

    let mut table = String::from("&[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let url_path = path
            .strip_prefix(&ui_dir)
            .expect("collected under ui/")
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            table,
            "    (\"/{url_path}\", include_bytes!({:?}) as &[u8]),",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    table.push(']');

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("ui_assets.rs"), table).expect("write ui_assets.rs");
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}
