//! The catalog: what it holds, its products, what the last import skipped, and Settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager};
use vitrine::encoders::{DeviceChoice, Precision};
use vitrine::query::Weights;
use vitrine::search::Signal;
use vitrine::workspace::signal_statuses;
use vitrine::{Facets, Product, Stats};

use super::blocking;
use crate::error::CmdResult;
use crate::state::AppState;

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SignalInfo {
    signal: Signal,
    available: bool,
    /// Why it is off, as a stable code (`model_missing`, `model_broken`), and in words (the
    /// words are technical: the UI keeps them behind "Details").
    code: Option<&'static str>,
    reason: Option<String>,
    /// The model it needs, when that is why it is off.
    model_id: Option<String>,
    /// The model can be downloaded from the app, and about how many megabytes that takes.
    downloadable: bool,
    download_mb: Option<u32>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Info {
    catalog_dir: PathBuf,
    models_dir: PathBuf,
    device: DeviceChoice,
    precision: Precision,
    stats: Stats,
    facets: Facets,
    signals: Vec<SignalInfo>,
    /// The currency of the catalog's prices (ISO 4217), when known.
    currency: Option<String>,
    /// The catalog's tuned weights (`vitrine tune`), else the defaults.
    default_weights: Weights,
    job: Option<&'static str>,
}

/// The catalog, its facets and which signals can run. Loads the searcher if needed.
#[tauri::command]
pub async fn info(app: AppHandle) -> CmdResult<Info> {
    blocking(move || {
        let state = app.state::<AppState>();
        let searcher = state.searcher()?;
        let loc = state.location();
        let models = state.models()?;
        let (stats, facets, default_weights) = {
            let ws = state.workspace();
            (
                ws.catalog().stats()?,
                ws.catalog().facets()?,
                vitrine::tune::weights(ws.catalog())?,
            )
        };
        // The window's title names the catalog.
        if let Some(w) = app.get_webview_window("main") {
            let name = loc
                .catalog
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = w.set_title(&format!("{name} — Vitrine"));
        }
        let signals = signal_statuses(searcher.unavailable())
            .into_iter()
            .map(|s| {
                let u = s.unavailable.as_ref();
                let manifest = u.and_then(|u| models.get(&u.model_id).ok());
                SignalInfo {
                    signal: s.signal,
                    available: s.available,
                    code: u.map(|u| u.code.as_str()),
                    reason: u.map(|u| u.reason.clone()),
                    model_id: u.map(|u| u.model_id.clone()),
                    downloadable: u.is_some_and(|u| u.code == vitrine::ErrorCode::ModelMissing)
                        && manifest.is_some_and(|m| !m.hf_repo.is_empty()),
                    download_mb: manifest.and_then(|m| m.download_mb),
                }
            })
            .collect();
        let job = state
            .job
            .lock()
            .ok()
            .and_then(|j| j.as_ref().map(|j| j.kind));
        Ok(Info {
            catalog_dir: loc.catalog,
            models_dir: loc.models,
            device: loc.device,
            precision: loc.precision,
            stats,
            facets,
            signals,
            currency: state.workspace().catalog().currency()?,
            default_weights,
            job,
        })
    })
    .await
}

/// Lets the webview show thumbnails and the catalog's own photos, and nothing else.
pub fn allow_photos(app: &AppHandle) -> anyhow::Result<()> {
    let state = app.state::<AppState>();
    let (thumbs, folders) = {
        let c = state.workspace();
        (c.catalog().thumbs_dir(), c.catalog().photo_folders()?)
    };
    let scope = app.asset_protocol_scope();
    scope.allow_directory(&thumbs, true)?;
    for f in folders {
        scope.allow_directory(&f, false)?;
    }
    Ok(())
}

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ProductView {
    product: Product,
    /// The thumbnail of each of `product.images`, in order.
    thumbnails: Vec<PathBuf>,
}

#[tauri::command]
pub async fn product(app: AppHandle, sku: String) -> CmdResult<ProductView> {
    blocking(move || {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        let c = ws.catalog();
        let product = c.product(&sku)?;
        let thumbnails = product
            .images
            .iter()
            .map(|im| c.thumbnail_path(&im.hash))
            .collect();
        Ok(ProductView {
            product,
            thumbnails,
        })
    })
    .await
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Settings {
    catalog: Option<PathBuf>,
    models: Option<PathBuf>,
    device: Option<String>,
    precision: Option<String>,
    /// The catalog's currency (ISO code); empty forgets it.
    currency: Option<String>,
}

/// Opens another catalog folder, models folder, device or precision (remembered for the next
/// start), and sets the catalog's currency.
#[tauri::command]
pub async fn apply_settings(app: AppHandle, settings: Settings) -> CmdResult<()> {
    blocking(move || {
        let state = app.state::<AppState>();
        if state.job.lock().map(|j| j.is_some()).unwrap_or(true) {
            anyhow::bail!("wait for the running job to finish, or cancel it");
        }
        let mut loc = state.location();
        if let Some(c) = settings.catalog.filter(|p| !p.as_os_str().is_empty()) {
            loc.catalog = c;
        }
        if let Some(m) = settings.models.filter(|p| !p.as_os_str().is_empty()) {
            loc.models = m;
        }
        if let Some(d) = settings.device {
            loc.device = crate::config::parse_setting(&d)?;
        }
        if let Some(p) = settings.precision {
            loc.precision = crate::config::parse_setting(&p)?;
        }
        state.relocate(loc.clone())?;
        allow_photos(&app)?;
        crate::config::save(&app, &loc)?;
        if let Some(c) = settings.currency {
            let c = c.trim();
            state
                .workspace()
                .catalog()
                .set_currency((!c.is_empty()).then_some(c))?;
        }
        Ok(())
    })
    .await
}

/// What the last import skipped, with reasons.
#[tauri::command]
pub async fn import_errors(app: AppHandle) -> CmdResult<Vec<vitrine::ImportErrorRecord>> {
    blocking(move || {
        Ok(app
            .state::<AppState>()
            .workspace()
            .catalog()
            .import_errors(None)?)
    })
    .await
}
