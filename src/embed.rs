//! The embedding pipeline: CLIP embeddings and perceptual hashes of photos, product-text
//! embeddings of products, for whatever is missing or changed. Photos are decoded and
//! preprocessed in parallel while the previous batch runs through the model. Embeddings are
//! stored per item and model, so switching models never mixes vectors.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::catalog::{Catalog, ImportErrorRecord};
use crate::encoders::{ClipEncoder, DeviceChoice, TextEncoder};
use crate::error::{Error, Result};
use crate::models::{Manifest, ModelKind, Models};
use crate::photo;
use crate::store::{ProductData, Store};

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
#[derive(Debug, Clone, Serialize)]
pub struct Unavailable {
    pub kind: ModelKind,
    pub model_id: String,
    pub reason: String,
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
            let Some(active) = catalog.active_model(models, kind)? else {
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
                    ModelKind::Clip => models.load_clip(m, &device).map(|e| {
                        let slot = if pending {
                            &mut out.clip_pending
                        } else {
                            &mut out.clip
                        };
                        *slot = Some((m.clone(), e));
                    }),
                    ModelKind::Text => models.load_text(m, &device).map(|e| {
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
    fn embedding_clip(&self) -> Option<&(Manifest, ClipEncoder)> {
        self.clip_pending.as_ref().or(self.clip.as_ref())
    }

    fn embedding_text(&self) -> Option<&(Manifest, TextEncoder)> {
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

/// What the product-text encoder reads for a product: title, category, colour, description.
pub fn product_text(p: &ProductData) -> String {
    let category = p.category.replace('/', " / ");
    [
        p.title.as_str(),
        category.as_str(),
        p.color.as_str(),
        p.description.as_str(),
    ]
    .iter()
    .filter(|s| !s.trim().is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(". ")
}

#[derive(Debug, Clone)]
pub struct EmbedOptions {
    pub batch_size: usize,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions { batch_size: 32 }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EmbedEvent {
    Planned {
        photos: usize,
        products: usize,
    },
    Progress {
        photos_done: usize,
        photos_total: usize,
        products_done: usize,
        products_total: usize,
    },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EmbedReport {
    pub clip_model: Option<String>,
    pub text_model: Option<String>,
    pub photos_embedded: usize,
    pub phashes_added: usize,
    pub products_embedded: usize,
    pub skipped: Vec<ImportErrorRecord>,
    pub unavailable: Vec<Unavailable>,
    pub cancelled: bool,
    pub seconds: f64,
    pub photo_seconds: f64,
}

struct Prepared {
    hash: String,
    phash: Option<i64>,
    pixels: Option<Vec<f32>>,
    error: Option<ImportErrorRecord>,
}

fn prepare(hash: &str, path: &str, need_phash: bool, clip: Option<&ClipEncoder>) -> Prepared {
    let mut out = Prepared {
        hash: hash.to_string(),
        phash: None,
        pixels: None,
        error: None,
    };
    let img = photo::read_file(Path::new(path))
        .and_then(|b| photo::decode_for_model(&b, photo::DEFAULT_MAX_PIXELS));
    match img {
        Ok(img) => {
            if need_phash {
                out.phash = Some(crate::phash::phash(&img) as i64);
            }
            out.pixels = clip.map(|c| c.preprocess(&img));
        }
        Err(e) => {
            out.error = Some(ImportErrorRecord {
                item: path.to_string(),
                line: None,
                kind: e.kind().to_string(),
                message: e.to_string(),
            })
        }
    }
    out
}

impl Catalog {
    /// The model registry for this catalog: the built-in manifests plus the folders
    /// registered with [`Catalog::add_model`], with files under `models_dir`.
    pub fn models(&self, models_dir: &Path) -> Result<Models> {
        let added: Vec<Manifest> = match self.store.setting(ADDED_KEY)? {
            Some(s) => serde_json::from_str(&s)?,
            None => Vec::new(),
        };
        Ok(Models::new(models_dir, added))
    }

    /// Registers a model folder that is not in the registry; returns its manifest.
    pub fn add_model(&self, dir: &Path, id: Option<&str>) -> Result<Manifest> {
        let m = Models::describe_folder(dir, id)?;
        let mut added: Vec<Manifest> = match self.store.setting(ADDED_KEY)? {
            Some(s) => serde_json::from_str(&s)?,
            None => Vec::new(),
        };
        added.retain(|a| a.id != m.id);
        added.push(m.clone());
        self.store
            .set_setting(ADDED_KEY, &serde_json::to_string(&added)?)?;
        Ok(m)
    }

    /// Makes `id` the catalog's model of its kind. Vectors of the previous model stay stored.
    pub fn use_model(&self, models: &Models, id: &str) -> Result<Manifest> {
        let m = models.get(id)?.clone();
        if let Some(current) = self.active_model(models, m.kind)?
            && current.id != m.id
        {
            self.store.set_setting(previous_key(m.kind), &current.id)?;
        }
        self.store.set_setting(active_key(m.kind), &m.id)?;
        Ok(m)
    }

    /// The catalog's model of a kind: the one chosen with [`Catalog::use_model`], else the default.
    pub fn active_model(&self, models: &Models, kind: ModelKind) -> Result<Option<Manifest>> {
        if let Some(id) = self.store.setting(active_key(kind))?
            && let Ok(m) = models.get(&id)
        {
            return Ok(Some(m.clone()));
        }
        Ok(models.default_for(kind).cloned())
    }

    /// Builds (or rebuilds) the nearest-neighbour index of each model's vectors that has
    /// [`crate::index::EXACT_BELOW`] vectors or more, when it is missing or when more than a
    /// tenth of the vectors came after its build (`force`: always). Returns what was built.
    pub fn build_indexes(&self, enc: &Encoders, force: bool) -> Result<Vec<String>> {
        use crate::index::{EXACT_BELOW, Hnsw};
        let mut built = Vec::new();
        let sides = [
            enc.clip.as_ref().map(|(m, _)| (m.id.clone(), "image")),
            enc.text.as_ref().map(|(m, _)| (m.id.clone(), "product")),
        ];
        for (model, kind) in sides.into_iter().flatten() {
            let count = self.store.vector_count(kind, &model)?;
            let path = self.index_path(&model, kind);
            if count < EXACT_BELOW {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !force
                && let Ok(old) = Hnsw::load(&path)
                && old.len() * 10 >= count * 9
            {
                continue;
            }
            self.index_for(&model, kind)?;
            built.push(format!("{model} ({kind}, {count} vectors)"));
        }
        Ok(built)
    }

    /// The stored embedding of the photo with content `hash` by `model`.
    pub fn photo_vector(&self, model: &str, hash: &str) -> Result<Option<Vec<f32>>> {
        self.store.photo_vector(model, hash)
    }

    /// Embeds what is missing or changed: photos (CLIP embedding, perceptual hash) and products
    /// (product-text embedding). Work is committed batch by batch.
    pub fn embed(
        &mut self,
        enc: &Encoders,
        opts: &EmbedOptions,
        on_event: &(dyn Fn(&EmbedEvent) + Sync),
        cancel: &AtomicBool,
    ) -> Result<EmbedReport> {
        let started = Instant::now();
        let batch = opts.batch_size.max(1);
        let clip = enc.embedding_clip();
        let text = enc.embedding_text();
        let mut report = EmbedReport {
            clip_model: clip.map(|(m, _)| m.id.clone()),
            text_model: text.map(|(m, _)| m.id.clone()),
            unavailable: enc.unavailable.clone(),
            ..Default::default()
        };
        let photos = self
            .store
            .photos_to_embed(clip.map(|(m, _)| m.id.as_str()))?;
        let products: Vec<(i64, String, String)> = match text {
            Some((m, _)) => self
                .store
                .products_for_text(&m.id)?
                .into_iter()
                .filter_map(|(id, data, old)| {
                    let text = product_text(&data);
                    let h = blake3::hash(text.as_bytes()).to_hex().to_string();
                    (old.as_deref() != Some(h.as_str())).then_some((id, text, h))
                })
                .collect(),
            None => Vec::new(),
        };
        on_event(&EmbedEvent::Planned {
            photos: photos.len(),
            products: products.len(),
        });
        let (photos_total, products_total) = (photos.len(), products.len());
        let mut photos_done = 0;

        // Photos: a producer thread decodes and preprocesses batches in parallel (rayon) while
        // this thread runs the model on the previous batch and writes the results.
        let photo_start = Instant::now();
        std::thread::scope(|s| -> Result<()> {
            let (tx, rx) = mpsc::sync_channel::<Vec<Prepared>>(2);
            let clip_enc = clip.map(|(_, e)| e);
            let photos = &photos;
            s.spawn(move || {
                for chunk in photos.chunks(batch) {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let prepared: Vec<Prepared> = chunk
                        .par_iter()
                        .map(|(hash, path, need_phash, need_embed)| {
                            prepare(
                                hash,
                                path,
                                *need_phash,
                                if *need_embed { clip_enc } else { None },
                            )
                        })
                        .collect();
                    if tx.send(prepared).is_err() {
                        break;
                    }
                }
            });
            for prepared in rx.iter() {
                let with_pixels: Vec<&Prepared> =
                    prepared.iter().filter(|p| p.pixels.is_some()).collect();
                let vectors = match (clip, with_pixels.is_empty()) {
                    (Some((_, e)), false) => {
                        let px: Vec<Vec<f32>> = with_pixels
                            .iter()
                            .filter_map(|p| p.pixels.clone())
                            .collect();
                        e.embed_pixels(&px)?
                    }
                    _ => Vec::new(),
                };
                let t = self.store.transaction()?;
                for (p, v) in with_pixels.iter().zip(&vectors) {
                    if let Some((m, _)) = clip {
                        Store::put_photo_embedding(&t, &p.hash, &m.id, v)?;
                    }
                }
                for p in &prepared {
                    if let Some(ph) = p.phash {
                        Store::put_photo_phash(&t, &p.hash, ph)?;
                        report.phashes_added += 1;
                    }
                    if let Some(e) = &p.error {
                        report.skipped.push(e.clone());
                    }
                }
                t.commit()?;
                report.photos_embedded += vectors.len();
                photos_done += prepared.len();
                on_event(&EmbedEvent::Progress {
                    photos_done,
                    photos_total,
                    products_done: 0,
                    products_total,
                });
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok(())
        })?;
        report.photo_seconds = photo_start.elapsed().as_secs_f64();

        // Products: shortest texts together, so each batch pads little.
        if let Some((m, e)) = text {
            let mut order: Vec<usize> = (0..products.len()).collect();
            order.sort_by_key(|&i| products[i].1.len());
            for chunk in order.chunks(batch) {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let texts: Vec<&str> = chunk.iter().map(|&i| products[i].1.as_str()).collect();
                let vectors = e.embed(&texts)?;
                if vectors.len() != chunk.len() {
                    return Err(Error::Model(
                        "the text encoder returned a wrong number of vectors".into(),
                    ));
                }
                let t = self.store.transaction()?;
                for (&i, v) in chunk.iter().zip(&vectors) {
                    Store::put_product_embedding(&t, products[i].0, &m.id, v, &products[i].2)?;
                }
                t.commit()?;
                report.products_embedded += chunk.len();
                on_event(&EmbedEvent::Progress {
                    photos_done,
                    photos_total,
                    products_done: report.products_embedded,
                    products_total,
                });
            }
        }
        report.cancelled = cancel.load(Ordering::Relaxed);
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}
