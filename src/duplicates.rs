//! Duplicate listings: the same product listed twice (a re-uploaded, resized, recompressed,
//! cropped, watermarked or re-shot photo, usually under another SKU and a reworded title).
//!
//! Candidate pairs come from neighbours, never from all pairs: products sharing a photo file's
//! content, photos whose perceptual hashes agree on one of eight 8-bit bands (so every pair
//! within 7 bits is found), the nearest photos by CLIP embedding, and the nearest products by
//! text embedding. Each candidate pair then gets its evidence, each kind with its threshold;
//! the pairs that pass form groups (connected components), and an over-large group is split
//! on its weakest links. Decisions (duplicate, not a duplicate, variants) are stored per pair
//! with a fingerprint of both products' photos, and hold until those photos change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::domain::{OwnerKind, PHash, Product};
use crate::error::{Error, Result};
use crate::index::dot;
use crate::model_choice::active_model;
use crate::spreadsheet::safe_cell;
use crate::vectors::ModelVectors;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Near-identical photos: at most this many bits of perceptual-hash distance, with
    /// corroboration (text cosine at least `corroborating_text`; without text vectors, the
    /// same price and category).
    pub phash: u32,
    /// Near-identical photos that need nothing else: at most this many bits.
    pub phash_alone: u32,
    /// The text cosine that corroborates a near-identical photo.
    pub corroborating_text: f32,
    /// Visually similar photos: CLIP image cosine at least this.
    pub visual: f32,
    /// Similar text: product-text cosine at least this, with the same price, category and colour.
    pub text: f32,
    /// Groups larger than this are split on their weakest links.
    pub max_group: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        // phash: resizing, JPEG quality 30 and small brightness changes stay within 4 bits on
        // the Luma photos, while 99% of different products are 10 or more apart; but studio
        // shots of different products on white can come within 4, so a hash match of more
        // than 2 bits needs its listing to agree too.
        Thresholds {
            phash: 6,
            phash_alone: 2,
            corroborating_text: 0.75,
            visual: 0.93,
            text: 0.95,
            max_group: 8,
        }
    }
}

