//! Vitrine's desktop app: a Tauri window over the core library. The commands live in
//! `commands` (by domain), long work in `jobs`, event names in `events`, errors in `error`;
//! nothing here touches SQLite or candle directly: the core's `Workspace` does.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod bindings;
mod commands;
mod config;
mod error;
mod events;
mod jobs;
mod state;

use std::path::PathBuf;

use clap::Parser;
use tauri::Manager;

/// Vitrine: visual product search.
#[derive(Parser, Debug, Clone)]
#[command(version)]
pub struct Args {
    /// The catalog folder (else $VITRINE_CATALOG, then the one chosen in Settings).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// The models folder (else $VITRINE_MODELS, then the one chosen in Settings).
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// auto, cpu, cuda or metal.
    #[arg(long)]
    device: Option<String>,
    /// What CLIP's linear layers compute in: f32, or int8 (else $VITRINE_PRECISION, then
    /// Settings).
    #[arg(long)]
    precision: Option<String>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("VITRINE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            let loc = config::resolve(app.handle(), &args)?;
            let state = state::AppState::open(loc)?;
            app.manage(state);
            commands::catalog::allow_photos(app.handle())?;
            // Load the models and vectors while the window comes up.
            let handle = app.handle().clone();
            std::thread::spawn(move || {
                if let Err(e) = handle.state::<state::AppState>().searcher() {
                    tracing::warn!("the searcher did not load: {e:#}");
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::catalog::info,
            commands::catalog::product,
            commands::catalog::apply_settings,
            commands::catalog::import_errors,
            commands::search::add_query_photo,
            commands::search::search,
            commands::search::rerank,
            commands::dupes::duplicates,
            commands::dupes::decide,
            commands::dupes::undecide,
            commands::dupes::export_merge_map,
            commands::quality::judge,
            commands::quality::judgements,
            commands::quality::evaluate,
            commands::quality::tune,
            commands::quality::reset_weights,
            commands::models::models,
            commands::models::use_model,
            commands::models::add_model_folder,
            commands::jobs::start_import,
            commands::jobs::rescan,
            commands::jobs::download_model,
            commands::jobs::cancel_job,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
