//! Builds the web UI (ui/ → ui/dist, which the app embeds), then Tauri's own build step.

use std::path::Path;
use std::process::Command;

fn npm(ui: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(ui)
        .status()
        .unwrap_or_else(|e| panic!("cannot run npm (install Node.js and npm): {e}"));
    assert!(status.success(), "`npm {}` failed in ui/", args.join(" "));
}

fn main() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui");
    for p in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
    ] {
        println!("cargo:rerun-if-changed={}", ui.join(p).display());
    }
    if std::env::var_os("VITRINE_SKIP_UI_BUILD").is_none() {
        if !ui.join("node_modules").is_dir() {
            // Not `npm ci`: it refuses a lock that lacks other platforms' optional packages.
            npm(&ui, &["install", "--no-save", "--no-audit", "--no-fund"]);
        }
        npm(&ui, &["run", "build"]);
    }
    tauri_build::build()
}
