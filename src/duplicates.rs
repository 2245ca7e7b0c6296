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

use crate::catalog::{Catalog, Product};
use crate::error::{Error, Result};
use crate::index::{Hnsw, Neighbours, VectorSet, dot};
use crate::phash;

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
            let bad = || format!("{v:?} is not a valid value for {k}");
            match k.trim() {
                "phash" => t.phash = v.trim().parse().map_err(|_| bad())?,
                "phash-alone" | "phash_alone" => {
                    t.phash_alone = v.trim().parse().map_err(|_| bad())?
                }
                "corroborating-text" | "corroborating_text" => {
                    t.corroborating_text = v.trim().parse().map_err(|_| bad())?
                }
                "visual" => t.visual = v.trim().parse().map_err(|_| bad())?,
                "text" => t.text = v.trim().parse().map_err(|_| bad())?,
                "max-group" | "max_group" => t.max_group = v.trim().parse().map_err(|_| bad())?,
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
}

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
}

#[derive(Debug, Clone, Serialize)]
pub struct DupesReport {
    pub thresholds: Thresholds,
    pub signals: Vec<String>,
    pub candidate_pairs: usize,
    pub passing_pairs: usize,
    /// Over-large groups that were split on their weakest links.
    pub oversized_groups_split: usize,
    pub groups: Vec<Group>,
    pub seconds: f64,
}

/// Vectors of one model, with the product each row belongs to.
struct Vectors {
    nn: Neighbours,
    owner: Vec<usize>,
    rows_of: Vec<Vec<usize>>,
}

fn load_vectors(
    catalog: &Catalog,
    kind: &str,
    model: &str,
    products: &[Product],
) -> Result<Option<Vectors>> {
    let by_id: HashMap<i64, usize> = match kind {
        "image" => products
            .iter()
            .enumerate()
            .flat_map(|(pi, p)| p.images.iter().map(move |i| (i.id, pi)))
            .collect(),
        _ => products
            .iter()
            .enumerate()
            .map(|(pi, p)| (p.id, pi))
            .collect(),
    };
    let mut set = VectorSet::new(0);
    let mut owner = Vec::new();
    for (id, v) in catalog.store.vectors(kind, model)? {
        if let Some(&pi) = by_id.get(&id) {
            set.push(id, &v)?;
            owner.push(pi);
        }
    }
    if set.is_empty() {
        return Ok(None);
    }
    let mut rows_of = vec![Vec::new(); products.len()];
    for (r, &pi) in owner.iter().enumerate() {
        rows_of[pi].push(r);
    }
    let hnsw = Hnsw::load(&catalog.index_path(model, kind)).ok();
    Ok(Some(Vectors {
        nn: Neighbours::new(set, hnsw),
        owner,
        rows_of,
    }))
}

