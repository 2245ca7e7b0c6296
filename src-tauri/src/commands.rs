//! The commands the web UI calls. Each is a thin wrapper over the core API; work that takes
//! more than a moment runs on a blocking thread, never on the UI's main thread.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tauri::ipc::{InvokeBody, Request};
use tauri::{AppHandle, Manager, State};
use vitrine::duplicates::{Decision, DupesReport, Thresholds};
use vitrine::encoders::{DeviceChoice, Precision};
use vitrine::models::ModelKind;
use vitrine::query::{Filters, PhotoInput, Query, Weights};
use vitrine::search::{SearchResults, Signal};
use vitrine::{Facets, Product, Stats};

use crate::jobs;
use crate::state::{AppState, QueryPhoto};

/// Errors cross to the UI as one readable sentence (with its causes).
pub type CmdResult<T> = Result<T, String>;

fn msg(e: impl Into<anyhow::Error>) -> String {
    format!("{:#}", e.into())
}

/// Runs `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> CmdResult<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(msg)?
        .map_err(msg)
}

#[derive(Serialize)]
pub struct SignalInfo {
    signal: Signal,
    available: bool,
    /// Why it is off, and how to turn it on.
    reason: Option<String>,
    how: Option<String>,
}

#[derive(Serialize)]
pub struct Info {
    catalog_dir: PathBuf,
    models_dir: PathBuf,
    device: DeviceChoice,
    precision: Precision,
    stats: Stats,
    facets: Facets,
    signals: Vec<SignalInfo>,
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
        let (stats, facets) = {
            let c = state.catalog();
            (c.stats()?, c.facets()?)
        };
        let off = |kind: ModelKind| {
            searcher
                .unavailable()
                .iter()
                .find(|u| u.kind == kind)
                .map(|u| {
                    let how = models.get(&u.model_id).ok().map(|m| models.how_to_get(m));
                    (u.reason.clone(), how)
                })
        };
        let signals = [
            (Signal::Visual, Some(ModelKind::Clip)),
            (Signal::Crossmodal, Some(ModelKind::Clip)),
            (Signal::Text, Some(ModelKind::Text)),
            (Signal::Keyword, None),
            (Signal::Phash, None),
        ]
        .into_iter()
        .map(|(signal, kind)| {
            let missing = kind.and_then(&off);
            SignalInfo {
                signal,
                available: missing.is_none(),
                reason: missing.as_ref().map(|m| m.0.clone()),
                how: missing.and_then(|m| m.1),
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
            default_weights: Weights::default(),
            job,
        })
    })
    .await
}

/// Lets the webview show thumbnails and the catalog's own photos, and nothing else.
pub fn allow_photos(app: &AppHandle) -> anyhow::Result<()> {
    let state = app.state::<AppState>();
    let (thumbs, folders) = {
        let c = state.catalog();
        (c.thumbs_dir(), c.photo_folders()?)
    };
    let scope = app.asset_protocol_scope();
    scope.allow_directory(&thumbs, true)?;
    for f in folders {
        scope.allow_directory(&f, false)?;
    }
    Ok(())
}

#[derive(Serialize)]
pub struct PhotoChip {
    id: u64,
    width: u32,
    height: u32,
}

/// A query photo, sent as raw bytes. It is decoded once here so a bad file is refused
/// before it becomes a chip.
#[tauri::command]
pub async fn add_query_photo(app: AppHandle, request: Request<'_>) -> CmdResult<PhotoChip> {
    let bytes = match request.body() {
        InvokeBody::Raw(b) => b.clone(),
        InvokeBody::Json(_) => return Err("send the photo's bytes, not JSON".into()),
    };
    blocking(move || {
        let img = vitrine::photo::decode(&bytes, vitrine::photo::DEFAULT_MAX_PIXELS)
            .map_err(|e| anyhow::anyhow!("this photo cannot be used: {e}"))?;
        let state = app.state::<AppState>();
        let id = state.next_id();
        state
            .photos
            .lock()
            .map_err(|_| anyhow::anyhow!("photo store poisoned"))?
            .put(id, QueryPhoto { bytes });
        Ok(PhotoChip {
            id,
            width: img.width(),
            height: img.height(),
        })
    })
    .await
}

#[derive(Deserialize)]
pub struct SearchRequest {
    #[serde(default)]
    text: String,
    #[serde(default)]
    not: Vec<String>,
    photo: Option<u64>,
    like: Option<String>,
    #[serde(default)]
    filters: Filters,
    weights: Weights,
    k: usize,
    #[serde(default)]
    offset: usize,
}

