//! Long jobs: imports (with embedding and indexing), a rescan, and cancelling.

use std::path::PathBuf;

use tauri::{AppHandle, Manager, State};

use crate::error::{CmdError, CmdResult};
use crate::jobs;
use crate::state::AppState;

/// Imports folders and CSVs, then embeds and indexes what changed. Progress arrives as `job`
/// events and the end as one `job-done` event.
#[tauri::command]
pub fn start_import(app: AppHandle, paths: Vec<String>, prune: bool) -> CmdResult<()> {
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    if paths.is_empty() {
        return Err(CmdError::app(
            "choose a folder of photos or a CSV file first",
        ));
    }
    jobs::start(&app, "import", move |app, cancel| {
        jobs::import(app, paths, prune, cancel)
    })
    .map_err(CmdError::from)
}

/// Imports again every source of the last import: new, changed and removed files.
#[tauri::command]
pub fn rescan(app: AppHandle) -> CmdResult<()> {
    let mut sources: Vec<PathBuf> = {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        ws.catalog()
            .import_runs(20)
            .map_err(CmdError::from)?
            .into_iter()
            .flat_map(|r| r.sources)
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect()
    };
    sources.sort();
    sources.dedup();
    if sources.is_empty() {
        return Err(CmdError::app(
            "nothing has been imported into this catalog yet",
        ));
    }
    jobs::start(&app, "import", move |app, cancel| {
        jobs::import(app, sources, false, cancel)
    })
    .map_err(CmdError::from)
}

#[tauri::command]
pub fn download_model(app: AppHandle, id: String) -> CmdResult<()> {
    jobs::start(&app, "download", move |app, cancel| {
        jobs::download(app, &id, cancel)
    })
    .map_err(CmdError::from)
}

#[tauri::command]
pub fn cancel_job(state: State<'_, AppState>) -> bool {
    match state.job.lock().ok().as_ref().and_then(|j| j.as_ref()) {
        Some(j) => {
            j.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            true
        }
        None => false,
    }
}