impl FromStr for Thresholds {
    type Err = String;
    /// `phash=6,visual=0.93,text=0.95,max-group=8`; unnamed ones keep their default.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let mut t = Thresholds::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected NAME=VALUE, got {part:?}"))?;
            let (k, v) = (k.trim(), v.trim());
            let bits = || {
                v.parse::<u32>()
                    .ok()
                    .filter(|b| *b <= 64)
                    .ok_or_else(|| format!("{k} takes bits of hash distance, 0 to 64, not {v:?}"))
            };
            let cosine = || {
                v.parse::<f32>()
                    .ok()
                    .filter(|c| (-1.0..=1.0).contains(c))
                    .ok_or_else(|| format!("{k} takes a cosine from -1 to 1, not {v:?}"))
            };
            match k {
                "phash" => t.phash = bits()?,
                "phash-alone" | "phash_alone" => t.phash_alone = bits()?,
                "corroborating-text" | "corroborating_text" => t.corroborating_text = cosine()?,
                "visual" => t.visual = cosine()?,
                "text" => t.text = cosine()?,
                "max-group" | "max_group" => {
                    t.max_group = v.parse().ok().filter(|n| *n >= 2).ok_or_else(|| {
                        format!("max-group takes a number of products, 2 or more, not {v:?}")
                    })?
                }
                other => {
                    return Err(format!(
                        "unknown threshold {other:?}: use phash, phash-alone, corroborating-text, visual, text or max-group"
                    ));
                }
            }
        }
        Ok(t)
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Duplicate,
    NotDuplicate,
    Variants,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Duplicate => "duplicate",
            Decision::NotDuplicate => "not_duplicate",
            Decision::Variants => "variants",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Decision> {
        match s {
            "duplicate" => Some(Decision::Duplicate),
            "not_duplicate" => Some(Decision::NotDuplicate),
            "variants" => Some(Decision::Variants),
            _ => None,
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    pub identical_photo: bool,
    /// Smallest perceptual-hash distance between the two products' photos.
    pub phash_distance: Option<u32>,
    /// Highest CLIP cosine between their photos.
    pub visual: Option<f32>,
    /// Cosine of their text embeddings.
    pub text: Option<f32>,
    pub same_price: bool,
    pub same_category: bool,
    pub same_color: bool,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub evidence: Evidence,
    /// How sure the evidence makes us, in [0, 1].
    pub confidence: f32,
    /// A stored decision that still holds.
    pub decision: Option<Decision>,
    pub keep: Option<String>,
    /// Why the two look like variants of one product rather than duplicates (their titles
    /// differ only by a size or number, or they share a photo at different prices).
    pub variant: Option<String>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub id: usize,
    pub skus: Vec<String>,
    pub titles: Vec<String>,
    /// The weakest link's confidence.
    pub confidence: f32,
    pub pairs: Vec<Pair>,
    /// The group came from splitting an over-large one.
    pub split: bool,
    /// For a group of variants: why, in words (its pairs' reasons).
    pub variant: Option<String>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct DupesReport {
    pub thresholds: Thresholds,
    pub signals: Vec<String>,
    pub candidate_pairs: usize,
    pub passing_pairs: usize,
    /// Over-large groups that were split on their weakest links.
    pub oversized_groups_split: usize,
    /// Duplicate listings: merge candidates.
    pub groups: Vec<Group>,
    /// Listings that look alike but are variants of one product (sizes, capacities, prices):
    /// proposed to be marked as variants, never merged.
    pub variants: Vec<Group>,
    pub seconds: f64,
}

/// Fingerprint of a pair's photos: a decision holds while this stays the same. Taken in SKU
/// order (earlier catalogs took it in id order: [`same_photos`] accepts both).
fn photos_fingerprint(a: &Product, b: &Product) -> String {
    let (a, b) = if a.sku < b.sku { (a, b) } else { (b, a) };
    fingerprint_in_order(a, b)
}

/// The pair's photos are those the decision was taken on.
fn same_photos(stored: &str, a: &Product, b: &Product) -> bool {
    stored == fingerprint_in_order(a, b) || stored == fingerprint_in_order(b, a)
}

fn fingerprint_in_order(a: &Product, b: &Product) -> String {
    let mut h = blake3::Hasher::new();
    for p in [a, b] {
        let mut hashes: Vec<&str> = p.images.iter().map(|i| i.hash.as_str()).collect();
        hashes.sort_unstable();
        for x in hashes {
            h.update(x.as_bytes());
        }
        h.update(b"|");
    }
    h.finalize().to_hex().to_string()
}

fn confidence(e: &Evidence, t: &Thresholds) -> f32 {
    let mut p = Vec::new();
    if e.identical_photo {
        p.push(0.97);
    }
    if let Some(d) = e.phash_distance.filter(|d| *d <= t.phash && passes(e, t)) {
        p.push(0.95 - 0.25 * d as f32 / (t.phash.max(1) as f32));
    }
    if let Some(v) = e.visual.filter(|v| *v >= t.visual) {
        p.push(0.6 + 0.35 * ((v - t.visual) / (1.0 - t.visual).max(1e-6)).clamp(0.0, 1.0));
    }
    if let Some(x) = e.text.filter(|x| *x >= t.text) {
        p.push(0.4 + 0.3 * ((x - t.text) / (1.0 - t.text).max(1e-6)).clamp(0.0, 1.0));
    }
    for same in [e.same_price, e.same_category, e.same_color] {
        if same {
            p.push(0.1);
        }
    }
    1.0 - p.iter().fold(1.0, |acc, x| acc * (1.0 - x))
}

/// Why two alike listings are variants of one product, if they are: their titles differ only
/// by sizes, capacities or counts ("55 cm" / "65 cm", "XL" / "M", "6 foot" / "8 foot"), or they
/// share a photo at different prices.
fn variant_reason(a: &Product, b: &Product, e: &Evidence) -> Option<String> {
    let (ta, tb) = (title_tokens(&a.title), title_tokens(&b.title));
    let only = |x: &[String], y: &[String]| -> Vec<String> {
        let mut rest = y.to_vec();
        x.iter()
            .filter(|t| match rest.iter().position(|r| r == *t) {
                Some(i) => {
                    rest.swap_remove(i);
                    false
                }
                None => true,
            })
            .cloned()
            .collect()
    };
    let (da, db) = (only(&ta, &tb), only(&tb, &ta));
    let sized = |d: &[String]| d.iter().all(|t| is_size_word(t));
    let has_measure = |d: &[String]| d.iter().any(|t| is_measure(t));
    if !(da.is_empty() && db.is_empty())
        && sized(&da)
        && sized(&db)
        && (has_measure(&da) || has_measure(&db))
    {
        return Some(format!(
            "the titles differ by size: {} / {}",
            size_words(&a.title, &da),
            size_words(&b.title, &db)
        ));
    }
    if let (true, Some(pa), Some(pb)) = (e.identical_photo, a.price, b.price)
        && (pa - pb).abs() > 0.005 * pa.abs().max(pb.abs())
    {
        return Some(format!(
            "the same photo at different prices: {pa:.2} / {pb:.2}"
        ));
    }
    None
}

/// A title's words, lower case; a number glued to its unit ("55cm") is split in two.
fn title_tokens(title: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in title
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == ','))
        .map(|w| w.trim_matches(['.', ',']).to_lowercase())
        .filter(|w| !w.is_empty())
    {
        let digits = w
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .unwrap_or(w.len());
        if digits > 0 && digits < w.len() && w[digits..].chars().all(char::is_alphabetic) {
            out.push(w[..digits].to_string());
            out.push(w[digits..].to_string());
        } else {
            out.push(w);
        }
    }
    out
}

/// A number, or a clothing size.
fn is_measure(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_ascii_digit())
        || matches!(
            t,
            "xxs" | "xs" | "s" | "m" | "l" | "xl" | "xxl" | "xxxl" | "small" | "medium" | "large"
        )
}