#[derive(Serialize)]
pub struct SearchPage {
    /// Hand back to `rerank` to fuse again with other weights.
    query_id: u64,
    results: SearchResults,
    millis: f64,
}

/// Encodes and scores a query, then fuses with the given weights.
#[tauri::command]
pub async fn search(app: AppHandle, req: SearchRequest) -> CmdResult<SearchPage> {
    blocking(move || {
        let started = std::time::Instant::now();
        let state = app.state::<AppState>();
        let photo = match req.photo {
            Some(id) => Some(
                state
                    .photos
                    .lock()
                    .map_err(|_| anyhow::anyhow!("photo store poisoned"))?
                    .get(id)
                    .ok_or_else(|| anyhow::anyhow!("the query photo is gone; add it again"))?,
            ),
            None => None,
        };
        let q = Query {
            text: req.text,
            photo: photo.map(|p| PhotoInput::Bytes(p.bytes.clone())),
            not: req.not,
            like: req.like,
            filters: req.filters,
        };
        if q.text.trim().is_empty() && q.photo.is_none() && q.like.is_none() {
            anyhow::bail!("type something to search for, or add a photo");
        }
        let searcher = state.searcher()?;
        let prep = {
            let c = state.catalog();
            searcher.prepare(&c, &q)?
        };
        let results = searcher.rank(&prep, &req.weights, req.k.clamp(1, 500), req.offset);
        let query_id = state.next_id();
        state
            .prepared
            .lock()
            .map_err(|_| anyhow::anyhow!("query cache poisoned"))?
            .put(query_id, prep);
        Ok(SearchPage {
            query_id,
            results,
            millis: started.elapsed().as_secs_f64() * 1e3,
        })
    })
    .await
}

/// Fuses a prepared query again with other weights or another page; nothing is encoded.
#[tauri::command]
pub async fn rerank(
    app: AppHandle,
    query_id: u64,
    weights: Weights,
    k: usize,
    offset: usize,
) -> CmdResult<SearchPage> {
    blocking(move || {
        let started = std::time::Instant::now();
        let state = app.state::<AppState>();
        let prep = state
            .prepared
            .lock()
            .map_err(|_| anyhow::anyhow!("query cache poisoned"))?
            .get(query_id)
            .ok_or_else(|| anyhow::anyhow!("that query has expired; search again"))?;
        let searcher = state
            .loaded_searcher()
            .ok_or_else(|| anyhow::anyhow!("the catalog changed; search again"))?;
        let results = searcher.rank(&prep, &weights, k.clamp(1, 500), offset);
        Ok(SearchPage {
            query_id,
            results,
            millis: started.elapsed().as_secs_f64() * 1e3,
        })
    })
    .await
}

#[derive(Serialize)]
pub struct ProductView {
    product: Product,
    /// The thumbnail of each of `product.images`, in order.
    thumbnails: Vec<PathBuf>,
}

