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

/// What the product-text encoder reads for a product: title, category, colour, its
/// descriptive attributes ("Brand: Acme"), description.
pub fn product_text(p: &ProductData) -> String {
    text_with(p, &p.description)
}

/// [`product_text`] with `description` in place of the product's own.
fn text_with(p: &ProductData, description: &str) -> String {
    let category = p.category.replace('/', " / ");
    let attributes: Vec<String> = crate::domain::descriptive_attributes(&p.attributes)
        .into_iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    [p.title.as_str(), category.as_str(), p.color.as_str()]
        .into_iter()
        .chain(attributes.iter().map(String::as_str))
        .chain([description])
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join(". ")
}

/// Passages shorter than this many words take in the next sentence too.
const PASSAGE_MIN_WORDS: usize = 12;
/// Longer sentences are cut into pieces of this many words.
const PASSAGE_MAX_WORDS: usize = 48;
/// A very long description gives at most this many passages.
const MAX_PASSAGES: usize = 24;
const _: () = assert!(MAX_PASSAGES <= 1 << crate::store::PASSAGE_SEQ_BITS);

/// A product's passages: first its head (the product text without the description: what the
/// product is), then runs of consecutive description sentences (at least `PASSAGE_MIN_WORDS`
/// words, cut at `PASSAGE_MAX_WORDS`), each after the title so that a passage still says what
/// product it is about. A text query is scored against each passage as well as the whole
/// product, so that a query naming the product ("timepiece", "blue hoodie") is not diluted by
/// its description, nor one that describes a part of a long description by the rest. No runs
/// when the description makes a single passage, and nothing without a description (the whole
/// text is the head).
pub fn passages(p: &ProductData) -> Vec<String> {
    use unicode_segmentation::UnicodeSegmentation;
    let mut runs: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for sentence in p.description.unicode_sentences() {
        let words: Vec<&str> = sentence.split_whitespace().collect();
        for piece in words.chunks(PASSAGE_MAX_WORDS) {
            if current.len() + piece.len() > PASSAGE_MAX_WORDS && !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
            current.extend_from_slice(piece);
            if current.len() >= PASSAGE_MIN_WORDS {
                runs.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        match runs.last_mut() {
            Some(last) if last.len() + current.len() <= PASSAGE_MAX_WORDS => last.extend(current),
            _ => runs.push(current),
        }
    }
    if runs.is_empty() {
        return Vec::new();
    }
    let head = text_with(p, "");
    let title = p.title.trim();
    let mut out: Vec<String> = Some(head)
        .filter(|h| !h.trim().is_empty())
        .into_iter()
        .collect();
    if runs.len() >= 2 {
        out.extend(runs.iter().take(MAX_PASSAGES - 1).map(|r| match title {
            "" => r.join(" "),
            t => format!("{t}. {}", r.join(" ")),
        }));
    }
    out
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
    /// Including those of `photos_during_import`.
    pub photos_embedded: usize,
    /// Photos the model embedded while the import had them decoded
    /// ([`crate::workspace::Workspace::import_and_index`]).
    pub photos_during_import: usize,
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
    let img = photo::read_file(Path::new(path)).and_then(|b| {
        let side = clip.map_or(0, ClipEncoder::decode_side);
        photo::decode_for_model(&b, photo::DEFAULT_MAX_PIXELS, side)
    });
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

/// The visual model the embedding uses, embedding new photos while an import has them
/// decoded ([`crate::import::run_with_model`]): each photo is decoded once, for its thumbnail
/// and for the model. What it leaves undone, [`run`] does after the import.
pub struct DuringImport<'a> {
    id: &'a str,
    encoder: &'a ClipEncoder,
    failed: AtomicBool,
}

impl<'a> DuringImport<'a> {
    /// `None` without a visual model.
    pub fn new(enc: &'a Encoders) -> Option<DuringImport<'a>> {
        enc.embedding_clip().map(|(m, e)| DuringImport {
            id: &m.id,
            encoder: e,
            failed: AtomicBool::new(false),
        })
    }
}

impl crate::import::PhotoModel for DuringImport<'_> {
    fn id(&self) -> &str {
        self.id
    }

    fn decode_side(&self) -> u32 {
        self.encoder.decode_side()
    }

    fn input(&self, img: &image::DynamicImage) -> Vec<f32> {
        self.encoder.preprocess(img)
    }

    fn embed(&self, inputs: &[Vec<f32>]) -> Option<Vec<Vec<f32>>> {
        // After a failure the import goes on without the model; [`run`] meets the failure
        // again and reports it.
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let vectors = self.encoder.embed_pixels(inputs).ok();
        if vectors.is_none() {
            self.failed.store(true, Ordering::Relaxed);
        }
        vectors
    }
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

/// A product whose text needs embedding.
struct ProductText {
    id: i64,
    text: String,
    passages: Vec<String>,
    /// Of the text and the passages.
    hash: String,
}

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
                let passages = passages(&data);
                let mut h = blake3::Hasher::new();
                h.update(text.as_bytes());
                for p in &passages {
                    h.update(b"\0").update(p.as_bytes());
                }
                let hash = h.finalize().to_hex().to_string();
                (old.as_deref() != Some(hash.as_str())).then_some(ProductText {
                    id,
                    text,
                    passages,
                    hash,
                })
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
    if let Some((m, e)) = clip
        && !report.cancelled
        && let Err(err) = crate::hubness::refresh_bank(catalog, &m.id, m.embedding_dim, e)
    {
        tracing::warn!("the bank of titles for {} was not encoded: {err}", m.id);
    }
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
        for mut prepared in rx.iter() {
            // The pixels move to the model; `with_pixels` keeps whose they were.
            let (with_pixels, px): (Vec<usize>, Vec<Vec<f32>>) = prepared
                .iter_mut()
                .enumerate()
                .filter_map(|(i, p)| p.pixels.take().map(|px| (i, px)))
                .unzip();
            let vectors = match (clip, px.is_empty()) {
                (Some((_, e)), false) => e.embed_pixels(&px)?,
                _ => Vec::new(),
            };
            let t = store.transaction()?;
            let mut stored = 0;
            for (&i, v) in with_pixels.iter().zip(&vectors) {
                let (Some((m, _)), p) = (clip, &prepared[i]) else {
                    continue;
                };
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
    order.sort_by_key(|&i| products[i].text.len());
    let embed = |texts: &[&str]| -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for part in texts.chunks(batch) {
            out.extend(encoder.embed(part)?);
        }
        if out.len() != texts.len() {
            return Err(Error::Model(
                "the text encoder returned a wrong number of vectors".into(),
            ));
        }
        Ok(out)
    };
    for chunk in order.chunks(batch) {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let texts: Vec<&str> = chunk.iter().map(|&i| products[i].text.as_str()).collect();
        let vectors = embed(&texts)?;
        let passages: Vec<&str> = chunk
            .iter()
            .flat_map(|&i| products[i].passages.iter().map(String::as_str))
            .collect();
        let mut passage_vectors = embed(&passages)?.into_iter();
        let t = store.transaction()?;
        for (&i, v) in chunk.iter().zip(&vectors) {
            let p = &products[i];
            let own: Vec<Vec<f32>> = passage_vectors.by_ref().take(p.passages.len()).collect();
            let item = format!("product {}", p.id);
            if let Some(bad) = std::iter::once(v)
                .chain(&own)
                .find_map(|v| non_finite(model, v, &item))
            {
                report.skipped.push(bad);
                continue;
            }
            Store::put_passages(&t, p.id, model, &own)?;
            Store::put_product_embedding(&t, p.id, model, v, &p.hash)?;
            report.products_embedded += 1;
        }
        t.commit()?;
        progress(report.products_embedded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(title: &str, description: &str) -> ProductData {
        ProductData {
            title: title.into(),
            description: description.into(),
            ..ProductData::default()
        }
    }

    #[test]
    fn the_product_text_has_the_descriptive_attributes_and_not_the_others() {
        let mut data = ProductData {
            title: "Trail Jacket".into(),
            category: "Men/Jackets".into(),
            color: "Blue".into(),
            description: "Warm.".into(),
            ..ProductData::default()
        };
        for (k, v) in [
            ("Brand", "Acme"),
            ("Size", "XL"),
            ("Material", "Wool"),
            ("Tags", " "),
        ] {
            data.attributes.insert(k.into(), v.into());
        }
        assert_eq!(
            product_text(&data),
            "Trail Jacket. Men / Jackets. Blue. Brand: Acme. Material: Wool. Warm."
        );
    }

    #[test]
    fn passages_group_short_sentences_and_cut_long_ones_after_the_title() {
        let p = product(
            "Joust Duffle Bag",
            "The sporty Joust Duffle Bag can't be beat - not in the gym, not on the luggage \
             carousel, not anywhere. Big enough to haul a basketball or soccer ball and some \
             sneakers with plenty of room to spare. Dual top handles. Adjustable shoulder strap. \
             Full-length zipper. L 29\" x W 13\" x H 11\".",
        );
        let got = passages(&p);
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(got[0], "Joust Duffle Bag");
        assert!(got[1..].iter().all(|g| g.starts_with("Joust Duffle Bag. ")));
        assert!(got[2].ends_with("room to spare."), "{got:#?}");
        // The feature fragments make one passage with the short tail merged in.
        assert!(got[3].contains("Dual top handles. Adjustable shoulder strap."));
        assert!(got[3].ends_with("H 11\"."), "{got:#?}");

        let long = vec!["word"; 130].join(" ") + ".";
        // No title, category or colour: no head.
        let got = passages(&product("", &long));
        let sizes: Vec<usize> = got.iter().map(|g| g.split_whitespace().count()).collect();
        assert_eq!(sizes, [48, 48, 34]);
    }

    #[test]
    fn the_head_is_a_passage_of_every_described_product_and_a_huge_one_has_a_bounded_number() {
        let mut tee = product("Tee", "Soft cotton. Crew neck.");
        tee.category = "Men/Tops".into();
        tee.color = "Blue".into();
        // A short description: the head alone, without the description.
        assert_eq!(passages(&tee), ["Tee. Men / Tops. Blue"]);
        assert!(passages(&product("Tee", "")).is_empty());
        let huge = "This sentence has exactly twelve words in it for the test here. ".repeat(500);
        let got = passages(&product("Tee", &huge));
        assert_eq!(got.len(), MAX_PASSAGES);
        assert_eq!(got[0], "Tee");
    }
}