/// A number, a clothing size or a unit of size, capacity or count.
fn is_size_word(t: &str) -> bool {
    is_measure(t)
        || matches!(
            t,
            "mm" | "cm"
                | "m"
                | "in"
                | "inch"
                | "inches"
                | "ft"
                | "foot"
                | "feet"
                | "yd"
                | "ml"
                | "l"
                | "litre"
                | "liter"
                | "litres"
                | "liters"
                | "oz"
                | "fl"
                | "g"
                | "kg"
                | "lb"
                | "lbs"
                | "gb"
                | "tb"
                | "mb"
                | "w"
                | "v"
                | "mah"
                | "pack"
                | "pk"
                | "pcs"
                | "pc"
                | "piece"
                | "pieces"
                | "count"
                | "ct"
                | "set"
                | "size"
                | "x"
        )
}

/// The words of `title` that `differ` names, with the units that follow them ("55 cm").
fn size_words(title: &str, differ: &[String]) -> String {
    let words: Vec<&str> = title.split_whitespace().collect();
    let named = |w: &str| title_tokens(w).iter().any(|t| differ.contains(t));
    let mut out: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if named(words[i]) {
            out.push(words[i]);
            while i + 1 < words.len()
                && !named(words[i + 1])
                && title_tokens(words[i + 1])
                    .iter()
                    .all(|t| is_size_word(t) && !is_measure(t))
            {
                i += 1;
                out.push(words[i]);
            }
        }
        i += 1;
    }
    if out.is_empty() {
        "—".into()
    } else {
        out.join(" ")
    }
}

/// Listings whose colours are both given and share none are colour variants, not duplicates,
/// whatever their photos' shapes say (perceptual hashes ignore colour).
fn colours_conflict(a: &Product, b: &Product) -> bool {
    let (x, y) = (colours(a), colours(b));
    !x.is_empty() && !y.is_empty() && !x.iter().any(|c| y.contains(c))
}

/// Both listings give colours, and they have one in common.
fn colours_shared(a: &Product, b: &Product) -> bool {
    let (x, y) = (colours(a), colours(b));
    x.iter().any(|c| y.contains(c))
}

fn colours(p: &Product) -> Vec<String> {
    p.color
        .split(',')
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty())
        .collect()
}

fn passes(e: &Evidence, t: &Thresholds) -> bool {
    // Without text vectors, the same price and category corroborate instead.
    let corroborated = match e.text {
        Some(x) => x >= t.corroborating_text,
        None => e.same_price && e.same_category,
    };
    e.identical_photo
        || e.phash_distance.is_some_and(|d| d <= t.phash_alone || (d <= t.phash && corroborated))
        || e.visual.is_some_and(|v| v >= t.visual)
        // Text alone (no photo evidence) links only listings that agree on every attribute.
        || (e.text.is_some_and(|x| x >= t.text) && e.same_price && e.same_category && e.same_color)
}

struct StoredDecision {
    decision: Decision,
    keep: Option<i64>,
    fingerprint: String,
}

fn stored_decisions(catalog: &Catalog) -> Result<HashMap<(i64, i64), StoredDecision>> {
    Ok(catalog
        .store
        .decisions()?
        .into_iter()
        .filter_map(|(k, d, keep, fingerprint)| {
            Decision::parse(&d).map(|decision| {
                (
                    k,
                    StoredDecision {
                        decision,
                        keep,
                        fingerprint,
                    },
                )
            })
        })
        .collect())
}

/// Records a decision over a set of products: `duplicate` (with the product to keep),
/// `not_duplicate` or `variants`, for every pair among them. Returns the pairs recorded.
pub fn decide(
    catalog: &Catalog,
    decision: Decision,
    skus: &[String],
    keep: Option<&str>,
) -> Result<usize> {
    if skus.len() < 2 {
        return Err(Error::InvalidInput(
            "a decision needs at least two SKUs".into(),
        ));
    }
    if let Some(twice) = skus
        .iter()
        .enumerate()
        .find_map(|(i, s)| skus[..i].contains(s).then_some(s))
    {
        return Err(Error::InvalidInput(format!(
            "{twice} is given twice: a decision is about two or more different products"
        )));
    }
    let products: Vec<Product> = skus
        .iter()
        .map(|s| catalog.product(s))
        .collect::<Result<_>>()?;
    let keep_sku = match (decision, keep) {
        (Decision::Duplicate, Some(k)) => Some(
            products
                .iter()
                .find(|p| p.sku == k)
                .ok_or_else(|| {
                    Error::InvalidInput(format!("the product to keep, {k}, is not among the SKUs"))
                })?
                .sku
                .as_str(),
        ),
        (Decision::Duplicate, None) => {
            return Err(Error::InvalidInput(
                "say which product to keep (--keep SKU)".into(),
            ));
        }
        _ => None,
    };
    let mut n = 0;
    for i in 0..products.len() {
        for j in i + 1..products.len() {
            let (a, b) = (&products[i], &products[j]);
            if a.id == b.id {
                continue;
            }
            catalog.store.put_decision(
                &a.sku,
                &b.sku,
                decision.as_str(),
                keep_sku,
                &photos_fingerprint(a, b),
            )?;
            n += 1;
        }
    }
    Ok(n)
}