/// Fingerprint of a pair's photos: a decision holds while this stays the same.
fn photos_fingerprint(a: &Product, b: &Product) -> String {
    let (a, b) = if a.id < b.id { (a, b) } else { (b, a) };
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

impl Catalog {
    fn stored_decisions(&self) -> Result<HashMap<(i64, i64), StoredDecision>> {
        Ok(self
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
    pub fn decide_duplicates(
        &self,
        decision: Decision,
        skus: &[String],
        keep: Option<&str>,
    ) -> Result<usize> {
        if skus.len() < 2 {
            return Err(Error::InvalidInput(
                "a decision needs at least two SKUs".into(),
            ));
        }
        let products: Vec<Product> = skus
            .iter()
            .map(|s| self.product(s))
            .collect::<Result<_>>()?;
        let keep_id = match (decision, keep) {
            (Decision::Duplicate, Some(k)) => Some(
                products
                    .iter()
                    .find(|p| p.sku == k)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "the product to keep, {k}, is not among the SKUs"
                        ))
                    })?
                    .id,
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
                self.store.put_decision(
                    a.id,
                    b.id,
                    decision.as_str(),
                    keep_id,
                    &photos_fingerprint(a, b),
                )?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Finds duplicate groups with the vectors of the catalog's active CLIP and product-text
    /// models in `models`.
    pub fn find_duplicates_active(
        &self,
        models: &crate::models::Models,
        t: &Thresholds,
    ) -> Result<DupesReport> {
        use crate::models::ModelKind;
        let clip = self.active_model(models, ModelKind::Clip)?.map(|m| m.id);
        let text = self.active_model(models, ModelKind::Text)?.map(|m| m.id);
        self.find_duplicates(clip.as_deref(), text.as_deref(), t)
    }

    /// Finds duplicate groups. `clip_model` and `text_model` name the vectors to use (either may
    /// be absent; perceptual hashes and content hashes are always there).
    pub fn find_duplicates(
        &self,
        clip_model: Option<&str>,
        text_model: Option<&str>,
        t: &Thresholds,
    ) -> Result<DupesReport> {
        let started = Instant::now();
        let products = self.store.all_products_with_images()?;
        let by_id: HashMap<i64, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        let clip = match clip_model {
            Some(m) => load_vectors(self, "image", m, &products)?,
            None => None,
        };
        let text = match text_model {
            Some(m) => load_vectors(self, "product", m, &products)?,
            None => None,
        };
        let mut signals = vec!["identical".to_string(), "phash".to_string()];
        if clip.is_some() {
            signals.push("visual".into());
        }
        if text.is_some() {
            signals.push("text".into());
        }

        // Candidate pairs (product indices, lower first).
        let mut cands: HashSet<(usize, usize)> = HashSet::new();
        let add = |a: usize, b: usize, c: &mut HashSet<(usize, usize)>| {
            if a != b {
                c.insert((a.min(b), a.max(b)));
            }
        };
        let mut by_hash: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut bands: HashMap<(u8, u8), Vec<(usize, u64)>> = HashMap::new();
        for (pi, p) in products.iter().enumerate() {
            for im in &p.images {
                by_hash.entry(im.hash.as_str()).or_default().push(pi);
                if let Some(h) = im.phash {
                    let h = h as u64;
                    for band in 0..8u8 {
                        bands
                            .entry((band, (h >> (band * 8)) as u8))
                            .or_default()
                            .push((pi, h));
                    }
                }
            }
        }
        for owners in by_hash.values() {
            for i in 0..owners.len() {
                for j in i + 1..owners.len() {
                    add(owners[i], owners[j], &mut cands);
                }
            }
        }
        for bucket in bands.values().filter(|b| b.len() > 1 && b.len() <= 2000) {
            for i in 0..bucket.len() {
                for j in i + 1..bucket.len() {
                    if phash::distance(bucket[i].1, bucket[j].1) <= t.phash {
                        add(bucket[i].0, bucket[j].0, &mut cands);
                    }
                }
            }
        }
        const K: usize = 10;
        for (vecs, threshold) in [(&clip, t.visual), (&text, t.text)] {
            let Some(vecs) = vecs else { continue };
            let row_of: HashMap<i64, usize> = vecs
                .nn
                .all
                .ids
                .iter()
                .enumerate()
                .map(|(r, id)| (*id, r))
                .collect();
            let near: Vec<(usize, usize)> = (0..vecs.nn.all.len())
                .into_par_iter()
                .flat_map_iter(|r| {
                    vecs.nn
                        .nearest(vecs.nn.all.row(r), K + 1)
                        .into_iter()
                        .filter(|(_, cos)| *cos >= threshold)
                        .filter_map(|(id, _)| {
                            row_of
                                .get(&id)
                                .map(|&other| (vecs.owner[r], vecs.owner[other]))
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            for (a, b) in near {
                add(a, b, &mut cands);
            }
        }

        // Evidence for each candidate pair.
        let decisions = self.stored_decisions()?;
        let mut edges: Vec<Pair> = Vec::new();
        let mut idx_pairs: Vec<(usize, usize)> = Vec::new();
        let mut cand_list: Vec<(usize, usize)> = cands.iter().copied().collect();
        cand_list.sort_unstable();
        for &(a, b) in &cand_list {
            let (pa, pb) = (&products[a], &products[b]);
            let mut e = Evidence {
                identical_photo: pa
                    .images
                    .iter()
                    .any(|x| pb.images.iter().any(|y| x.hash == y.hash)),
                ..Evidence::default()
            };
            e.phash_distance = pa
                .images
                .iter()
                .filter_map(|x| x.phash)
                .flat_map(|x| {
                    pb.images
                        .iter()
                        .filter_map(|y| y.phash)
                        .map(move |y| phash::distance(x as u64, y as u64))
                })
                .min();
            if let Some(v) = &clip {
                e.visual = v.rows_of[a]
                    .iter()
                    .flat_map(|&ra| v.rows_of[b].iter().map(move |&rb| (ra, rb)))
                    .map(|(ra, rb)| dot(v.nn.all.row(ra), v.nn.all.row(rb)))
                    .reduce(f32::max);
            }
            if let Some(v) = &text {
                e.text = v.rows_of[a]
                    .first()
                    .zip(v.rows_of[b].first())
                    .map(|(&ra, &rb)| dot(v.nn.all.row(ra), v.nn.all.row(rb)));
            }
            e.same_price = pa.price.is_some() && pa.price == pb.price;
            e.same_category = !pa.category.is_empty() && pa.category == pb.category;
            e.same_color = colours_shared(pa, pb);
            let key = (pa.id.min(pb.id), pa.id.max(pb.id));
            let stored = decisions
                .get(&key)
                .filter(|d| d.fingerprint == photos_fingerprint(pa, pb));
            // "Not a duplicate" and "variants" hold until the photos change.
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
            edges.push(Pair {
                a: pa.sku.clone(),
                b: pb.sku.clone(),
                confidence: if decided { 1.0 } else { confidence(&e, t) },
                evidence: e,
                decision: stored.map(|d| d.decision),
                keep,
            });
            idx_pairs.push((a, b));
        }

        // Groups: connected components, over-large ones split on their weakest links.
        let mut active: Vec<bool> = vec![true; edges.len()];
        let components = |active: &[bool]| -> Vec<Vec<usize>> {
            let mut parent: HashMap<usize, usize> = HashMap::new();
            fn find(p: &mut HashMap<usize, usize>, x: usize) -> usize {
                let up = *p.get(&x).unwrap_or(&x);
                if up == x {
                    return x;
                }
                let r = find(p, up);
                p.insert(x, r);
                r
            }
            for (i, &(a, b)) in idx_pairs.iter().enumerate() {
                if active[i] {
                    let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                    if ra != rb {
                        parent.insert(ra, rb);
                    }
                }
            }
            let mut comps: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (i, &(a, _)) in idx_pairs.iter().enumerate() {
                if active[i] {
                    let r = find(&mut parent, a);
                    comps.entry(r).or_default().push(i);
                }
            }
            comps.into_values().collect()
        };
        let members = |edge_ids: &[usize]| -> Vec<usize> {
            let mut m: Vec<usize> = edge_ids
                .iter()
                .flat_map(|&i| [idx_pairs[i].0, idx_pairs[i].1])
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        let mut split_from: HashSet<usize> = HashSet::new();
        let mut oversized = 0;
        loop {
            let comps = components(&active);
            let big: Vec<&Vec<usize>> = comps
                .iter()
                .filter(|c| members(c).len() > t.max_group)
                .collect();
            if big.is_empty() {
                break;
            }
            oversized += big.len();
            for c in big {
                // Drop the weakest link of the over-large group (decided links last).
                if let Some(&weakest) = c
                    .iter()
                    .min_by(|&&x, &&y| edges[x].confidence.total_cmp(&edges[y].confidence))
                {
                    active[weakest] = false;
                    split_from.extend(members(c));
                }
            }
        }
        let mut groups: Vec<Group> = components(&active)
            .into_iter()
            .map(|c| {
                let m = members(&c);
                let split = m.iter().any(|x| split_from.contains(x));
                Group {
                    id: 0,
                    skus: m.iter().map(|&i| products[i].sku.clone()).collect(),
                    titles: m.iter().map(|&i| products[i].title.clone()).collect(),
                    confidence: c.iter().map(|&i| edges[i].confidence).fold(1.0, f32::min),
                    pairs: c.iter().map(|&i| edges[i].clone()).collect(),
                    split,
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
        Ok(DupesReport {
            thresholds: *t,
            signals,
            candidate_pairs: cand_list.len(),
            passing_pairs: edges.len(),
            oversized_groups_split: oversized,
            groups,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The merge map as CSV: one row per product to merge away, with the product it merges into,
/// the decision and the evidence. Undecided groups propose keeping their first SKU.
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
            w.write_record([
                sku.as_str(),
                keep.as_str(),
                &g.id.to_string(),
                decision,
                &format!("{conf:.3}"),
                &evidence,
            ])?;
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

/// Fills an empty catalog with one synthetic product per vector (a photo with that CLIP vector
/// under `model` and a perceptual hash made from it), for benchmarks.
pub fn synthetic_catalog(catalog: &Catalog, vectors: &VectorSet, model: &str) -> Result<()> {
    let rows = (0..vectors.len()).map(|i| {
        let v = vectors.row(i);
        // A hash from the vector's signs, so near vectors get near hashes.
        let ph = (0..64).fold(0u64, |h, b| {
            if v[b * v.len() / 64] > 0.0 {
                h | (1 << b)
            } else {
                h
            }
        });
        (format!("S{i}"), ph as i64, v)
    });
    catalog.store.insert_synthetic(rows, model)
}

impl Catalog {
    /// Builds and saves the nearest-neighbour index of one model's vectors if it is large
    /// enough to need one; returns whether it did.
    pub fn index_for(&self, model: &str, kind: &str) -> Result<bool> {
        let vectors = self.store.vectors(kind, model)?;
        if vectors.len() < crate::index::EXACT_BELOW {
            return Ok(false);
        }
        let mut set = VectorSet::new(0);
        for (id, v) in &vectors {
            set.push(*id, v)?;
        }
        drop(vectors);
        Hnsw::build(&set, crate::index::EF_CONSTRUCTION, crate::index::EF_SEARCH)
            .save(&self.index_path(model, kind))?;
        Ok(true)
    }
}
