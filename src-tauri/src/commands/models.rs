//! Models: the registry with each model's status, choosing one, a folder of one's own, and
//! downloads (a job).

use std::path::PathBuf;

use serde::Serialize;
use tauri::{AppHandle, Manager};
use vitrine::models::ModelKind;

use super::blocking;
use crate::error::CmdResult;
use crate::state::AppState;

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ModelView {
    id: String,
    name: String,
    kind: ModelKind,
    present: bool,
    active: bool,
    licence: String,
    folder: PathBuf,
    downloadable: bool,
    /// About how many megabytes its download takes.
    download_mb: Option<u32>,
    /// The languages it reads, and what it is good at, in words.
    languages: String,
    good_at: String,
}

#[tauri::command]
pub async fn models(app: AppHandle) -> CmdResult<Vec<ModelView>> {
    blocking(move || {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        Ok(ws
            .model_statuses()?
            .into_iter()
            .map(|s| ModelView {
                downloadable: !s.manifest.hf_repo.is_empty(),
                download_mb: s.manifest.download_mb,
                languages: s.manifest.languages,
                good_at: s.manifest.good_at,
                id: s.manifest.id,
                name: s.manifest.display_name,
                kind: s.manifest.kind,
                present: s.present,
                active: s.active,
                licence: s.manifest.licence,
                folder: s.folder,
            })
            .collect())
    })
    .await
}

/// Makes `id` the catalog's model of its kind; the catalog is embedded with it by the next
/// import or rescan, while the previous model keeps serving.
#[tauri::command]
pub async fn use_model(app: AppHandle, id: String) -> CmdResult<()> {
    blocking(move || {
        let state = app.state::<AppState>();
        state.workspace().use_model(&id)?;
        state.forget_searcher();
        Ok(())
    })
    .await
}

/// Registers a model folder the user chose, and makes it active.
#[tauri::command]
pub async fn add_model_folder(app: AppHandle, path: PathBuf) -> CmdResult<String> {
    blocking(move || {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        let m = ws.add_model(&path, None)?;
        ws.use_model(&m.id)?;
        drop(ws);
        state.forget_searcher();
        Ok(m.id)
    })
    .await
}