/// Forgets every decision among `skus` (an undo): their pairs are proposed again as the
/// evidence says. Returns the pairs forgotten (asked for).
pub fn undecide(catalog: &Catalog, skus: &[String]) -> Result<usize> {
    let mut n = 0;
    for i in 0..skus.len() {
        for b in &skus[i + 1..] {
            if skus[i] != *b {
                catalog.store.delete_decision(&skus[i], b)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Finds duplicate groups with the vectors of the catalog's active CLIP and product-text
/// models in `models`.
pub fn find_active(
    catalog: &Catalog,
    models: &crate::models::Models,
    t: &Thresholds,
) -> Result<DupesReport> {
    use crate::models::ModelKind;
    let clip = active_model(catalog, models, ModelKind::Clip)?.map(|m| m.id);
    let text = active_model(catalog, models, ModelKind::Text)?.map(|m| m.id);
    find(catalog, clip.as_deref(), text.as_deref(), t)
}

/// Finds duplicate groups. `clip_model` and `text_model` name the vectors to use (either may
/// be absent; perceptual hashes and content hashes are always there).
pub fn find(
    catalog: &Catalog,
    clip_model: Option<&str>,
    text_model: Option<&str>,
    t: &Thresholds,
) -> Result<DupesReport> {
    let started = Instant::now();
    let products = catalog.store.all_products_with_images()?;
    let load = |kind: OwnerKind, model: Option<&str>| -> Result<Option<ModelVectors>> {
        match model {
            Some(m) => ModelVectors::load(
                &catalog.store,
                catalog.index_path(m, kind),
                kind,
                m,
                &products,
                // Pairs come from each vector's neighbours; nothing here is scanned.
                false,
            ),
            None => Ok(None),
        }
    };
    let clip = load(OwnerKind::Image, clip_model)?;
    let text = load(OwnerKind::Product, text_model)?;
    let mut signals = vec!["identical".to_string(), "phash".to_string()];
    if clip.is_some() {
        signals.push("visual".into());
    }
    if text.is_some() {
        signals.push("text".into());
    }
    let cand_list = candidate_pairs(&products, clip.as_ref(), text.as_ref(), t);
    let links = links(
        catalog,
        &products,
        &cand_list,
        clip.as_ref(),
        text.as_ref(),
        t,
    )?;
    let passing_pairs = links.len();
    let (variant_links, links): (Vec<Link>, Vec<Link>) =
        links.into_iter().partition(|l| l.pair.variant.is_some());
    let mut apart = decided_apart(catalog, &products)?;
    // Variants never join one duplicate group, not even through a third listing.
    apart.extend(
        variant_links
            .iter()
            .map(|l| (l.ends.0.min(l.ends.1), l.ends.0.max(l.ends.1))),
    );
    let (groups, oversized) = group(&products, links, &apart, t.max_group);
    let (mut variants, _) = group(&products, variant_links, &HashSet::new(), usize::MAX);
    for g in &mut variants {
        let mut reasons: Vec<&str> = g
            .pairs
            .iter()
            .filter_map(|p| p.variant.as_deref())
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        g.variant = Some(reasons.join("; "));
    }
    Ok(DupesReport {
        thresholds: *t,
        signals,
        candidate_pairs: cand_list.len(),
        passing_pairs,
        oversized_groups_split: oversized,
        groups,
        variants,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A set of product-index pairs, lower index first.
#[derive(Default)]
struct PairSet(HashSet<(usize, usize)>);

impl PairSet {
    fn add(&mut self, a: usize, b: usize) {
        if a != b {
            self.0.insert((a.min(b), a.max(b)));
        }
    }
    fn add_all_pairs_of(&mut self, members: &[usize]) {
        for i in 0..members.len() {
            for j in i + 1..members.len() {
                self.add(members[i], members[j]);
            }
        }
    }
}

/// Candidate pairs, sorted: products sharing a photo file, photos within `t.phash` bits found
/// through the hash bands, and nearest neighbours above the visual and text thresholds.
fn candidate_pairs(
    products: &[Product],
    clip: Option<&ModelVectors>,
    text: Option<&ModelVectors>,
    t: &Thresholds,
) -> Vec<(usize, usize)> {
    let mut cands = PairSet::default();
    let mut by_hash: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut hashes: Vec<(usize, PHash)> = Vec::new();
    for (pi, p) in products.iter().enumerate() {
        for im in &p.images {
            by_hash.entry(im.hash.as_str()).or_default().push(pi);
            if let Some(h) = im.phash {
                hashes.push((pi, h));
            }
        }
    }
    for owners in by_hash.values() {
        cands.add_all_pairs_of(owners);
    }
    for (a, b) in near_hash_pairs(&hashes, t.phash) {
        cands.add(a, b);
    }
    const K: usize = 10;
    for (vecs, threshold) in [(clip, t.visual), (text, t.text)] {
        let Some(vecs) = vecs else { continue };
        let near: Vec<(usize, usize)> = (0..vecs.nn.all.len())
            .into_par_iter()
            .flat_map_iter(|r| {
                vecs.nearest_products(vecs.row(r), K + 1)
                    .filter(|(_, cos)| *cos >= threshold)
                    .map(|(other, _)| (vecs.owner[r], other))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (a, b) in near {
            cands.add(a, b);
        }
    }
    let mut list: Vec<(usize, usize)> = cands.0.into_iter().collect();
    list.sort_unstable();
    list
}

/// Pairs of owners whose hashes are within `max_bits` of each other, found by banding: two
/// 64-bit hashes within 7 bits agree exactly on at least one of their eight bytes, so only
/// hashes sharing a byte at the same position are compared. Buckets over 2,000 hashes (a
/// byte common to very many photos) are skipped.
fn near_hash_pairs(hashes: &[(usize, PHash)], max_bits: u32) -> Vec<(usize, usize)> {
    let mut bands: HashMap<(u8, u8), Vec<(usize, PHash)>> = HashMap::new();
    for &(owner, h) in hashes {
        for band in 0..8u8 {
            bands
                .entry((band, (h.0 >> (band * 8)) as u8))
                .or_default()
                .push((owner, h));
        }
    }
    let mut out = Vec::new();
    for bucket in bands.values().filter(|b| b.len() > 1 && b.len() <= 2000) {
        for i in 0..bucket.len() {
            for j in i + 1..bucket.len() {
                if bucket[i].1.distance(bucket[j].1) <= max_bits {
                    out.push((bucket[i].0, bucket[j].0));
                }
            }
        }
    }
    out
}

/// The evidence between products `a` and `b`.
fn evidence(
    products: &[Product],
    (a, b): (usize, usize),
    clip: Option<&ModelVectors>,
    text: Option<&ModelVectors>,
) -> Evidence {
    let (pa, pb) = (&products[a], &products[b]);
    Evidence {
        identical_photo: pa
            .images
            .iter()
            .any(|x| pb.images.iter().any(|y| x.hash == y.hash)),
        phash_distance: pa
            .images
            .iter()
            .filter_map(|x| x.phash)
            .flat_map(|x| {
                pb.images
                    .iter()
                    .filter_map(|y| y.phash)
                    .map(move |y| x.distance(y))
            })
            .min(),
        visual: clip.and_then(|v| v.best_pair(a, b)),
        text: text.and_then(|v| {
            v.rows(a)
                .first()
                .zip(v.rows(b).first())
                .map(|(&ra, &rb)| dot(v.row(ra), v.row(rb)))
        }),
        same_price: pa.price.is_some() && pa.price == pb.price,
        same_category: !pa.category.is_empty() && pa.category == pb.category,
        same_color: colours_shared(pa, pb),
    }
}

/// A pair that passes (or was decided a duplicate), with the product indices it links.
struct Link {
    pair: Pair,
    ends: (usize, usize),
}

/// The candidate pairs that pass, with their evidence and any decision that still holds.
/// Pairs decided "not a duplicate" or "variants" are left out until their photos change.
fn links(
    catalog: &Catalog,
    products: &[Product],
    cands: &[(usize, usize)],
    clip: Option<&ModelVectors>,
    text: Option<&ModelVectors>,
    t: &Thresholds,
) -> Result<Vec<Link>> {
    let decisions = stored_decisions(catalog)?;
    let by_id: HashMap<i64, usize> = products
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i))
        .collect();
    let mut out = Vec::new();
    for &(a, b) in cands {
        let (pa, pb) = (&products[a], &products[b]);
        let e = evidence(products, (a, b), clip, text);
        let key = (pa.id.min(pb.id), pa.id.max(pb.id));
        let stored = decisions
            .get(&key)
            .filter(|d| same_photos(&d.fingerprint, pa, pb));
        if stored.is_some_and(|d| d.decision != Decision::Duplicate) {
            continue;
        }
        let decided = stored.is_some_and(|d| d.decision == Decision::Duplicate);
        let conflict = !e.identical_photo && colours_conflict(pa, pb);
        if !decided && (conflict || !passes(&e, t)) {
            continue;
        }
        let keep = stored
            .and_then(|d| d.keep)
            .and_then(|id| by_id.get(&id))
            .map(|&i| products[i].sku.clone());
        let variant = if decided {
            None
        } else {
            variant_reason(pa, pb, &e)
        };
        out.push(Link {
            pair: Pair {
                a: pa.sku.clone(),
                b: pb.sku.clone(),
                confidence: if decided { 1.0 } else { confidence(&e, t) },
                evidence: e,
                decision: stored.map(|d| d.decision),
                keep,
                variant,
            },
            ends: (a, b),
        });
    }
    Ok(out)
}

/// Connected components of the active links, each as its link indices, in a stable order.
fn components(ends: &[(usize, usize)], active: &[bool]) -> Vec<Vec<usize>> {
    fn find(p: &mut HashMap<usize, usize>, x: usize) -> usize {
        let up = *p.get(&x).unwrap_or(&x);
        if up == x {
            return x;
        }
        let r = find(p, up);
        p.insert(x, r);
        r
    }
    let mut parent: HashMap<usize, usize> = HashMap::new();
    for (i, &(a, b)) in ends.iter().enumerate() {
        if active[i] {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if ra != rb {
                parent.insert(ra, rb);
            }
        }
    }
    let mut comps: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &(a, _)) in ends.iter().enumerate() {
        if active[i] {
            let r = find(&mut parent, a);
            comps.entry(r).or_default().push(i);
        }
    }
    comps.into_values().collect()
}

/// The products a set of links joins, sorted.
fn members(ends: &[(usize, usize)], links: &[usize]) -> Vec<usize> {
    let mut m: Vec<usize> = links.iter().flat_map(|&i| [ends[i].0, ends[i].1]).collect();
    m.sort_unstable();
    m.dedup();
    m
}

/// Product-index pairs decided "not a duplicate" or "variants" (while their photos are
/// unchanged), lower index first: they may never end up in one group.
fn decided_apart(catalog: &Catalog, products: &[Product]) -> Result<HashSet<(usize, usize)>> {
    let by_id: HashMap<i64, usize> = products
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i))
        .collect();
    Ok(stored_decisions(catalog)?
        .into_iter()
        .filter(|(_, d)| d.decision != Decision::Duplicate)
        .filter_map(|((a, b), d)| {
            let (a, b) = (*by_id.get(&a)?, *by_id.get(&b)?);
            same_photos(&d.fingerprint, &products[a], &products[b]).then_some((a.min(b), a.max(b)))
        })
        .collect())
}

/// Which links may stay so that no group joins two products decided apart: links are taken
/// strongest first, and one that would join two groups holding such a pair is left out.
/// Without decisions every link stays.
fn respect_decisions(
    ends: &[(usize, usize)],
    confidence: &[f32],
    apart: &HashSet<(usize, usize)>,
) -> Vec<bool> {
    let mut active = vec![true; ends.len()];
    if apart.is_empty() {
        return active;
    }
    let mut order: Vec<usize> = (0..ends.len()).collect();
    order.sort_by(|&x, &y| confidence[y].total_cmp(&confidence[x]).then(x.cmp(&y)));
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in order {
        let (a, b) = ends[i];
        let (ga, gb) = (
            *group_of.entry(a).or_insert(a),
            *group_of.entry(b).or_insert(b),
        );
        if ga == gb {
            continue;
        }
        let ma = members.remove(&ga).unwrap_or_else(|| vec![ga]);
        let mb = members.remove(&gb).unwrap_or_else(|| vec![gb]);
        let clash = ma
            .iter()
            .any(|&x| mb.iter().any(|&y| apart.contains(&(x.min(y), x.max(y)))));
        if clash {
            active[i] = false;
            members.insert(ga, ma);
            members.insert(gb, mb);
            continue;
        }
        for &x in &mb {
            group_of.insert(x, ga);
        }
        members.insert(ga, ma.into_iter().chain(mb).collect());
    }
    active
}

/// Drops the weakest link of each component over `max_group` products until none is; returns
/// which links stay, the products of split groups, and how many over-large groups were met.
/// Links already inactive stay out.
fn split_oversized(
    ends: &[(usize, usize)],
    confidence: &[f32],
    mut active: Vec<bool>,
    max_group: usize,
) -> (Vec<bool>, HashSet<usize>, usize) {
    let mut split_from: HashSet<usize> = HashSet::new();
    let mut oversized = 0;
    loop {
        let comps = components(ends, &active);
        let big: Vec<&Vec<usize>> = comps
            .iter()
            .filter(|c| members(ends, c).len() > max_group)
            .collect();
        if big.is_empty() {
            return (active, split_from, oversized);
        }
        oversized += big.len();
        for c in big {
            if let Some(&weakest) = c
                .iter()
                .min_by(|&&x, &&y| confidence[x].total_cmp(&confidence[y]))
            {
                active[weakest] = false;
                split_from.extend(members(ends, c));
            }
        }
    }
}

/// Groups: connected components of the links, never joining products decided apart,
/// over-large ones split on their weakest links, most confident first. Returns the groups and
/// how many over-large groups were split.
fn group(
    products: &[Product],
    links: Vec<Link>,
    apart: &HashSet<(usize, usize)>,
    max_group: usize,
) -> (Vec<Group>, usize) {
    let ends: Vec<(usize, usize)> = links.iter().map(|l| l.ends).collect();
    let confidence: Vec<f32> = links.iter().map(|l| l.pair.confidence).collect();
    let allowed = respect_decisions(&ends, &confidence, apart);
    let (active, split_from, oversized) = split_oversized(&ends, &confidence, allowed, max_group);
    let mut groups: Vec<Group> = components(&ends, &active)
        .into_iter()
        .map(|c| {
            let m = members(&ends, &c);
            Group {
                id: 0,
                skus: m.iter().map(|&i| products[i].sku.clone()).collect(),
                titles: m.iter().map(|&i| products[i].title.clone()).collect(),
                confidence: c.iter().map(|&i| confidence[i]).fold(1.0, f32::min),
                pairs: c.iter().map(|&i| links[i].pair.clone()).collect(),
                split: m.iter().any(|x| split_from.contains(x)),
                variant: None,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.skus.cmp(&b.skus))
    });
    for (i, g) in groups.iter_mut().enumerate() {
        g.id = i + 1;
    }
    (groups, oversized)
}

/// The merge map as CSV: one row per product to merge away, with the product it merges into,
/// the decision and the evidence (cells a spreadsheet would run as formulas neutralised).
/// Undecided groups propose keeping their first SKU.
pub fn write_merge_map(report: &DupesReport, out: impl std::io::Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "duplicate_sku",
        "kept_sku",
        "group",
        "decision",
        "confidence",
        "evidence",
    ])?;
    for g in &report.groups {
        let keep = g
            .pairs
            .iter()
            .find_map(|p| p.keep.clone())
            .unwrap_or_else(|| g.skus[0].clone());
        for sku in g.skus.iter().filter(|s| **s != keep) {
            let pair = g
                .pairs
                .iter()
                .find(|p| (p.a == *sku && p.b == keep) || (p.b == *sku && p.a == keep))
                .or_else(|| g.pairs.iter().find(|p| p.a == *sku || p.b == *sku));
            let (decision, evidence, conf) = match pair {
                Some(p) => (
                    p.decision.map(|d| d.as_str()).unwrap_or("proposed"),
                    describe(&p.evidence),
                    p.confidence,
                ),
                None => ("proposed", String::new(), g.confidence),
            };
            w.write_record(
                [
                    sku.as_str(),
                    keep.as_str(),
                    &g.id.to_string(),
                    decision,
                    &format!("{conf:.3}"),
                    &evidence,
                ]
                .map(|c| safe_cell(c).into_owned()),
            )?;
        }
    }
    w.flush().map_err(|e| Error::io("<merge map>", e))?;
    Ok(())
}

/// Evidence in words, for tables and the merge map.
pub fn describe(e: &Evidence) -> String {
    let mut parts = Vec::new();
    if e.identical_photo {
        parts.push("identical photo".to_string());
    }
    if let Some(d) = e.phash_distance {
        parts.push(format!("photo hash distance {d}"));
    }
    if let Some(v) = e.visual {
        parts.push(format!("visual {v:.2}"));
    }
    if let Some(t) = e.text {
        parts.push(format!("text {t:.2}"));
    }
    for (same, what) in [
        (e.same_price, "same price"),
        (e.same_category, "same category"),
        (e.same_color, "same colour"),
    ] {
        if same {
            parts.push(what.into());
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(title: &str, price: Option<f64>) -> Product {
        Product {
            id: 0,
            sku: String::new(),
            title: title.into(),
            description: String::new(),
            category: String::new(),
            color: String::new(),
            price,
            attributes: Default::default(),
            origin: crate::domain::Origin::Csv,
            source: String::new(),
            images: Vec::new(),
        }
    }

    #[test]
    fn titles_that_differ_by_a_size_or_count_are_variants_and_rewordings_are_not() {
        let shared_photo = Evidence {
            identical_photo: true,
            ..Evidence::default()
        };
        let other = Evidence::default();
        let variant = |a: &str, b: &str| {
            variant_reason(&listing(a, Some(10.0)), &listing(b, Some(10.0)), &other)
        };
        for (a, b) in [
            ("Sprite Stasis Ball 55 cm", "Sprite Stasis Ball 65 cm"),
            ("Yoga Strap 6 foot", "Yoga Strap 10 foot"),
            ("Water bottle 500ml", "Water bottle 750ml"),
            ("Tee, size M", "Tee, size XL"),
            ("Socks 3-pack", "Socks 6-pack"),
            ("Mug", "Mug 2 pcs"),
        ] {
            assert!(variant(a, b).is_some(), "{a} / {b}");
        }
        for (a, b) in [
            ("Joust Duffle Bag", "Duffle Bag Joust"),
            ("Canvas tote", "Canvas tote bag"),
            ("Set of Sprite Yoga Straps", "Sprite Yoga Strap 6 foot"),
            ("Red mug", "Red mug"),
        ] {
            assert!(variant(a, b).is_none(), "{a} / {b}");
        }
        assert_eq!(
            variant("Sprite Stasis Ball 55 cm", "Sprite Stasis Ball 65 cm").unwrap(),
            "the titles differ by size: 55 cm / 65 cm"
        );
        // A shared photo at another price is a variant; at the same price, a duplicate.
        let (a, b) = (listing("Mat", Some(20.0)), listing("Yoga mat", Some(24.0)));
        assert!(
            variant_reason(&a, &b, &shared_photo)
                .unwrap()
                .contains("20.00 / 24.00")
        );
        let c = listing("Yoga mat", Some(20.0));
        assert!(variant_reason(&a, &c, &shared_photo).is_none());
    }

    #[test]
    fn hash_banding_finds_every_pair_within_the_limit_and_no_other() {
        let base = 0x0123_4567_89ab_cdefu64;
        // 7 bits apart, spread over seven of the eight bytes: one byte still agrees.
        let near = base ^ (1 | 1 << 9 | 1 << 18 | 1 << 27 | 1 << 36 | 1 << 45 | 1 << 54);
        // 8 bits apart, one in each byte: no byte agrees, and 8 is over the limit anyway.
        let far = base ^ 0x0101_0101_0101_0101;
        let hashes = [(0, PHash(base)), (1, PHash(near)), (2, PHash(far))];
        let mut pairs = near_hash_pairs(&hashes, 7);
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs, vec![(0, 1)]);
        assert!(near_hash_pairs(&hashes, 6).is_empty());
    }

    #[test]
    fn an_over_large_group_is_split_on_its_weakest_links() {
        // A chain 0-1-2-3-4 whose middle link is weakest, and a separate pair 5-6.
        let ends = [(0, 1), (1, 2), (2, 3), (3, 4), (5, 6)];
        let confidence = [0.9, 0.8, 0.2, 0.7, 0.95];
        let (active, split_from, oversized) =
            split_oversized(&ends, &confidence, vec![true; ends.len()], 3);
        assert_eq!(active, vec![true, true, false, true, true]);
        assert_eq!(oversized, 1);
        assert_eq!(split_from, HashSet::from([0, 1, 2, 3, 4]));
        let mut groups: Vec<Vec<usize>> = components(&ends, &active)
            .iter()
            .map(|c| members(&ends, c))
            .collect();
        groups.sort();
        assert_eq!(groups, vec![vec![0, 1, 2], vec![3, 4], vec![5, 6]]);
        // Within the limit nothing is split.
        let (active, split_from, oversized) =
            split_oversized(&ends, &confidence, vec![true; ends.len()], 5);
        assert!(active.iter().all(|a| *a) && split_from.is_empty() && oversized == 0);
    }

    #[test]
    fn evidence_passes_by_its_thresholds() {
        let t = Thresholds::default();
        let e = |f: &dyn Fn(&mut Evidence)| {
            let mut e = Evidence::default();
            f(&mut e);
            passes(&e, &t)
        };
        assert!(e(&|e| e.identical_photo = true));
        assert!(e(&|e| e.phash_distance = Some(2)));
        assert!(!e(&|e| e.phash_distance = Some(5)), "needs corroboration");
        assert!(e(&|e| {
            e.phash_distance = Some(5);
            e.text = Some(0.8);
        }));
        assert!(e(&|e| {
            e.phash_distance = Some(5);
            e.same_price = true;
            e.same_category = true;
        }));
        assert!(e(&|e| e.visual = Some(0.95)));
        assert!(
            !e(&|e| e.text = Some(0.99)),
            "text alone needs every attribute"
        );
        assert!(e(&|e| {
            e.text = Some(0.99);
            e.same_price = true;
            e.same_category = true;
            e.same_color = true;
        }));
    }

    #[test]
    fn the_merge_map_neutralises_formulas_in_skus() {
        let report = DupesReport {
            thresholds: Thresholds::default(),
            signals: Vec::new(),
            candidate_pairs: 1,
            passing_pairs: 1,
            oversized_groups_split: 0,
            groups: vec![Group {
                id: 1,
                skus: vec!["=cmd|' /C calc'!A0".into(), "+SUM(1)".into()],
                titles: vec![String::new(), String::new()],
                confidence: 0.9,
                pairs: Vec::new(),
                split: false,
                variant: None,
            }],
            variants: Vec::new(),
            seconds: 0.0,
        };
        let mut out = Vec::new();
        write_merge_map(&report, &mut out).unwrap();
        let mut r = csv::Reader::from_reader(out.as_slice());
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "'+SUM(1)");
        assert_eq!(&row[1], "'=cmd|' /C calc'!A0");
    }

    #[test]
    fn thresholds_refuse_values_that_mean_nothing() {
        let t: Thresholds = "phash=4, visual=0.9, max-group=3".parse().unwrap();
        assert_eq!((t.phash, t.visual, t.max_group), (4, 0.9, 3));
        for bad in [
            "visual=NaN",
            "max-group=0",
            "max-group=1",
            "text=2",
            "phash=65",
            "phash=-1",
            "visual",
        ] {
            assert!(bad.parse::<Thresholds>().is_err(), "{bad}");
        }
    }

    #[test]
    fn products_decided_apart_never_share_a_group() {
        // A and B (0, 1) were decided apart; both link to C (2), A more strongly.
        let ends = [(0, 2), (1, 2), (3, 4)];
        let confidence = [0.9, 0.8, 0.95];
        let apart = HashSet::from([(0, 1)]);
        assert_eq!(
            respect_decisions(&ends, &confidence, &apart),
            vec![true, false, true]
        );
        assert_eq!(
            respect_decisions(&ends, &confidence, &HashSet::new()),
            vec![true; 3]
        );
    }
}
