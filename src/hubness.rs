//! Hubs of text-to-photo similarity, and how each photo's score is corrected for them.
//!
//! In CLIP-style models a few photos are close to almost every text: all texts lie on one side
//! of the image vectors (the modality gap), and photos differ in how far they lean that way. Such
//! a hub ranks high for unrelated queries and, measured against the catalog, looks decisive. So a
//! photo's text-to-photo cosine is lowered by its lean: half its mean cosine with the
//! [`NEIGHBOURS`] closest texts of a bank of the catalog's own product titles, its own product's
//! title left out (CSLS, Conneau et al., ICLR 2018; a bank of in-domain texts as in QB-Norm,
//! Bogolin et al., CVPR 2022), less the median photo's lean. Photos that lean no more than the
//! median are left as they are (QB-Norm found that correcting only hubs keeps the correction
//! from costing where there are none).
//!
//! The bank also tells whether the model reads this catalog at all ([`agreement`]): how often a
//! title's own product beats the others by its photos. Calibration against chance cannot tell a
//! model that says nothing from one that speaks; this can.
//!
//! The bank is up to [`BANK`] distinct titles, those with the lowest hashes: a stable sample, so
//! that a catalog that grows only encodes its few new bank titles. Their vectors are encoded at
//! the end of `embed` and kept beside the index (`<model>.bank`), keyed by text; the photos'
//! leans are kept beside them (`<model>.leans`), so that a catalog opened again only measures
//! its new photos.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::domain::Product;
use crate::encoders::ClipEncoder;
use crate::error::{Error, Result};
use crate::index::dot;
use crate::vectors::ModelVectors;

/// Titles in the bank, at most.
pub const BANK: usize = 256;
/// Closest bank texts whose mean cosine is a photo's lean towards text.
pub const NEIGHBOURS: usize = 10;
/// Fewer distinct titles than this: no correction (each would weigh too much).
pub const MIN_BANK: usize = 3 * NEIGHBOURS;
const MAGIC: &[u8; 8] = b"VTBANK01";
const LEANS_MAGIC: &[u8; 8] = b"VTLEAN01";

/// The bank's titles: up to [`BANK`] distinct non-empty titles (trimmed, compared without
/// case), those whose hashes are lowest.
pub fn bank_titles<'a>(titles: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut keyed: Vec<([u8; 32], String)> = titles
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .filter_map(|t| {
            let key = *blake3::hash(t.to_lowercase().as_bytes()).as_bytes();
            seen.insert(key).then(|| (key, t.to_string()))
        })
        .collect();
    keyed.sort_unstable();
    keyed.truncate(BANK);
    keyed.into_iter().map(|(_, t)| t).collect()
}

/// Each row's offset: its lean (half the mean of its [`NEIGHBOURS`] highest cosines with the
/// bank's vectors, leaving out `own(row)`, the bank index of the title of the row's product if
/// it is in the bank) less the median row's lean, or 0 where that is below 0. All zero with a
/// bank of fewer than [`MIN_BANK`] texts. With `saved`, the leans are kept in that file between
/// calls (see [`saved_leans`]).
pub fn offsets<'a>(
    rows: usize,
    row: impl Fn(usize) -> &'a [f32] + Sync,
    own: impl Fn(usize) -> Option<usize> + Sync,
    bank: &[Vec<f32>],
    saved: Option<&Path>,
) -> Vec<f32> {
    if bank.len() < MIN_BANK {
        return vec![0.0; rows];
    }
    above_median(match saved {
        Some(path) => saved_leans(path, rows, row, own, bank),
        None => leans(rows, row, own, bank, |_| None),
    })
}

/// Each row's lean (as [`offsets`] says), or `known(row)` where that has it.
fn leans<'a>(
    rows: usize,
    row: impl Fn(usize) -> &'a [f32] + Sync,
    own: impl Fn(usize) -> Option<usize> + Sync,
    bank: &[Vec<f32>],
    known: impl Fn(usize) -> Option<f32> + Sync,
) -> Vec<f32> {
    (0..rows)
        .into_par_iter()
        .map_init(Vec::new, |sims: &mut Vec<f32>, r| {
            if let Some(lean) = known(r) {
                return lean;
            }
            let v = row(r);
            let skip = own(r);
            sims.clear();
            sims.extend(
                bank.iter()
                    .enumerate()
                    .filter(|&(i, _)| Some(i) != skip)
                    .map(|(_, b)| dot(v, b)),
            );
            let k = NEIGHBOURS.min(sims.len());
            sims.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            sims[..k].iter().sum::<f32>() / k as f32 / 2.0
        })
        .collect()
}

