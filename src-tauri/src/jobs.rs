//! Long work on its own thread: import (then embedding and indexing) and model downloads.
//! One job at a time; progress goes out as `job` events, the end as one `job-done` event.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use vitrine::embed::{EmbedEvent, EmbedReport};
use vitrine::workspace::Stage;
use vitrine::{ImportEvent, ImportOptions, ImportReport, ImportStatus};

use crate::events;
use crate::state::{AppState, Job};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Progress {
    pub kind: &'static str,
    /// `import`, `embed`, `index` or `download`.
    pub phase: &'static str,
    pub done: u64,
    pub total: u64,
    pub skipped: u64,
    pub elapsed_s: f64,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Done {
    pub kind: &'static str,
    pub ok: bool,
    pub cancelled: bool,
    pub error: Option<String>,
    /// The core's code for the error (`model_broken`, `download_failed`…), when it has one.
    pub code: Option<String>,
    pub import: Option<ImportReport>,
    pub embed: Option<EmbedReport>,
    pub seconds: f64,
}

/// Starts `work` on a thread unless a job is running.
pub fn start(
    app: &AppHandle,
    kind: &'static str,
    work: impl FnOnce(&AppHandle, &AtomicBool) -> Result<Done> + Send + 'static,
) -> Result<()> {
    let state = app.state::<AppState>();
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let mut job = state
            .job
            .lock()
            .map_err(|_| anyhow::anyhow!("job slot poisoned"))?;
        if let Some(j) = job.as_ref() {
            bail!("a {} is already running; wait for it or cancel it", j.kind);
        }
        *job = Some(Job {
            kind,
            cancel: cancel.clone(),
        });
    }
    let app = app.clone();
    std::thread::Builder::new()
        .name(format!("vitrine-{kind}"))
        .spawn(move || {
            let started = Instant::now();
            let mut done = work(&app, &cancel).unwrap_or_else(|e| {
                let code = e.downcast_ref::<vitrine::Error>().map(|e| e.code());
                let cancelled = code == Some(vitrine::ErrorCode::Cancelled);
                Done {
                    kind,
                    cancelled,
                    error: (!cancelled).then(|| format!("{e:#}")),
                    code: code.map(|c| c.as_str().to_string()),
                    ..Done::default()
                }
            });
            done.seconds = started.elapsed().as_secs_f64();
            tracing::info!(kind, ok = done.ok, error = ?done.error, "job finished");
            if let Ok(mut j) = app.state::<AppState>().job.lock() {
                *j = None;
            }
            let _ = app.emit(events::JOB_DONE, &done);
        })
        .context("cannot start a worker thread")?;
    Ok(())
}

/// Throttles progress events to about 10 a second (and always sends the last).
struct Emitter10 {
    app: AppHandle,
    started: Instant,
    last: std::sync::Mutex<Option<Instant>>,
}

impl Emitter10 {
    fn new(app: &AppHandle) -> Self {
        Emitter10 {
            app: app.clone(),
            started: Instant::now(),
            last: std::sync::Mutex::new(None),
        }
    }
    fn send(&self, mut p: Progress) {
        let now = Instant::now();
        if let Ok(mut last) = self.last.lock() {
            let final_one = p.done >= p.total;
            if !final_one && last.is_some_and(|l| now.duration_since(l).as_millis() < 100) {
                return;
            }
            *last = Some(now);
        }
        p.elapsed_s = self.started.elapsed().as_secs_f64();
        tracing::debug!(?p, "progress");
        if let Err(e) = self.app.emit(events::JOB_PROGRESS, &p) {
            tracing::warn!("progress event not sent: {e}");
        }
    }
}

