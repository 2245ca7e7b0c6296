//! Which models a catalog uses: the registry it sees (built-in manifests plus folders the
//! user registered), the active model of each kind and the previous one that keeps serving
//! during a switch, and the encoders loaded for them. Choices are stored in the catalog.

use std::path::Path;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::encoders::{ClipEncoder, DeviceChoice, TextEncoder};
use crate::error::{ErrorCode, Result};
use crate::models::{Manifest, ModelKind, Models};

const ADDED_KEY: &str = "models.added";

fn active_key(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Clip => "models.clip",
        ModelKind::Text => "models.text",
    }
}

fn previous_key(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Clip => "models.clip.previous",
        ModelKind::Text => "models.text.previous",
    }
}

/// A signal whose model could not be loaded, and what to do about it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct Unavailable {
    pub kind: ModelKind,
    pub model_id: String,
    pub reason: String,
    /// Why, as a stable code (`model_missing`, `model_broken`…); not in the JSON outputs.
    #[serde(skip_serializing)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub code: ErrorCode,
}

/// The encoders a catalog uses, loaded once. `clip` and `text` serve searches; right after a
/// model switch they are the previous models, whose vectors are complete, while the new ones
/// (`*_pending`) embed the catalog. Once the new vectors are complete they serve.
pub struct Encoders {
    pub clip: Option<(Manifest, ClipEncoder)>,
    pub text: Option<(Manifest, TextEncoder)>,
    pub clip_pending: Option<(Manifest, ClipEncoder)>,
    pub text_pending: Option<(Manifest, TextEncoder)>,
    pub unavailable: Vec<Unavailable>,
}

impl Encoders {
    /// Loads the catalog's active CLIP and product-text models. A model that is missing or
    /// damaged is listed in `unavailable`; the other signals keep working.
    pub fn load(catalog: &Catalog, models: &Models, device: DeviceChoice) -> Result<Encoders> {
        let device = device.device()?;
        let mut out = Encoders::none();
        let stats = catalog.stats()?;
        let complete = |id: &str, kind: ModelKind| {
            let (owner, need) = match kind {
                ModelKind::Clip => ("image", stats.images),
                ModelKind::Text => ("product", stats.products),
            };
            stats
                .embeddings
                .iter()
                .any(|(m, o, n)| m == id && o == owner && *n >= need)
        };
        for kind in [ModelKind::Clip, ModelKind::Text] {
            let Some(active) = active_model(catalog, models, kind)? else {
                continue;
            };
            // The previous model keeps serving while the active one's vectors are incomplete.
            let previous = catalog
                .store
                .setting(previous_key(kind))?
                .and_then(|id| models.get(&id).ok().cloned())
                .filter(|p| {
                    p.id != active.id
                        && complete(&p.id, kind)
                        && !complete(&active.id, kind)
                        && models.is_present(p)
                });
            let mut load = |m: &Manifest, pending: bool| -> bool {
                let loaded = match kind {
                    ModelKind::Clip => models.load_clip_on(m, &device).map(|e| {
                        let slot = if pending {
                            &mut out.clip_pending
                        } else {
                            &mut out.clip
                        };
                        *slot = Some((m.clone(), e));
                    }),
                    ModelKind::Text => models.load_text_on(m, &device).map(|e| {
                        let slot = if pending {
                            &mut out.text_pending
                        } else {
                            &mut out.text
                        };
                        *slot = Some((m.clone(), e));
                    }),
                };
                match loaded {
                    Ok(()) => true,
                    Err(e) => {
                        out.unavailable.push(Unavailable {
                            kind,
                            model_id: m.id.clone(),
                            reason: e.to_string(),
                            code: e.code(),
                        });
                        false
                    }
                }
            };
            // With a previous model serving, the active one loads as pending; if the
            // previous one cannot load, the active one serves.
            let serving_previous = previous.is_some_and(|p| load(&p, false));
            load(&active, serving_previous);
        }
        Ok(out)
    }

    /// The models to embed with: the pending ones where a switch is under way.
    pub(crate) fn embedding_clip(&self) -> Option<&(Manifest, ClipEncoder)> {
        self.clip_pending.as_ref().or(self.clip.as_ref())
    }

    pub(crate) fn embedding_text(&self) -> Option<&(Manifest, TextEncoder)> {
        self.text_pending.as_ref().or(self.text.as_ref())
    }

    pub fn none() -> Encoders {
        Encoders {
            clip: None,
            text: None,
            clip_pending: None,
            text_pending: None,
            unavailable: Vec::new(),
        }
    }
}

/// The model registry for this catalog: the built-in manifests plus the folders
/// registered with [`add_model`], with files under `models_dir`.
pub fn registry(catalog: &Catalog, models_dir: &Path) -> Result<Models> {
    let added: Vec<Manifest> = match catalog.store.setting(ADDED_KEY)? {
        Some(s) => serde_json::from_str(&s)?,
        None => Vec::new(),
    };
    Ok(Models::new(models_dir, added))
}

/// Registers a model folder that is not in the registry; returns its manifest.
pub fn add_model(catalog: &Catalog, dir: &Path, id: Option<&str>) -> Result<Manifest> {
    let m = Models::describe_folder(dir, id)?;
    let mut added: Vec<Manifest> = match catalog.store.setting(ADDED_KEY)? {
        Some(s) => serde_json::from_str(&s)?,
        None => Vec::new(),
    };
    added.retain(|a| a.id != m.id);
    added.push(m.clone());
    catalog
        .store
        .set_setting(ADDED_KEY, &serde_json::to_string(&added)?)?;
    Ok(m)
}

/// Makes `id` the catalog's model of its kind. Vectors of the previous model stay stored.
pub fn use_model(catalog: &Catalog, models: &Models, id: &str) -> Result<Manifest> {
    let m = models.get(id)?.clone();
    if let Some(current) = active_model(catalog, models, m.kind)?
        && current.id != m.id
    {
        catalog
            .store
            .set_setting(previous_key(m.kind), &current.id)?;
    }
    catalog.store.set_setting(active_key(m.kind), &m.id)?;
    Ok(m)
}

/// The catalog's model of a kind: the one chosen with [`use_model`], else the default.
pub fn active_model(
    catalog: &Catalog,
    models: &Models,
    kind: ModelKind,
) -> Result<Option<Manifest>> {
    if let Some(id) = catalog.store.setting(active_key(kind))?
        && let Ok(m) = models.get(&id)
    {
        return Ok(Some(m.clone()));
    }
    Ok(models.default_for(kind).cloned())
}