/// Each lean less the median one, or 0 where that is below 0.
fn above_median(lean: Vec<f32>) -> Vec<f32> {
    if lean.is_empty() {
        return lean;
    }
    let mut sorted = lean.clone();
    let mid = sorted.len() / 2;
    let median = *sorted.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1;
    lean.into_iter().map(|l| (l - median).max(0.0)).collect()
}

/// What the bank tells of a model's photo vectors in one catalog.
#[derive(Default)]
pub struct Hubs {
    /// Per row, what its text-to-photo cosine loses for its lean towards every text.
    pub offsets: Vec<f32>,
    /// How well the model's texts find their own photos here ([`agreement`]); `None` when the
    /// bank is too small to tell.
    pub agreement: Option<f32>,
}

/// The hub offset of every row of `photos` (CLIP vectors of the catalog's photos), from the
/// bank of `products`' titles encoded by `encoder`, and how well those titles find their own
/// products' photos; the bank's vectors are read from and saved to `cache` (a damaged or
/// foreign cache is encoded again). All zero, agreement unknown, when the catalog has fewer
/// than [`MIN_BANK`] distinct titles.
pub fn photo_offsets(
    photos: &ModelVectors,
    products: &[Product],
    encoder: &ClipEncoder,
    cache: &Path,
) -> Result<Hubs> {
    let rows = photos.owner.len();
    let titles = bank_titles(products.iter().map(|p| p.title.as_str()));
    if titles.len() < MIN_BANK {
        return Ok(Hubs {
            offsets: vec![0.0; rows],
            agreement: None,
        });
    }
    let bank = bank_vectors(&titles, &photos.model, photos.nn.all.dim, encoder, cache)?;
    let index: HashMap<String, usize> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_lowercase(), i))
        .collect();
    let own: Vec<Option<usize>> = products
        .iter()
        .map(|p| index.get(&p.title.trim().to_lowercase()).copied())
        .collect();
    let offsets = offsets(
        rows,
        |r| photos.row(r),
        |r| own[photos.owner[r]],
        &bank,
        Some(&cache.with_extension("leans")),
    );
    let mut owners = vec![Vec::new(); bank.len()];
    for (pi, o) in own.iter().enumerate() {
        if let Some(i) = *o {
            owners[i].push(pi);
        }
    }
    let agreement = agreement(&bank, &owners, products.len(), |pi, q| {
        photos
            .best(pi, std::slice::from_ref(q), &offsets)
            .map(|b| b.0)
    });
    Ok(Hubs { offsets, agreement })
}

/// Products, at most, that a bank title's own product is ranked against in [`agreement`].
pub const RIVALS: usize = 1000;

/// How well a model's text side finds the catalog's photos: per bank text, the share of other
/// products (an even sample of up to [`RIVALS`] that have photos) whose best photo scores below
/// the best of the text's own products (`owners[text]`; ties count half: the AUC), averaged over
/// the texts whose products have photos, as Somers' D, `2·AUC - 1`: near 0 for a model whose
/// texts and photos say nothing of each other, near 1 where titles find their own photos.
/// `score(product, text vector)` is the product's best photo's (hub-corrected) cosine, `None`
/// without photos. `None` when fewer than [`MIN_BANK`] texts can be measured.
pub fn agreement(
    bank: &[Vec<f32>],
    owners: &[Vec<usize>],
    products: usize,
    score: impl Fn(usize, &Vec<f32>) -> Option<f32> + Sync,
) -> Option<f32> {
    let step = products.div_ceil(RIVALS).max(1);
    let aucs: Vec<f32> = bank
        .par_iter()
        .zip(owners)
        .filter_map(|(q, mine)| {
            let own = mine
                .iter()
                .filter_map(|&pi| score(pi, q))
                .reduce(f32::max)?;
            let rivals: Vec<f32> = (0..products)
                .step_by(step)
                .filter(|pi| !mine.contains(pi))
                .filter_map(|pi| score(pi, q))
                .collect();
            (!rivals.is_empty()).then(|| {
                let below = rivals.iter().filter(|&&r| r < own).count();
                let tied = rivals.iter().filter(|&&r| r == own).count();
                (below as f32 + tied as f32 / 2.0) / rivals.len() as f32
            })
        })
        .collect();
    (aucs.len() >= MIN_BANK).then(|| 2.0 * aucs.iter().sum::<f32>() / aucs.len() as f32 - 1.0)
}

