//! Long work on its own thread: import (then embedding and indexing) and model downloads.
//! One job at a time; progress goes out as `job` events, the end as one `job-done` event.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use vitrine::embed::{EmbedEvent, EmbedOptions, EmbedReport, Encoders};
use vitrine::search::Searcher;
use vitrine::{Catalog, ImportEvent, ImportOptions, ImportReport};

use crate::state::{AppState, Job};

#[derive(Debug, Clone, Serialize)]
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
pub struct Done {
    pub kind: &'static str,
    pub ok: bool,
    pub cancelled: bool,
    pub error: Option<String>,
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
            let mut done = work(&app, &cancel).unwrap_or_else(|e| Done {
                kind,
                error: Some(format!("{e:#}")),
                ..Done::default()
            });
            done.seconds = started.elapsed().as_secs_f64();
            tracing::info!(kind, ok = done.ok, error = ?done.error, "job finished");
            if let Ok(mut j) = app.state::<AppState>().job.lock() {
                *j = None;
            }
            let _ = app.emit("job-done", &done);
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
        if let Err(e) = self.app.emit("job", &p) {
            tracing::warn!("progress event not sent: {e}");
        }
    }
}

pub fn import(
    app: &AppHandle,
    sources: Vec<PathBuf>,
    prune: bool,
    cancel: &AtomicBool,
) -> Result<Done> {
    let state = app.state::<AppState>();
    let loc = state.location();
    let mut catalog = Catalog::open(&loc.catalog)?;
    let opts = ImportOptions {
        sources,
        prune,
        ..ImportOptions::default()
    };
    let em = Emitter10::new(app);
    let on_import = |e: &ImportEvent| {
        let (done, total, skipped) = match e {
            ImportEvent::Planned { to_process, .. } => (0, *to_process, 0),
            ImportEvent::Progress {
                done,
                total,
                skipped,
                ..
            } => (*done, *total, *skipped),
        };
        em.send(Progress {
            kind: "import",
            phase: "import",
            done: done as u64,
            total: total as u64,
            skipped: skipped as u64,
            elapsed_s: 0.0,
            message: "Reading photos".into(),
        });
    };
    let report = catalog.import(&opts, &on_import, cancel)?;
    let mut done = Done {
        kind: "import",
        ok: report.status == "completed",
        cancelled: report.status != "completed",
        ..Done::default()
    };
    if done.ok {
        let models = loc.models_of(&catalog)?;
        let encoders = Encoders::load(&catalog, &models, loc.device)?;
        let em = Emitter10::new(app);
        let on_embed = |e: &EmbedEvent| {
            let (d, t) = match e {
                EmbedEvent::Planned { photos, products } => (0, photos + products),
                EmbedEvent::Progress {
                    photos_done,
                    photos_total,
                    products_done,
                    products_total,
                } => (photos_done + products_done, photos_total + products_total),
            };
            em.send(Progress {
                kind: "import",
                phase: "embed",
                done: d as u64,
                total: t as u64,
                skipped: 0,
                elapsed_s: 0.0,
                message: "Understanding photos and text".into(),
            });
        };
        let embed = catalog.embed(&encoders, &EmbedOptions::default(), &on_embed, cancel)?;
        done.cancelled = embed.cancelled;
        done.ok = !embed.cancelled;
        done.embed = Some(embed);
        if done.ok {
            em.send(Progress {
                kind: "import",
                phase: "index",
                done: 0,
                total: 1,
                skipped: 0,
                elapsed_s: 0.0,
                message: "Building the search index".into(),
            });
            catalog.build_indexes(&encoders, false)?;
        }
        // What was committed is searchable, even after a cancel.
        state.set_searcher(Arc::new(Searcher::open(&catalog, encoders)?));
    } else {
        state.forget_searcher();
    }
    crate::commands::allow_photos(app)?;
    done.import = Some(report);
    let _ = app.emit("catalog-changed", ());
    Ok(done)
}

pub fn download(app: &AppHandle, id: &str, cancel: &AtomicBool) -> Result<Done> {
    let state = app.state::<AppState>();
    let models = state.models()?;
    let m = models.get(id)?.clone();
    let em = Emitter10::new(app);
    let mut progress = |file: &str, done: u64, total: u64| {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
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
    models.download(&m, &mut progress)?;
    state.forget_searcher();
    Ok(Done {
        kind: "download",
        ok: true,
        ..Done::default()
    })
}
