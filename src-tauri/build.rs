//! Build script: with the `desktop` feature, runs tauri-build, which embeds `tauri.conf.json`,
//! the icons and the capabilities. The GUI-free core skips it.
//!
//! `ui/` needs no code here: the server embeds it with rust-embed (`server/static_ui.rs`), the
//! window with Tauri's `generate_context!`. Both use `include_bytes!`, so cargo notices an edited
//! file by itself, but not a new one; the one line below makes a new file under `ui/` rebuild.

fn main() {
    println!("cargo:rerun-if-changed=ui");

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