#[tauri::command]
pub async fn product(app: AppHandle, sku: String) -> CmdResult<ProductView> {
    blocking(move || {
        let state = app.state::<AppState>();
        let c = state.catalog();
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

#[derive(Serialize)]
pub struct Member {
    title: String,
    category: String,
    color: String,
    price: Option<f64>,
    thumbnails: Vec<PathBuf>,
}

#[derive(Serialize)]
pub struct DupesView {
    report: DupesReport,
    /// Each group's products, by SKU.
    members: HashMap<String, Member>,
    /// A sentence per pair of each group, in `report.groups[i].pairs` order.
    explanations: Vec<Vec<String>>,
}

/// Scans for duplicate groups with these thresholds (the defaults when absent).
#[tauri::command]
pub async fn duplicates(app: AppHandle, thresholds: Option<Thresholds>) -> CmdResult<DupesView> {
    blocking(move || {
        let state = app.state::<AppState>();
        let models = state.models()?;
        let c = state.catalog();
        let report = c.find_duplicates_active(&models, &thresholds.unwrap_or_default())?;
        let mut members = HashMap::new();
        for sku in report.groups.iter().flat_map(|g| g.skus.iter()) {
            if members.contains_key(sku) {
                continue;
            }
            let p = c.product(sku)?;
            members.insert(
                sku.clone(),
                Member {
                    thumbnails: p
                        .images
                        .iter()
                        .map(|im| c.thumbnail_path(&im.hash))
                        .collect(),
                    title: p.title,
                    category: p.category,
                    color: p.color,
                    price: p.price,
                },
            );
        }
        let explanations = report
            .groups
            .iter()
            .map(|g| {
                g.pairs
                    .iter()
                    .map(|p| vitrine::duplicates::describe(&p.evidence))
                    .collect()
            })
            .collect();
        Ok(DupesView {
            report,
            members,
            explanations,
        })
    })
    .await
}

/// Records a decision over a group: `duplicate` (keeping `keep`), `not_duplicate` or `variants`.
#[tauri::command]
pub async fn decide(
    app: AppHandle,
    decision: Decision,
    skus: Vec<String>,
    keep: Option<String>,
) -> CmdResult<usize> {
    blocking(move || {
        let state = app.state::<AppState>();
        let c = state.catalog();
        Ok(c.decide_duplicates(decision, &skus, keep.as_deref())?)
    })
    .await
}

/// Writes the merge map (CSV) of the decided duplicates to `path`.
#[tauri::command]
pub async fn export_merge_map(
    app: AppHandle,
    path: PathBuf,
    thresholds: Option<Thresholds>,
) -> CmdResult<usize> {
    blocking(move || {
        let state = app.state::<AppState>();
        let models = state.models()?;
        let c = state.catalog();
        let report = c.find_duplicates_active(&models, &thresholds.unwrap_or_default())?;
        let f = std::fs::File::create(&path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        vitrine::duplicates::write_merge_map(&report, f)?;
        Ok(report
            .groups
            .iter()
            .flat_map(|g| &g.pairs)
            .filter(|p| p.decision == Some(Decision::Duplicate))
            .count())
    })
    .await
}

#[derive(Serialize)]
pub struct ModelView {
    id: String,
    name: String,
    kind: ModelKind,
    present: bool,
    active: bool,
    licence: String,
    how: String,
    folder: PathBuf,
    downloadable: bool,
}

#[tauri::command]
pub async fn models(app: AppHandle) -> CmdResult<Vec<ModelView>> {
    blocking(move || {
        let state = app.state::<AppState>();
        let models = state.models()?;
        let c = state.catalog();
        let active: Vec<String> = [ModelKind::Clip, ModelKind::Text]
            .into_iter()
            .filter_map(|k| c.active_model(&models, k).ok().flatten().map(|m| m.id))
            .collect();
        Ok(models
            .manifests()
            .iter()
            .map(|m| ModelView {
                id: m.id.clone(),
                name: m.display_name.clone(),
                kind: m.kind,
                present: models.is_present(m),
                active: active.contains(&m.id),
                licence: m.licence.clone(),
                how: models.how_to_get(m),
                folder: models.folder(m),
                downloadable: !m.hf_repo.is_empty(),
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
        let models = state.models()?;
        state.catalog().use_model(&models, &id)?;
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
        let m = state.catalog().add_model(&path, None)?;
        let models = state.models()?;
        state.catalog().use_model(&models, &m.id)?;
        state.forget_searcher();
        Ok(m.id)
    })
    .await
}

#[derive(Deserialize)]
pub struct Settings {
    catalog: Option<PathBuf>,
    models: Option<PathBuf>,
    device: Option<String>,
    precision: Option<String>,
}

/// Opens another catalog folder, models folder, device or precision; remembered for the next
/// start.
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
        Ok(())
    })
    .await
}

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
        return Err("choose a folder of photos or a CSV file first".into());
    }
    jobs::start(&app, "import", move |app, cancel| {
        jobs::import(app, paths, prune, cancel)
    })
    .map_err(msg)
}

/// Imports again every source of the last import: new, changed and removed files.
#[tauri::command]
pub fn rescan(app: AppHandle) -> CmdResult<()> {
    let mut sources: Vec<PathBuf> = {
        let state = app.state::<AppState>();
        let c = state.catalog();
        c.import_runs(20)
            .map_err(msg)?
            .into_iter()
            .flat_map(|r| r.sources)
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect()
    };
    sources.sort();
    sources.dedup();
    if sources.is_empty() {
        return Err("nothing has been imported into this catalog yet".into());
    }
    jobs::start(&app, "import", move |app, cancel| {
        jobs::import(app, sources, false, cancel)
    })
    .map_err(msg)
}

#[tauri::command]
pub fn download_model(app: AppHandle, id: String) -> CmdResult<()> {
    jobs::start(&app, "download", move |app, cancel| {
        jobs::download(app, &id, cancel)
    })
    .map_err(msg)
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

/// What the last import skipped, with reasons.
#[tauri::command]
pub async fn import_errors(app: AppHandle) -> CmdResult<Vec<vitrine::ImportErrorRecord>> {
    blocking(move || Ok(app.state::<AppState>().catalog().import_errors(None)?)).await
}