/// Progress events of a job's stages (import, embedding, indexing), as `kind`.
fn stage_progress<'a>(em: &'a Emitter10, kind: &'static str) -> impl Fn(Stage) + Sync + 'a {
    move |stage: Stage| {
        let (phase, done, total, skipped, message) = match stage {
            Stage::Import(ImportEvent::Planned { to_process, .. }) => {
                ("import", 0, *to_process, 0, "Reading photos")
            }
            Stage::Import(ImportEvent::Progress {
                done,
                total,
                skipped,
                ..
            }) => ("import", *done, *total, *skipped, "Reading photos"),
            Stage::Embed(EmbedEvent::Planned { photos, products }) => (
                "embed",
                0,
                photos + products,
                0,
                "Understanding photos and text",
            ),
            Stage::Embed(EmbedEvent::Progress {
                photos_done,
                photos_total,
                products_done,
                products_total,
            }) => (
                "embed",
                photos_done + products_done,
                photos_total + products_total,
                0,
                "Understanding photos and text",
            ),
            Stage::Indexing => ("index", 0, 1, 0, "Building the search index"),
            Stage::Imported(_) | Stage::Embedded(_) | Stage::Indexed(_) => return,
        };
        em.send(Progress {
            kind,
            phase,
            done: done as u64,
            total: total as u64,
            skipped: skipped as u64,
            elapsed_s: 0.0,
            message: message.into(),
        });
    }
}

pub fn import(
    app: &AppHandle,
    sources: Vec<PathBuf>,
    prune: bool,
    cancel: &AtomicBool,
) -> Result<Done> {
    let state = app.state::<AppState>();
    let mut ws = state.location().open()?;
    let opts = ImportOptions {
        sources,
        prune,
        ..ImportOptions::default()
    };
    let em = Emitter10::new(app);
    let on_stage = stage_progress(&em, "import");
    let outcome = ws.import_and_index(&opts, true, &on_stage, cancel)?;
    let completed = outcome.import.status == ImportStatus::Completed;
    let embed_cancelled = outcome.embed.as_ref().is_some_and(|e| e.cancelled);
    let done = Done {
        kind: "import",
        ok: completed && !embed_cancelled,
        cancelled: !completed || embed_cancelled,
        import: Some(outcome.import),
        embed: outcome.embed,
        ..Done::default()
    };
    match outcome.encoders {
        // What was committed is searchable, even after a cancel.
        Some(encoders) => state.set_searcher(Arc::new(ws.searcher_with(encoders)?)),
        None => state.forget_searcher(),
    }
    crate::commands::catalog::allow_photos(app)?;
    let _ = app.emit(events::CATALOG_CHANGED, ());
    Ok(done)
}

pub fn download(app: &AppHandle, id: &str, cancel: &AtomicBool) -> Result<Done> {
    let state = app.state::<AppState>();
    let models = state.models()?;
    let m = models.get(id)?.clone();
    let em = Emitter10::new(app);
    let mut progress = |file: &str, done: u64, total: u64| {
        em.send(Progress {
            kind: "download",
            phase: "download",
            done,
            total,
            skipped: 0,
            elapsed_s: 0.0,
            message: file.to_string(),
        });
    };
    models.download(&m, &mut progress, cancel)?;
    state.forget_searcher();
    let mut done = Done {
        kind: "download",
        ok: true,
        ..Done::default()
    };
    // A model the catalog uses embeds the catalog right away, so its signals turn on by
    // themselves.
    let mut ws = state.location().open()?;
    if ws.active_models(&models)?.contains(&m.id) {
        let encoders = ws.encoders()?;
        if let Some(u) = encoders.unavailable.iter().find(|u| u.model_id == m.id) {
            done.ok = false;
            done.error = Some(format!(
                "the model was downloaded but cannot be loaded: {}",
                u.reason
            ));
            done.code = Some(u.code.as_str().to_string());
            return Ok(done);
        }
        let (report, _) =
            ws.embed_and_index(&encoders, 32, &stage_progress(&em, "download"), cancel)?;
        done.cancelled = report.cancelled;
        done.ok = !report.cancelled;
        done.embed = Some(report);
        state.set_searcher(Arc::new(ws.searcher_with(encoders)?));
        let _ = app.emit(events::CATALOG_CHANGED, ());
    }
    Ok(done)
}
