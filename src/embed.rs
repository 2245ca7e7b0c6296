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
use crate::domain::SkipKind;
use crate::encoders::{ClipEncoder, TextEncoder};
use crate::error::{Error, Result};
use crate::model_choice::{Encoders, Unavailable};
use crate::models::Manifest;
use crate::photo;
use crate::store::{ProductData, Store};

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

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
    path: String,
    phash: Option<crate::domain::PHash>,
    pixels: Option<Vec<f32>>,
    error: Option<ImportErrorRecord>,
}

fn prepare(hash: &str, path: &str, need_phash: bool, clip: Option<&ClipEncoder>) -> Prepared {
    let mut out = Prepared {
        hash: hash.to_string(),
        path: path.to_string(),
        phash: None,
        pixels: None,
        error: None,
    };
    let img = photo::read_file(Path::new(path))
        .and_then(|b| photo::decode_for_model(&b, photo::DEFAULT_MAX_PIXELS));
    match img {
        Ok(img) => {
            if need_phash {
                out.phash = Some(crate::phash::phash(&img));
            }
            out.pixels = clip.map(|c| c.preprocess(&img));
        }
        Err(e) => {
            out.error = Some(ImportErrorRecord {
                item: path.to_string(),
                line: None,
                kind: e.kind(),
                message: e.to_string(),
            })
        }
    }
    out
}

/// A skipped item when `model` gave `item` a vector with NaN or infinite numbers: such a
/// vector would make every score NaN, so it is never stored.
fn non_finite(model: &str, v: &[f32], item: &str) -> Option<ImportErrorRecord> {
    (!v.iter().all(|x| x.is_finite())).then(|| ImportErrorRecord {
        item: item.to_string(),
        line: None,
        kind: SkipKind::BadEmbedding,
        message: format!(
            "the model {model} is broken: it gave NaN or infinite numbers; download it again or choose another model"
        ),
    })
}

/// A photo to embed: content hash, a path to read it from, whether it needs a perceptual hash
/// and whether it needs a CLIP embedding.
type PhotoToEmbed = (String, String, bool, bool);

/// A product whose text needs embedding: id, the text, and the text's hash.
type ProductText = (i64, String, String);

/// Embeds what is missing or changed: photos (CLIP embedding, perceptual hash) and products
/// (product-text embedding). Work is committed batch by batch.
pub fn run(
    catalog: &mut Catalog,
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
    let photos = catalog
        .store
        .photos_to_embed(clip.map(|(m, _)| m.id.as_str()))?;
    let products: Vec<ProductText> = match text {
        Some((m, _)) => catalog
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
    let totals = (photos.len(), products.len());
    let photo_start = Instant::now();
    let photos_done = embed_photos(
        &mut catalog.store,
        clip,
        &photos,
        batch,
        totals,
        &mut report,
        on_event,
        cancel,
    )?;
    report.photo_seconds = photo_start.elapsed().as_secs_f64();
    if let Some((m, e)) = text {
        let progress = |products_done| EmbedEvent::Progress {
            photos_done,
            photos_total: totals.0,
            products_done,
            products_total: totals.1,
        };
        embed_products(
            &mut catalog.store,
            (&m.id, e),
            &products,
            batch,
            &mut report,
            &|done| on_event(&progress(done)),
            cancel,
        )?;
    }
    report.cancelled = cancel.load(Ordering::Relaxed);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Photos: a producer thread decodes and preprocesses batches in parallel (rayon) while this
/// thread runs the model on the previous batch and writes the results. Returns the photos done.
#[allow(clippy::too_many_arguments)]
fn embed_photos(
    store: &mut Store,
    clip: Option<&(Manifest, ClipEncoder)>,
    photos: &[PhotoToEmbed],
    batch: usize,
    (photos_total, products_total): (usize, usize),
    report: &mut EmbedReport,
    on_event: &(dyn Fn(&EmbedEvent) + Sync),
    cancel: &AtomicBool,
) -> Result<usize> {
    let mut photos_done = 0;
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Prepared>>(2);
        let clip_enc = clip.map(|(_, e)| e);
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
            let t = store.transaction()?;
            let mut stored = 0;
            for (p, v) in with_pixels.iter().zip(&vectors) {
                let Some((m, _)) = clip else { continue };
                if let Some(bad) = non_finite(&m.id, v, p.path.as_str()) {
                    report.skipped.push(bad);
                    continue;
                }
                Store::put_photo_embedding(&t, &p.hash, &m.id, v)?;
                stored += 1;
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
            report.photos_embedded += stored;
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
    Ok(photos_done)
}

/// Products, shortest texts together so that each batch pads little; `progress` gets the
/// number of products done after each batch.
fn embed_products(
    store: &mut Store,
    (model, encoder): (&str, &TextEncoder),
    products: &[ProductText],
    batch: usize,
    report: &mut EmbedReport,
    progress: &dyn Fn(usize),
    cancel: &AtomicBool,
) -> Result<()> {
    let mut order: Vec<usize> = (0..products.len()).collect();
    order.sort_by_key(|&i| products[i].1.len());
    for chunk in order.chunks(batch) {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let texts: Vec<&str> = chunk.iter().map(|&i| products[i].1.as_str()).collect();
        let vectors = encoder.embed(&texts)?;
        if vectors.len() != chunk.len() {
            return Err(Error::Model(
                "the text encoder returned a wrong number of vectors".into(),
            ));
        }
        let t = store.transaction()?;
        for (&i, v) in chunk.iter().zip(&vectors) {
            if let Some(bad) = non_finite(model, v, &format!("product {}", products[i].0)) {
                report.skipped.push(bad);
                continue;
            }
            Store::put_product_embedding(&t, products[i].0, model, v, &products[i].2)?;
            report.products_embedded += 1;
        }
        t.commit()?;
        progress(report.products_embedded);
    }
    Ok(())
}