/// Each row's lean, as [`leans`], reusing those saved at `path` by an earlier call with the same
/// bank (by the row's vector and its own title's place in the bank), and saving them again
/// there when they changed: a catalog opened again only measures its new photos.
fn saved_leans<'a>(
    path: &Path,
    rows: usize,
    row: impl Fn(usize) -> &'a [f32] + Sync,
    own: impl Fn(usize) -> Option<usize> + Sync,
    bank: &[Vec<f32>],
) -> Vec<f32> {
    let digest = bank_digest(bank);
    let keys: Vec<(u64, i64)> = (0..rows)
        .into_par_iter()
        .map(|r| (fingerprint(row(r)), own(r).map_or(-1, |i| i as i64)))
        .collect();
    let saved = read_file::<SavedLeans>(path, LEANS_MAGIC)
        .filter(|s| s.bank == digest)
        .map(|s| s.leans)
        .unwrap_or_default();
    // Saved in row order: a catalog opened again unchanged finds each row's lean in its place;
    // one that changed looks the rest up by key.
    let in_place = |r: usize| saved.get(r).filter(|e| (e.0, e.1) == keys[r]).map(|e| e.2);
    let unchanged = saved.len() == rows && (0..rows).all(|r| in_place(r).is_some());
    let by_key: HashMap<(u64, i64), f32> = if unchanged {
        HashMap::new()
    } else {
        saved.iter().map(|&(f, o, l)| ((f, o), l)).collect()
    };
    let lean = leans(rows, row, own, bank, |r| {
        in_place(r).or_else(|| by_key.get(&keys[r]).copied())
    });
    if !unchanged {
        let keep = SavedLeans {
            bank: digest,
            leans: keys
                .into_iter()
                .zip(lean.iter().copied())
                .map(|((f, o), l)| (f, o, l))
                .collect(),
        };
        if let Err(e) = write_file(path, LEANS_MAGIC, &keep) {
            tracing::warn!("could not save the photos' leans: {e}");
        }
    }
    lean
}

/// What the photos' leans were measured against: how many bank texts a lean averages and the
/// bank's vectors (by fingerprint), in order.
fn bank_digest(bank: &[Vec<f32>]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&(NEIGHBOURS as u64).to_le_bytes());
    for v in bank {
        h.update(&fingerprint(v).to_le_bytes());
    }
    *h.finalize().as_bytes()
}

/// A vector's fingerprint: its bits mixed in four lanes of 64 (a cache key on this machine, not
/// a defence against forged files; blake3 of each photo's vector took most of a reopening's
/// time).
fn fingerprint(v: &[f32]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut lanes = [1u64, 2, 3, 4];
    let mut pairs = v.chunks_exact(2);
    for (i, p) in pairs.by_ref().enumerate() {
        let x = u64::from(p[0].to_bits()) | (u64::from(p[1].to_bits()) << 32);
        let l = &mut lanes[i % 4];
        *l = (*l ^ x).wrapping_mul(K).rotate_left(29);
    }
    let tail = pairs
        .remainder()
        .first()
        .map_or(0, |x| u64::from(x.to_bits()));
    let mut h = (v.len() as u64) ^ tail.wrapping_mul(K);
    for l in lanes {
        h = (h ^ l).wrapping_mul(K);
        h ^= h >> 31;
    }
    h
}

/// The photos' leans as last measured.
#[derive(Serialize, Deserialize)]
struct SavedLeans {
    bank: [u8; 32],
    /// Per row, in order: (fingerprint of the photo's vector, its own title's place in the bank
    /// or -1, lean).
    leans: Vec<(u64, i64, f32)>,
}

