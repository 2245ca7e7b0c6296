//! One way to open things: a catalog with its models folder, the device the encoders run on
//! and CLIP's precision. The CLI and the app open a [`Workspace`] and ask it for a searcher,
//! an import with embedding and indexing, or the models' statuses, instead of wiring the
//! pieces themselves.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::embed::{self, EmbedEvent, EmbedOptions, EmbedReport};
use crate::encoders::{DeviceChoice, Precision};
use crate::error::Result;
use crate::import::{self, ImportEvent, ImportOptions, ImportReport};
use crate::model_choice::{self, Encoders};
use crate::models::{Manifest, ModelKind, Models};
use crate::search::{SIGNALS, Searcher, Signal};
use crate::vectors;

/// Where and how a catalog's models run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub models_dir: PathBuf,
    pub device: DeviceChoice,
    pub precision: Precision,
}

/// An open catalog with its models folder, device and precision.
pub struct Workspace {
    catalog: Catalog,
    settings: Settings,
}

/// What an import with embedding and indexing reports while it runs, stage by stage.
#[derive(Debug)]
pub enum Stage<'a> {
    Import(&'a ImportEvent),
    /// The import's own work is done (committed); embedding comes next if it completed.
    Imported(&'a ImportReport),
    Embed(&'a EmbedEvent),
    Embedded(&'a EmbedReport),
    /// Building the nearest-neighbour indexes that are due.
    Indexing,
    /// One index was built (its model, owner kind and size, in words).
    Indexed(&'a str),
}

/// What [`Workspace::import_and_index`] did.
pub struct ImportOutcome {
    pub import: ImportReport,
    /// Absent when the import did not complete or embedding was not asked for.
    pub embed: Option<EmbedReport>,
    /// The indexes built.
    pub indexes: Vec<String>,
    /// The encoders that embedded, ready to serve a searcher (absent without embedding).
    pub encoders: Option<Encoders>,
}

/// A model of the registry and how it stands for this catalog.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    pub manifest: Manifest,
    pub present: bool,
    /// The catalog uses it for its kind.
    pub active: bool,
    pub folder: PathBuf,
}

/// Whether a signal can run, and if not, why (the model it needs could not be loaded).
#[derive(Debug, Clone, Serialize)]
pub struct SignalStatus {
    pub signal: Signal,
    pub available: bool,
    /// The model it needs and why it is off, when it is.
    pub unavailable: Option<model_choice::Unavailable>,
}

impl Workspace {
    /// Opens (creating if needed) the catalog in `catalog_dir`.
    pub fn open(catalog_dir: impl AsRef<Path>, settings: Settings) -> Result<Workspace> {
        Ok(Workspace {
            catalog: Catalog::open(catalog_dir)?,
            settings,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn catalog_mut(&mut self) -> &mut Catalog {
        &mut self.catalog
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The catalog's model registry, CLIP at the workspace's precision.
    pub fn models(&self) -> Result<Models> {
        Ok(
            model_choice::registry(&self.catalog, &self.settings.models_dir)?
                .with_precision(self.settings.precision),
        )
    }

    /// The catalog's encoders, loaded on the workspace's device; missing models are listed in
    /// [`Encoders::unavailable`].
    pub fn encoders(&self) -> Result<Encoders> {
        Encoders::load(&self.catalog, &self.models()?, self.settings.device)
    }

    /// A searcher with the catalog's encoders.
    pub fn searcher(&self) -> Result<Searcher> {
        Searcher::open(&self.catalog, self.encoders()?)
    }

    /// A searcher with encoders already loaded (after an import, say).
    pub fn searcher_with(&self, encoders: Encoders) -> Result<Searcher> {
        Searcher::open(&self.catalog, encoders)
    }

    /// Imports, then (when `embed` and the import completed) embeds what is missing and builds
    /// the indexes that are due. With `embed`, the visual model embeds each new photo while the
    /// import has it decoded, so that each is decoded once. Stages are reported to `on_stage`;
    /// `cancel` stops at the next batch, keeping what was committed.
    pub fn import_and_index(
        &mut self,
        opts: &ImportOptions,
        embed: bool,
        on_stage: &(dyn Fn(Stage) + Sync),
        cancel: &AtomicBool,
    ) -> Result<ImportOutcome> {
        // Models that fail to load fail the embedding after the import, as before.
        let encoders = embed.then(|| self.encoders());
        let during = match &encoders {
            Some(Ok(e)) => embed::DuringImport::new(e),
            _ => None,
        };
        let (report, embedded) = import::run_with_model(
            &mut self.catalog,
            opts,
            during.as_ref().map(|m| m as &dyn import::PhotoModel),
            &|e| on_stage(Stage::Import(e)),
            cancel,
        )?;
        on_stage(Stage::Imported(&report));
        let mut outcome = ImportOutcome {
            import: report,
            embed: None,
            indexes: Vec::new(),
            encoders: None,
        };
        if let Some(encoders) = encoders
            && outcome.import.status == crate::ImportStatus::Completed
        {
            let encoders = encoders?;
            let (report, built) =
                self.embed_and_index_after(embedded, &encoders, 32, on_stage, cancel)?;
            outcome.embed = Some(report);
            outcome.indexes = built;
            outcome.encoders = Some(encoders);
        }
        Ok(outcome)
    }

    /// Embeds what is missing with `encoders`, then builds the indexes that are due (unless
    /// cancelled).
    pub fn embed_and_index(
        &mut self,
        encoders: &Encoders,
        batch_size: usize,
        on_stage: &(dyn Fn(Stage) + Sync),
        cancel: &AtomicBool,
    ) -> Result<(EmbedReport, Vec<String>)> {
        self.embed_and_index_after(0, encoders, batch_size, on_stage, cancel)
    }

    /// [`Self::embed_and_index`] after an import whose model embedded `during_import` photos,
    /// counted in the report.
    fn embed_and_index_after(
        &mut self,
        during_import: usize,
        encoders: &Encoders,
        batch_size: usize,
        on_stage: &(dyn Fn(Stage) + Sync),
        cancel: &AtomicBool,
    ) -> Result<(EmbedReport, Vec<String>)> {
        let mut report = embed::run(
            &mut self.catalog,
            encoders,
            &EmbedOptions { batch_size },
            &|e| on_stage(Stage::Embed(e)),
            cancel,
        )?;
        report.photos_embedded += during_import;
        report.photos_during_import = during_import;
        on_stage(Stage::Embedded(&report));
        let mut built = Vec::new();
        if !report.cancelled {
            on_stage(Stage::Indexing);
            built = vectors::build_indexes(&self.catalog, encoders, false)?;
            for b in &built {
                on_stage(Stage::Indexed(b));
            }
        }
        Ok((report, built))
    }

    /// Builds the indexes that are due (`force`: all of them again); returns what was built.
    pub fn build_indexes(&self, force: bool) -> Result<Vec<String>> {
        vectors::build_indexes(&self.catalog, &self.encoders()?, force)
    }

    /// Every model of the registry, whether it is present and whether the catalog uses it.
    pub fn model_statuses(&self) -> Result<Vec<ModelStatus>> {
        let models = self.models()?;
        let active = self.active_models(&models)?;
        Ok(models
            .manifests()
            .iter()
            .map(|m| ModelStatus {
                present: models.is_present(m),
                active: active.contains(&m.id),
                folder: models.folder(m),
                manifest: m.clone(),
            })
            .collect())
    }

    /// The ids of the catalog's active models (CLIP, then product text).
    pub fn active_models(&self, models: &Models) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for kind in [ModelKind::Clip, ModelKind::Text] {
            if let Some(m) = model_choice::active_model(&self.catalog, models, kind)? {
                out.push(m.id);
            }
        }
        Ok(out)
    }

    /// Makes `id` the catalog's model of its kind (the previous one serves until the new one's
    /// vectors are complete).
    pub fn use_model(&self, id: &str) -> Result<Manifest> {
        model_choice::use_model(&self.catalog, &self.models()?, id)
    }

    /// Registers a Hugging Face-layout model folder that is not in the registry.
    pub fn add_model(&self, dir: &Path, id: Option<&str>) -> Result<Manifest> {
        model_choice::add_model(&self.catalog, dir, id)
    }
}

/// Whether each signal can run with these encoders.
pub fn signal_statuses(encoders_unavailable: &[model_choice::Unavailable]) -> Vec<SignalStatus> {
    SIGNALS
        .iter()
        .map(|&signal| {
            let unavailable = signal.requires().and_then(|kind| {
                encoders_unavailable
                    .iter()
                    .find(|u| u.kind == kind)
                    .cloned()
            });
            SignalStatus {
                signal,
                available: unavailable.is_none(),
                unavailable,
            }
        })
        .collect()
}