/// Encodes the bank titles of the catalog that its saved bank lacks (after `embed`, so that the
/// next search does not wait for them), with `encoder`, whose vectors have `dim` dimensions.
pub fn refresh_bank(
    catalog: &Catalog,
    model: &str,
    dim: usize,
    encoder: &ClipEncoder,
) -> Result<()> {
    let titles = catalog.store.titles()?;
    let bank = bank_titles(titles.iter().map(String::as_str));
    if bank.len() >= MIN_BANK {
        bank_vectors(&bank, model, dim, encoder, &catalog.bank_path(model))?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Cached {
    model: String,
    vectors: BTreeMap<String, Vec<f32>>,
}

/// The vectors of `titles`, from the cache where it has them; the rest encoded and the cache
/// rewritten with exactly these titles.
fn bank_vectors(
    titles: &[String],
    model: &str,
    dim: usize,
    encoder: &ClipEncoder,
    cache: &Path,
) -> Result<Vec<Vec<f32>>> {
    let mut known = read_file::<Cached>(cache, MAGIC)
        .filter(|c| c.model == model && c.vectors.values().all(|v| v.len() == dim))
        .map(|c| c.vectors)
        .unwrap_or_default();
    let missing: Vec<&str> = titles
        .iter()
        .filter(|t| !known.contains_key(t.as_str()))
        .map(String::as_str)
        .collect();
    if missing.is_empty() && known.len() == titles.len() {
        return Ok(titles.iter().map(|t| known[t.as_str()].clone()).collect());
    }
    for chunk in missing.chunks(32) {
        for (t, v) in chunk.iter().zip(encoder.embed_texts(chunk)?) {
            if v.len() != dim {
                return Err(Error::Model(format!(
                    "the model's text vectors have {} dimensions and its photo vectors {dim}; download it again or choose another model",
                    v.len()
                )));
            }
            if !v.iter().all(|x| x.is_finite()) {
                return Err(Error::Model(
                    "the model is broken: it gave NaN or infinite numbers for a product title; download it again or choose another model".into(),
                ));
            }
            known.insert(t.to_string(), v);
        }
    }
    let vectors: Vec<Vec<f32>> = titles.iter().map(|t| known[t.as_str()].clone()).collect();
    let keep = Cached {
        model: model.to_string(),
        vectors: titles
            .iter()
            .cloned()
            .zip(vectors.iter().cloned())
            .collect(),
    };
    if let Err(e) = write_file(cache, MAGIC, &keep) {
        tracing::warn!("could not save the title bank: {e}");
    }
    Ok(vectors)
}

fn read_file<T: serde::de::DeserializeOwned>(path: &Path, magic: &[u8; 8]) -> Option<T> {
    use bincode::Options;
    let bytes = std::fs::read(path).ok()?;
    let body = bytes.strip_prefix(magic.as_slice())?;
    bincode::DefaultOptions::new()
        .with_limit(bytes.len() as u64)
        .deserialize(body)
        .ok()
}

fn write_file<T: Serialize>(path: &Path, magic: &[u8; 8], value: &T) -> Result<()> {
    use bincode::Options;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut bytes = magic.to_vec();
    bincode::DefaultOptions::new()
        .serialize_into(&mut bytes, value)
        .map_err(|e| Error::InvalidInput(format!("cannot write {}: {e}", path.display())))?;
    let tmp = crate::files::temp_beside(path);
    std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(mut v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    /// Reproducible numbers in [-0.5, 0.5).
    fn noise(seed: &mut u64) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed % 10_000) as f32 / 10_000.0 - 0.5
    }

    const DIM: usize = 128;

    /// Texts: a shared direction (axis 0) plus noise, as real text vectors share one side.
    fn text(seed: &mut u64) -> Vec<f32> {
        unit(
            (0..DIM)
                .map(|i| if i == 0 { 4.0 } else { 0.0 } + noise(seed))
                .collect(),
        )
    }

    #[test]
    fn a_photo_near_every_text_loses_its_lead_and_the_typical_photo_loses_nothing() {
        let mut seed = 7u64;
        let bank: Vec<Vec<f32>> = (0..64).map(|_| text(&mut seed)).collect();
        // 40 photos of their own, and photo 40, a hub leaning towards every text.
        let mut photos: Vec<Vec<f32>> = (0..40)
            .map(|_| unit((0..DIM).map(|_| noise(&mut seed)).collect()))
            .collect();
        photos.push(unit(
            (0..DIM)
                .map(|i| if i == 0 { 3.0 } else { 0.0 } + noise(&mut seed))
                .collect(),
        ));
        let hub = 40;
        let off = offsets(photos.len(), |r| &photos[r], |_| None, &bank, None);
        let most = off.iter().copied().fold(0.0, f32::max);
        assert_eq!(off[hub], most);
        assert!(off[hub] > 0.1, "{}", off[hub]);
        // Half the photos lean no more than the typical one and are left as they are.
        assert!(off.iter().filter(|&&o| o == 0.0).count() >= photos.len() / 2);
        // Each query is written for one photo; the hub tops most of them by cosine, few after.
        let (mut before, mut after, mut found) = (0, 0, 0);
        for target in 0..40 {
            let t = text(&mut seed);
            let q = unit(
                t.iter()
                    .zip(&photos[target])
                    .map(|(a, b)| a + 0.4 * b)
                    .collect(),
            );
            let best = |adjust: bool| {
                (0..photos.len())
                    .max_by(|&a, &b| {
                        let s = |r: usize| dot(&q, &photos[r]) - if adjust { off[r] } else { 0.0 };
                        s(a).total_cmp(&s(b))
                    })
                    .unwrap()
            };
            before += usize::from(best(false) == hub);
            after += usize::from(best(true) == hub);
            found += usize::from(best(true) == target);
        }
        assert!(
            before >= 30,
            "the hub tops {before} of 40 queries by cosine"
        );
        assert!(after <= 1, "the hub still tops {after} of 40 queries");
        assert!(found >= 38, "{found} of 40 queries find their photo");
    }

    #[test]
    fn the_photos_own_title_is_left_out_and_a_small_bank_changes_nothing() {
        let mut seed = 3u64;
        let bank: Vec<Vec<f32>> = (0..40).map(|_| text(&mut seed)).collect();
        // Photo 0 is its own product's title (bank entry 5); the rest lean as typical texts do.
        let mut photos = vec![bank[5].clone()];
        photos.extend((0..20).map(|_| text(&mut seed)));
        let with_own = offsets(photos.len(), |r| &photos[r], |_| None, &bank, None);
        let without = offsets(
            photos.len(),
            |r| &photos[r],
            |r| (r == 0).then_some(5),
            &bank,
            None,
        );
        // Its cosine of 1 with its own title no longer counts as leaning towards every text.
        assert!(without[0] < with_own[0], "{} {}", without[0], with_own[0]);
        let small = &bank[..MIN_BANK - 1];
        assert!(
            offsets(photos.len(), |r| &photos[r], |_| None, small, None)
                .iter()
                .all(|&o| o == 0.0)
        );
        assert!(offsets(0, |r| &photos[r], |_| None, &bank, None).is_empty());
    }

    #[test]
    fn leans_are_saved_and_measured_again_only_for_new_photos_or_a_new_bank() {
        let mut seed = 11u64;
        let bank: Vec<Vec<f32>> = (0..40).map(|_| text(&mut seed)).collect();
        let mut photos: Vec<Vec<f32>> = (0..30).map(|_| text(&mut seed)).collect();
        // Photo 3 is its own product's title, bank entry 7.
        photos[3] = bank[7].clone();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.leans");
        let own = |r: usize| (r == 3).then_some(7);
        let measured = leans(photos.len(), |r| &photos[r], own, &bank, |_| None);
        let first = saved_leans(&path, photos.len(), |r| &photos[r], own, &bank);
        assert_eq!(first, measured);
        // Saved: a lean changed in the file is what the next opening reads.
        let mut file = read_file::<SavedLeans>(&path, LEANS_MAGIC).unwrap();
        assert_eq!(file.leans.len(), photos.len());
        file.leans.iter_mut().for_each(|e| e.2 = 9.0);
        write_file(&path, LEANS_MAGIC, &file).unwrap();
        let again = saved_leans(&path, photos.len(), |r| &photos[r], own, &bank);
        assert!(again.iter().all(|&l| l == 9.0));
        // A new photo is measured; the others are read.
        photos.push(text(&mut seed));
        let grown = saved_leans(&path, photos.len(), |r| &photos[r], own, &bank);
        assert!(grown[..30].iter().all(|&l| l == 9.0));
        let new_one = leans(photos.len(), |r| &photos[r], own, &bank, |_| None)[30];
        assert_eq!(grown[30], new_one);
        assert_eq!(
            read_file::<SavedLeans>(&path, LEANS_MAGIC)
                .unwrap()
                .leans
                .len(),
            31
        );
        // Another bank, or a damaged file: every photo is measured again.
        let other: Vec<Vec<f32>> = bank[1..].to_vec();
        let remeasured = saved_leans(&path, photos.len(), |r| &photos[r], own, &other);
        assert_eq!(
            remeasured,
            leans(photos.len(), |r| &photos[r], own, &other, |_| None)
        );
        std::fs::write(&path, b"VTLEAN01 not bincode").unwrap();
        let repaired = saved_leans(&path, photos.len(), |r| &photos[r], own, &bank);
        assert_eq!(
            repaired,
            leans(photos.len(), |r| &photos[r], own, &bank, |_| None)
        );
        // Its own title counts in a photo's key: photo 3 without it is measured again.
        let no_own = saved_leans(&path, photos.len(), |r| &photos[r], |_| None, &bank);
        assert_ne!(no_own[3], repaired[3]);
    }

    #[test]
    fn titles_that_find_their_photos_agree_and_unrelated_vectors_do_not() {
        let mut seed = 5u64;
        let bank: Vec<Vec<f32>> = (0..60).map(|_| text(&mut seed)).collect();
        // Product i is bank title i's (i < 60); 40 more products have no title in the bank.
        let owners: Vec<Vec<usize>> = (0..60).map(|i| vec![i]).collect();
        let related: Vec<Vec<f32>> = (0..100)
            .map(|i| {
                let t = if i < 60 {
                    bank[i].clone()
                } else {
                    text(&mut seed)
                };
                unit(t.iter().map(|x| x + 0.5 * noise(&mut seed)).collect())
            })
            .collect();
        let unrelated: Vec<Vec<f32>> = (0..100)
            .map(|_| unit((0..DIM).map(|_| noise(&mut seed)).collect()))
            .collect();
        let d = |photos: &[Vec<f32>]| {
            agreement(&bank, &owners, photos.len(), |pi, q| {
                Some(dot(&photos[pi], q))
            })
            .unwrap()
        };
        let (good, none) = (d(&related), d(&unrelated));
        assert!(good > 0.9, "{good}");
        assert!(none.abs() < 0.2, "{none}");
        // Products without photos are neither own nor rivals; too few measurable titles: unknown.
        let few = agreement(&bank, &owners, 100, |pi, q| {
            (pi >= MIN_BANK - 1).then(|| dot(&related[pi], q))
        });
        assert_eq!(few.map(|d| d > 0.9), Some(true));
        let too_few = agreement(&bank, &owners, 100, |pi, q| {
            (!(MIN_BANK - 1..60).contains(&pi)).then(|| dot(&related[pi], q))
        });
        assert_eq!(too_few, None);
    }

    #[test]
    fn the_bank_is_a_stable_sample_of_distinct_titles() {
        let titles: Vec<String> = (0..400).map(|i| format!("Product {i}")).collect();
        let bank = bank_titles(titles.iter().map(String::as_str));
        assert_eq!(bank.len(), BANK);
        // Case and spaces do not make a title new; empty titles are left out.
        let mut more = titles.clone();
        more.extend(["product 3".to_string(), "  Product 4 ".into(), "".into()]);
        assert_eq!(bank_titles(more.iter().map(String::as_str)), bank);
        // One more product changes at most one title of the bank.
        more.push("Product 400".into());
        let grown = bank_titles(more.iter().map(String::as_str));
        assert!(grown.iter().filter(|t| !bank.contains(t)).count() <= 1);
        assert_eq!(bank_titles(["a", "A", " a"]), vec!["a".to_string()]);
    }
}
