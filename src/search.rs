//! Search: candidates from every signal, exact re-scoring, filters, weighted fusion, and a
//! per-result explanation.
//!
//! Signals, each a score in [0, 1] per product:
//! - `visual`: the query photo's CLIP embedding against the product's photos; the best photo
//!   counts. For "more like this", the best pair of the two products' photos.
//! - `crossmodal`: the query text's CLIP embedding against the product's photos, each less its
//!   lean towards every text ([`crate::hubness`]); best photo.
//! - `text`: the query text's sentence embedding against the product's text embedding.
//! - `keyword`: BM25 over title, description, category, colour and SKU, in memory
//!   ([`crate::lexicon`]).
//! - `phash`: perceptual-hash distance between the query photo and the product's photos.
//!
//! Each signal's score becomes evidence in [0, 1] and the evidence is fused: see
//! [`crate::fusion`]. A query that is exactly a product's SKU puts that product first, as the
//! one strong match. "Not" terms multiply the fused score by `1 - penalty`: the penalty is 1
//! for a product whose text contains the term, else how close the product's text is to the
//! term relative to the 10% of the catalog closest to it (0 below that). Products with equal
//! scores keep the ones without a penalty first, then the higher score before the penalty,
//! then go by SKU.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::domain::{OwnerKind, PHash, Product};
use crate::error::{Error, Result};
use crate::fusion::{self, Column, Fusion, Spread};
use crate::hubness;
use crate::index::EXACT_BELOW;
use crate::lexicon::{self, Lexicon};
use crate::model_choice::{Encoders, Unavailable};
use crate::models::ModelKind;
use crate::phash;
use crate::photo;
use crate::query::{
    Filters, LONG_QUERY_WORDS, PhotoInput, Query, ReadPhrase, Sort, Weights, parse_text_in,
};
use crate::vectors::ModelVectors;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Visual,
    Crossmodal,
    Text,
    Keyword,
    Phash,
}

/// Every signal, in the order of the sliders.
pub const SIGNALS: [Signal; 5] = [
    Signal::Visual,
    Signal::Crossmodal,
    Signal::Text,
    Signal::Keyword,
    Signal::Phash,
];

impl Signal {
    /// The signal's weight in `w`.
    pub fn weight(self, w: &Weights) -> f32 {
        match self {
            Signal::Visual => w.visual,
            Signal::Crossmodal => w.crossmodal,
            Signal::Text => w.text,
            Signal::Keyword => w.keyword,
            Signal::Phash => w.phash,
        }
    }
    /// Sets the signal's weight in `w`.
    pub fn set_weight(self, w: &mut Weights, v: f32) {
        let slot = match self {
            Signal::Visual => &mut w.visual,
            Signal::Crossmodal => &mut w.crossmodal,
            Signal::Text => &mut w.text,
            Signal::Keyword => &mut w.keyword,
            Signal::Phash => &mut w.phash,
        };
        *slot = v;
    }

    fn slot(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Visual => "visual",
            Signal::Crossmodal => "crossmodal",
            Signal::Text => "text",
            Signal::Keyword => "keyword",
            Signal::Phash => "phash",
        }
    }

    /// The kind of model the signal needs, if any (keywords and perceptual hashes need none).
    pub fn requires(self) -> Option<ModelKind> {
        match self {
            Signal::Visual | Signal::Crossmodal => Some(ModelKind::Clip),
            Signal::Text => Some(ModelKind::Text),
            Signal::Keyword | Signal::Phash => None,
        }
    }
}

/// Bits of perceptual-hash distance at which `phash` reaches 0.
const PHASH_RANGE: f32 = 12.0;
/// Products sampled for the per-query spread and word weights of large catalogs.
const SAMPLE: usize = 2000;
/// Products scored on one thread before another is worth starting.
const PER_THREAD: usize = 512;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct SignalScore {
    pub signal: Signal,
    /// Evidence, in [0, 1]: how strongly the signal singles the product out.
    pub score: f32,
    /// The signal's share of the fused score (the shares of a result add up to 1).
    pub share: f32,
    /// Before calibration: cosine, BM25 (relative to the query's best), or bits of hash distance.
    pub raw: f32,
    pub weight: f32,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct MatchedImage {
    pub path: String,
    pub hash: String,
    pub thumbnail: PathBuf,
    pub view: String,
    pub color: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub rank: usize,
    pub sku: String,
    pub title: String,
    pub category: String,
    pub color: String,
    pub price: Option<f64>,
    pub score: f32,
    pub signals: Vec<SignalScore>,
    /// From "not" terms, in [0, 1]; the fused score was multiplied by `1 - penalty`.
    pub penalty: f32,
    /// The query names kinds of product and this is none of them: its text signals' evidence
    /// counted [`fusion::KINDLESS_PART`] (shown so in `signals`).
    pub other_kind: bool,
    pub matched_image: Option<MatchedImage>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// The query's text as read: without its price phrases and "not" terms.
    pub text: String,
    pub not: Vec<String>,
    /// The typed phrases read as "not" terms or price limits.
    pub read: Vec<ReadPhrase>,
    pub filters: Filters,
    pub weights: Weights,
    /// The signals this query has.
    pub signals: Vec<Signal>,
    /// Products that pass the filters, among the candidates.
    pub total: usize,
    /// How many results at the top are strong matches (see [`fusion::strong_matches`]).
    pub strong: usize,
    pub fusion: Fusion,
    pub sort: Sort,
    pub offset: usize,
    pub hits: Vec<Hit>,
    /// Candidates scored (every product when the scan is exact).
    pub candidates: usize,
    pub exact: bool,
    pub unavailable: Vec<Unavailable>,
    /// The typed text seems written in a language the visual model was not trained on.
    pub language_note: Option<LanguageNote>,
    /// Typed words that no product has, and the catalog words searched for instead.
    pub spelling: Vec<Spelling>,
    /// Words of a short query (up to [`LONG_QUERY_WORDS`]) that no product has and that were
    /// not read as other words: only the models read them ("sunglasses" where the catalog has
    /// none).
    pub unknown: Vec<String>,
    /// With a text-to-photo signal weighed above 0: how well the catalog's titles find their
    /// own photos with the visual model (Somers' D, [`hubness::agreement`]), which that
    /// signal's evidence is multiplied by; near 0 for a model that cannot read this catalog.
    pub title_photo_agreement: Option<f32>,
}

/// A typed word no product has, searched for as the catalog word it was likely meant to be or
/// as the two catalog words it runs together ("tshirt": "t shirt"; the models read it as
/// typed); or a shade no product's colour names, searched for as the catalog's colours it is a
/// shade of too ("navy": "blue"; `colour`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spelling {
    /// As typed (lower case).
    pub typed: String,
    /// The catalog's words searched for instead ("blue or green" for a shade of both).
    pub read: String,
    /// A shade searched for as the catalog's colours as well (the models read it as typed).
    pub colour: bool,
}

/// A query in a language the visual model may not understand.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageNote {
    /// In English words, e.g. "Spanish" (see [`crate::language::foreign_language`]).
    pub language: String,
    /// The visual model's name.
    pub model: String,
}

/// A query made ready: its embeddings computed and every candidate scored. Ranking it with
/// other weights ([`Searcher::rank`]) encodes nothing again.
pub struct Prepared {
    text: String,
    not: Vec<String>,
    read: Vec<ReadPhrase>,
    filters: Filters,
    signals: Vec<Signal>,
    cands: Vec<Cand>,
    exact: bool,
    sort: Sort,
    /// Told once here, not at every ranking: see [`Searcher::language_note`].
    language_note: Option<LanguageNote>,
    spelling: Vec<Spelling>,
    unknown: Vec<String>,
}

impl Prepared {
    /// The signals this query has.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }
}

struct Cand {
    product: usize,
    /// The query text is this product's SKU.
    sku_match: bool,
    score: [f32; 5],
    raw: [f32; 5],
    image: Option<usize>,
    penalty: f32,
    /// The query names kinds of product and this product has none of them
    /// ([`Lexicon::coverage_and_kinds`]).
    kindless: bool,
}

/// Search over one catalog, with its encoders loaded once. It holds what it searches in memory
/// (products, vectors, indexes, words), so a search never waits for an import or a duplicate
/// scan.
pub struct Searcher {
    products: Vec<Product>,
    by_sku: HashMap<String, usize>,
    clip: Option<ModelVectors>,
    text: Option<ModelVectors>,
    /// Product-text vectors of products' passages (see [`crate::embed::passages`]).
    passages: Option<ModelVectors>,
    /// Per row of `clip`, what its text-to-photo cosine loses for its lean towards every text,
    /// and how well the catalog's titles find their own photos ([`crate::hubness`]).
    hubs: hubness::Hubs,
    encoders: Encoders,
    lexicon: Lexicon,
    thumbs: PathBuf,
    cache: Mutex<HashMap<(bool, String), Vec<f32>>>,
    /// Whether some product has a price.
    priced: bool,
}

/// The query's own side, ready to score products with: its vectors, hashes and keywords.
struct QuerySide {
    /// CLIP vectors of the query photo (or of the "like" product's photos).
    photo_vecs: Vec<Vec<f32>>,
    photo_hashes: Vec<PHash>,
    /// Sentence vectors of the query text (or of the "like" product's text).
    text_vecs: Vec<Vec<f32>>,
    /// CLIP vector of the query text.
    clip_text: Option<Vec<f32>>,
    /// Sentence vector of the typed text, which is also scored against products' passages.
    passage_query: Option<Vec<f32>>,
    /// The words of the text (or of the "like" product's title), for keywords.
    terms: Vec<lexicon::Term>,
    /// Typed words no product has, read as the catalog word they were likely meant to be.
    spelling: Vec<Spelling>,
    /// Typed words no product has, read as no other ([`SearchResults::unknown`]).
    unknown: Vec<String>,
}

/// Each signal's raw score for one product (`None`: the signal does not apply), and the rows of
/// the photos that matched visually and cross-modally.
struct Raw {
    raw: [Option<f32>; 5],
    visual_row: Option<usize>,
    crossmodal_row: Option<usize>,
}

fn quantile(mut v: Vec<f32>, q: f32) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f32 * q).round() as usize;
    v.select_nth_unstable_by(i, |a, b| a.total_cmp(b));
    v[i]
}

fn scale(x: f32, lo: f32, hi: f32) -> f32 {
    if hi - lo <= 1e-6 {
        0.0
    } else {
        ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    }
}

/// The keyword signal's two BM25 rankings and their shares: BM25 over the fields that name a
/// product (title, category, colour, SKU) counts three times BM25 over all of them with the
/// description, each divided by its best for the query. (BM25 applies field weights before
/// term-frequency saturation, so weights alone let a word in a short description score nearly
/// like one in a title.)
const KEYWORD_PARTS: [([bool; lexicon::FIELDS], f32); 2] =
    [(lexicon::NAMING_FIELDS, 0.75), (lexicon::ALL_FIELDS, 0.25)];
/// Products each keyword ranking gives scores to (the rest of the catalog scores 0).
const KEYWORD_LIMIT: usize = 5000;

/// Typed text read into words, "not" terms, price limits and an order, merged with the query's
/// own.
struct ReadQuery {
    text: String,
    not: Vec<String>,
    filters: Filters,
    phrases: Vec<ReadPhrase>,
    sort: Sort,
}

/// `priced`: whether some product has a price; where none has, a typed price limit would
/// leave nothing and is not applied (its phrase says so).
fn read_query(q: &Query, lexicon: &Lexicon, priced: bool) -> ReadQuery {
    let mut parsed = parse_text_in(&q.text, &|w| lexicon.writes_after_no(w));
    let mut filters = q.filters.clone();
    if priced {
        filters.min_price = filters.min_price.or(parsed.min_price);
        filters.max_price = filters.max_price.or(parsed.max_price);
    } else {
        for p in parsed.phrases.iter_mut().filter(|p| p.kind == "price") {
            p.applied = false;
        }
    }
    let mut not: Vec<String> = q
        .not
        .iter()
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    not.extend(parsed.not.iter().cloned());
    not.dedup();
    ReadQuery {
        text: parsed.text.trim().to_string(),
        not,
        filters,
        phrases: parsed.phrases,
        // An order chosen outside the text (the app's menu, `--sort`) wins over one typed.
        sort: match q.sort {
            Sort::Relevance => parsed.sort.unwrap_or_default(),
            chosen => chosen,
        },
    }
}

/// `text` with each word read as another ([`Spelling`]) replaced by the word read.
fn meant(text: &str, spelling: &[Spelling]) -> String {
    if spelling.is_empty() {
        return text.to_string();
    }
    text.split_whitespace()
        .map(|w| match lexicon::terms(w).as_slice() {
            [t] => spelling
                .iter()
                .find(|s| s.typed == t.typed)
                .map_or(w, |s| s.read.as_str()),
            _ => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A text's keyword terms, with the words read as others: typos corrected (which the models
/// read corrected too), and words split in two or shades no product has read as the catalog's
/// colours (which the models read as typed).
struct ReadWords {
    terms: Vec<lexicon::Term>,
    corrected: Vec<Spelling>,
    as_others: Vec<Spelling>,
    /// Words no product has, read as no other.
    unknown: Vec<String>,
}

/// Per-query evidence from raw scores (see [`crate::fusion`]).
struct Evidence {
    /// Per signal slot, the spread over the catalog (embedding signals).
    spread: [Option<Spread>; 5],
    /// The query's words, weighed over the catalog.
    words: lexicon::Weighed,
    /// The spread of the catalog's shares of those words, and the best share.
    coverage: Spread,
    best_share: f32,
    /// Per signal slot, what its evidence is worth in this catalog ([`Searcher::trust`]).
    trust: [f32; 5],
}

impl Evidence {
    /// From the raw scores and the shares of the query's words (`coverage`) over the catalog.
    fn new(
        population: &[Raw],
        words: lexicon::Weighed,
        coverage: &[f32],
        trust: [f32; 5],
    ) -> Evidence {
        let mut spread = [None; 5];
        for s in [Signal::Visual, Signal::Crossmodal, Signal::Text] {
            let vals: Vec<f32> = population.iter().filter_map(|r| r.raw[s.slot()]).collect();
            if !vals.is_empty() {
                spread[s.slot()] = Some(Spread::of(&vals));
            }
        }
        Evidence {
            spread,
            coverage: Spread::of_shares(coverage, words.words()),
            words,
            best_share: coverage.iter().copied().fold(0.0, f32::max),
            trust,
        }
    }

    /// Evidence and raw scores of product `pi` (0 where a signal does not apply), and whether
    /// the query names kinds of product of which it has none.
    fn scores(
        &self,
        pi: usize,
        raw: &[Option<f32>; 5],
        lexicon: &Lexicon,
    ) -> ([f32; 5], [f32; 5], bool) {
        let mut score = [0f32; 5];
        let mut rawv = [0f32; 5];
        let (share, kinds, kindless) = lexicon.coverage_and_kinds(pi, &self.words);
        for s in SIGNALS {
            let i = s.slot();
            let Some(r) = raw[i] else { continue };
            rawv[i] = r;
            score[i] = match s {
                Signal::Keyword => {
                    let standout = fusion::share_standout(&self.coverage, share, self.best_share);
                    fusion::keyword_evidence(share, standout, r, kinds)
                }
                Signal::Phash => ((PHASH_RANGE - r) / PHASH_RANGE).clamp(0.0, 1.0),
                _ => self.spread[i].map_or(0.0, |sp| sp.evidence(r)),
            } * self.trust[i];
        }
        (score, rawv, kindless)
    }
}

/// Whether the kinds a query names count against candidate `c` with these weights: it is none
/// of them, and keywords count.
fn other_kind(c: &Cand, prep: &Prepared, w: &Weights) -> bool {
    c.kindless && w.keyword > 0.0 && prep.signals.contains(&Signal::Keyword)
}

fn passes(p: &Product, f: &Filters) -> bool {
    if let Some(c) = f
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let cat = p.category.to_lowercase();
        let want = c.trim_matches('/').to_lowercase();
        if !(cat == want || cat.starts_with(&format!("{want}/"))) {
            return false;
        }
    }
    if let Some(c) = f.color.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        let has = p.color.split(',').any(|x| x.trim().eq_ignore_ascii_case(c))
            || p.images.iter().any(|i| i.color.eq_ignore_ascii_case(c));
        if !has {
            return false;
        }
    }
    if f.min_price.is_some() || f.max_price.is_some() {
        let Some(price) = p.price else { return false };
        if f.min_price.is_some_and(|m| price < m) || f.max_price.is_some_and(|m| price > m) {
            return false;
        }
    }
    for (k, v) in &f.attributes {
        let ok = match p
            .attributes
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
        {
            Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case(v),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .any(|x| x.as_str().is_some_and(|s| s.eq_ignore_ascii_case(v))),
            Some(other) => other.to_string().eq_ignore_ascii_case(v),
            None => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

impl Searcher {
    /// Loads the catalog's products and their words, and the vectors and indexes of the
    /// encoders' models.
    pub fn open(catalog: &Catalog, encoders: Encoders) -> Result<Searcher> {
        let started = std::time::Instant::now();
        let lap =
            |what: &str| tracing::debug!("searcher open: {what} by {:.2?}", started.elapsed());
        let products = catalog.store.all_products_with_images()?;
        lap("products");
        let by_sku = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.sku.clone(), i))
            .collect();
        let load = |kind: OwnerKind, model: Option<&str>| -> Result<Option<ModelVectors>> {
            let Some(model) = model else { return Ok(None) };
            let path = catalog.index_path(model, kind);
            Ok(Some(
                ModelVectors::load(&catalog.store, path, kind, model, &products, true)?
                    .unwrap_or_else(|| ModelVectors::empty(model, products.len())),
            ))
        };
        // The words are counted on a thread of their own while the vectors are read from the
        // catalog (5–6 s of the opening at a million products, on two cores).
        let (lexicon, vectors) = std::thread::scope(|s| {
            let words = s.spawn(|| Lexicon::build(&products));
            let vectors = (|| -> Result<_> {
                let clip = load(
                    OwnerKind::Image,
                    encoders.clip.as_ref().map(|(m, _)| m.id.as_str()),
                )?;
                lap("photo vectors");
                let text_model = encoders.text.as_ref().map(|(m, _)| m.id.as_str());
                let text = load(OwnerKind::Product, text_model)?;
                lap("product-text vectors");
                let passages = load(OwnerKind::Passage, text_model)?;
                lap("passage vectors");
                Ok((clip, text, passages))
            })();
            let lexicon = words
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            lap("words");
            (lexicon, vectors)
        });
        let (clip, text, passages) = vectors?;
        let hubs = match (&clip, &encoders.clip) {
            (Some(v), Some((m, e))) if !v.owner.is_empty() => {
                hubness::photo_offsets(v, &products, e, &catalog.bank_path(&m.id)).unwrap_or_else(
                    |e| {
                        tracing::warn!("text-to-photo scores are not corrected for hubs: {e}");
                        hubness::Hubs::default()
                    },
                )
            }
            _ => hubness::Hubs::default(),
        };
        lap("hub leans");
        let priced = products.iter().any(|p| p.price.is_some());
        Ok(Searcher {
            priced,
            products,
            by_sku,
            clip,
            text,
            passages,
            hubs,
            encoders,
            lexicon,
            thumbs: catalog.thumbs_dir(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Per signal slot, what its evidence is worth in this catalog: text-to-photo evidence
    /// times how well the catalog's own titles find their photos (the model's
    /// [`hubness::agreement`] here, 1 where unknown), so that a visual model that cannot read
    /// this catalog's texts does not outvote the signals that can; 1 for the others.
    fn trust(&self) -> [f32; 5] {
        let mut t = [1.0; 5];
        if let Some(a) = self.hubs.agreement {
            t[Signal::Crossmodal.slot()] = a.clamp(0.0, 1.0);
        }
        t
    }

    pub fn unavailable(&self) -> &[Unavailable] {
        &self.encoders.unavailable
    }

    fn encode_text(&self, clip: bool, text: &str) -> Result<Option<Vec<f32>>> {
        let key = (clip, text.to_string());
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(Some(v));
        }
        let v = if clip {
            match &self.encoders.clip {
                Some((_, e)) => e.embed_texts(&[text])?.pop(),
                None => None,
            }
        } else {
            match &self.encoders.text {
                Some((_, e)) => e.embed(&[text])?.pop(),
                None => None,
            }
        };
        if let Some(v) = &v
            && !v.iter().all(|x| x.is_finite())
        {
            return Err(Error::Model(
                "the model is broken: it gave NaN or infinite numbers for the query; download it again or choose another model".into(),
            ));
        }
        if let (Some(v), Ok(mut c)) = (&v, self.cache.lock()) {
            if c.len() > 256 {
                c.clear();
            }
            c.insert(key, v.clone());
        }
        Ok(v)
    }

    /// Products over which a query's spread and word weights are taken: all, or an even sample.
    fn population(&self) -> Vec<usize> {
        let n = self.products.len();
        let step = n.div_ceil(SAMPLE).max(1);
        (0..n).step_by(step).collect()
    }

    /// Encodes the query and scores every candidate with every signal.
    pub fn prepare(&self, q: &Query) -> Result<Prepared> {
        if let Some(why) = q.filters.problem() {
            return Err(Error::InvalidInput(why));
        }
        let read = read_query(q, &self.lexicon, self.priced);
        let like = match &q.like {
            Some(sku) => Some(
                *self
                    .by_sku
                    .get(sku)
                    .ok_or_else(|| Error::UnknownSku(sku.clone()))?,
            ),
            None => None,
        };
        let side = self.query_side(q, like, &read.text)?;
        let signals = self.signals_of(&side);
        let keyword = self.keyword_scores(&side.terms);
        let exact = self.is_exact();
        let mut candidates = if exact {
            (0..self.products.len()).collect()
        } else {
            self.candidates(&read.filters, &side, &keyword)
        };
        // The product a "more like this" starts from is neither a result nor part of the norm.
        candidates.retain(|&pi| like != Some(pi));
        let population: Vec<usize> = if exact {
            candidates.clone()
        } else {
            self.population()
                .into_iter()
                .filter(|&pi| like != Some(pi))
                .collect()
        };
        // Each product's scores read its rows from all over memory: on all cores.
        let raw_of = |products: &[usize]| -> Vec<Raw> {
            products
                .par_iter()
                .with_min_len(PER_THREAD)
                .map(|&pi| self.raw_scores(pi, &side, &keyword))
                .collect()
        };
        let pop_raw = raw_of(&population);
        let cand_raw = raw_of(&candidates);
        let words = self.lexicon.weigh(&side.terms, &population);
        let shares: Vec<f32> = population
            .par_iter()
            .with_min_len(PER_THREAD)
            .map(|&pi| self.lexicon.coverage(pi, &words))
            .collect();
        let evidence = Evidence::new(&pop_raw, words, &shares, self.trust());
        let penalty = self.penalties(&read.not, &population, &candidates)?;
        let cands = candidates
            .par_iter()
            .with_min_len(PER_THREAD)
            .zip(cand_raw)
            .map(|(&pi, raw)| self.candidate(pi, raw, &evidence, penalty[pi], &read.text))
            .collect();
        let language_note = self.language_note(&read.text, &signals);
        Ok(Prepared {
            text: read.text,
            not: read.not,
            read: read.phrases,
            filters: read.filters,
            signals,
            cands,
            exact,
            sort: read.sort,
            language_note,
            spelling: side.spelling,
            unknown: side.unknown,
        })
    }

    /// The query's vectors, photo hashes and keyword query.
    fn query_side(&self, q: &Query, like: Option<usize>, text: &str) -> Result<QuerySide> {
        let mut side = QuerySide {
            photo_vecs: Vec::new(),
            photo_hashes: Vec::new(),
            text_vecs: Vec::new(),
            clip_text: None,
            passage_query: None,
            terms: Vec::new(),
            spelling: Vec::new(),
            unknown: Vec::new(),
        };
        if let Some(input) = &q.photo {
            let bytes = match input {
                PhotoInput::Path(p) => photo::read_file(p)
                    .map_err(|e| Error::InvalidInput(format!("{}: {e}", p.display())))?,
                PhotoInput::Bytes(b) => b.clone(),
            };
            let model_side = self
                .encoders
                .clip
                .as_ref()
                .map_or(0, |(_, e)| e.decode_side());
            let img = photo::decode_for_model(&bytes, photo::DEFAULT_MAX_PIXELS, model_side)
                .map_err(|e| Error::InvalidInput(format!("the query photo cannot be used: {e}")))?;
            side.photo_hashes.push(phash::phash(&img));
            if let Some((_, e)) = &self.encoders.clip {
                side.photo_vecs
                    .extend(e.embed_pixels(&[e.preprocess(&img)])?);
            }
        }
        let mut keyword_text = text.to_string();
        if let Some(pi) = like {
            let p = &self.products[pi];
            if let Some(v) = &self.clip {
                side.photo_vecs
                    .extend(v.rows(pi).iter().map(|&r| v.row(r).to_vec()));
            }
            side.photo_hashes
                .extend(p.images.iter().filter_map(|i| i.phash));
            if let Some(v) = &self.text {
                side.text_vecs
                    .extend(v.rows(pi).iter().map(|&r| v.row(r).to_vec()));
            }
            if keyword_text.is_empty() {
                keyword_text = p.title.clone();
            }
        }
        let started = std::time::Instant::now();
        let words = self.read_words(&keyword_text);
        side.terms = words.terms;
        side.spelling = words.corrected;
        if like.is_none() && text.split_whitespace().count() <= LONG_QUERY_WORDS {
            side.unknown = words.unknown;
        }
        tracing::debug!("query words read in {:.2?}", started.elapsed());
        // The models read the text with its typos corrected too.
        let text = &meant(text, &side.spelling);
        side.spelling.extend(words.as_others);
        if !text.is_empty() {
            side.clip_text = self.encode_text(true, text)?;
            if let Some(v) = self.encode_text(false, text)? {
                side.text_vecs.push(v);
            }
        }
        self.feedback(q, &mut side)?;
        if !text.is_empty() && self.text.is_some() {
            side.passage_query = side.text_vecs.last().cloned();
        }
        Ok(side)
    }

    /// The keyword terms of `text` ([`Lexicon::query_terms`]). A word no product has finds the
    /// catalog's words of its root ("hiking": "hike"); else, where no model knows it either, it
    /// may be a typo ([`Lexicon::correction`]) or two words run together ([`Lexicon::split`]:
    /// "tshirt"). A shade no product has finds the catalog's colours it is a shade of
    /// ([`Lexicon::colours_of_shade`]), which the user is told.
    fn read_words(&self, text: &str) -> ReadWords {
        let mut out = ReadWords {
            terms: Vec::new(),
            corrected: Vec::new(),
            as_others: Vec::new(),
            unknown: Vec::new(),
        };
        let terms = self.lexicon.query_terms(text);
        let found: Vec<bool> = terms
            .iter()
            .map(|t| self.lexicon.finds_any(std::slice::from_ref(t)))
            .collect();
        for (i, mut t) in terms.iter().cloned().enumerate() {
            let mut read = vec![];
            let colours = self.lexicon.colours_of_shade(&t);
            if !colours.is_empty() {
                out.as_others.push(Spelling {
                    typed: t.typed.clone(),
                    read: colours.join(" or "),
                    colour: true,
                });
            }
            if t.kin.is_empty()
                && ![&t.typed, &t.stem, &format!("{}s", t.stem)]
                    .iter()
                    .any(|w| self.knows_word(w))
            {
                // A correction must be met by one of the query's other words that products have,
                // in some product: "teak couch" is not "team couch" where no team product is a
                // couch.
                let corrected = self.lexicon.correction(&t).filter(|word| {
                    let context: Vec<lexicon::Term> = (terms.iter().zip(&found).enumerate())
                        .filter(|&(j, (_, &f))| j != i && f)
                        .map(|(_, (o, _))| o.clone())
                        .collect();
                    let mut c = t.clone();
                    c.read_as(word);
                    context.is_empty() || self.lexicon.together(&c, &context)
                });
                if let Some(word) = corrected {
                    t.read_as(&word);
                    out.corrected.push(Spelling {
                        typed: t.typed.clone(),
                        read: word,
                        colour: false,
                    });
                } else if let Some((a, b)) = self.lexicon.split(&t) {
                    let both = format!("{a} {b}");
                    read = lexicon::content_terms(&both);
                    out.as_others.push(Spelling {
                        typed: t.typed.clone(),
                        read: both,
                        colour: false,
                    });
                }
            }
            if read.is_empty() {
                read.push(t);
            }
            if !self.lexicon.finds_any(&read) {
                out.unknown.extend(read.iter().map(|t| t.typed.clone()));
            }
            for t in read {
                if !out.terms.contains(&t) {
                    out.terms.push(t);
                }
            }
        }
        out
    }

    /// Whether a model's tokenizer has `word` whole: a word of the language (a synonym the
    /// catalog does not use, "slacks"), not a misspelling to correct. Not a word of three
    /// letters or fewer: tokenizers hold most such strings whole ("bah" of a typed "bahs").
    fn knows_word(&self, word: &str) -> bool {
        if word.chars().count() <= 3 {
            return false;
        }
        let enc = &self.encoders;
        enc.text.as_ref().is_some_and(|(_, e)| e.knows_word(word))
            || enc.clip.as_ref().is_some_and(|(_, e)| e.knows_word(word))
    }

    /// Moves the query's vectors toward the products marked "more like these" and away from
    /// those marked "less": `q + 0.75·mean(more) − 0.25·mean(less)`, normalised (Rocchio's
    /// weights as IR systems commonly set them). Each product counts by the mean of its vectors.
    fn feedback(&self, q: &Query, side: &mut QuerySide) -> Result<()> {
        if q.more.is_empty() && q.less.is_empty() {
            return Ok(());
        }
        let index = |skus: &[String]| -> Result<Vec<usize>> {
            skus.iter()
                .map(|s| {
                    self.by_sku
                        .get(s)
                        .copied()
                        .ok_or_else(|| Error::UnknownSku(s.clone()))
                })
                .collect()
        };
        let (more, less) = (index(&q.more)?, index(&q.less)?);
        let mean = |v: &ModelVectors, ps: &[usize]| -> Option<Vec<f32>> {
            let rows: Vec<&[f32]> = ps
                .iter()
                .flat_map(|&p| v.rows(p))
                .map(|&r| v.row(r))
                .collect();
            let first = rows.first()?;
            let mut m = vec![0f32; first.len()];
            for r in &rows {
                for (a, b) in m.iter_mut().zip(r.iter()) {
                    *a += b / rows.len() as f32;
                }
            }
            Some(m)
        };
        // `0.75·mean(more) − 0.25·mean(less)` in one model's space, computed once.
        let shift = |v: &ModelVectors| -> Vec<f32> {
            let mut d = vec![0f32; v.nn.all.dim];
            for (ps, w) in [(&more, 0.75f32), (&less, -0.25)] {
                if let Some(m) = mean(v, ps) {
                    for (a, b) in d.iter_mut().zip(m) {
                        *a += w * b;
                    }
                }
            }
            d
        };
        let update = |qv: &mut Vec<f32>, d: &[f32]| {
            if qv.len() != d.len() {
                return;
            }
            for (a, b) in qv.iter_mut().zip(d) {
                *a += b;
            }
            let n = qv.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                qv.iter_mut().for_each(|x| *x /= n);
            }
        };
        if let Some(v) = &self.text {
            if side.text_vecs.is_empty() {
                side.text_vecs.extend(mean(v, &more));
            }
            let d = shift(v);
            side.text_vecs.iter_mut().for_each(|q| update(q, &d));
        }
        if let Some(v) = &self.clip {
            let d = shift(v);
            side.photo_vecs.iter_mut().for_each(|q| update(q, &d));
            if let Some(q) = &mut side.clip_text {
                update(q, &d);
            }
        }
        Ok(())
    }

    /// The signals a query has, given what it brings and which models are loaded.
    fn signals_of(&self, side: &QuerySide) -> Vec<Signal> {
        let mut signals = Vec::new();
        if self.clip.is_some() && !side.photo_vecs.is_empty() {
            signals.push(Signal::Visual);
        }
        if self.clip.is_some() && side.clip_text.is_some() {
            signals.push(Signal::Crossmodal);
        }
        if self.text.is_some() && !side.text_vecs.is_empty() {
            signals.push(Signal::Text);
        }
        if !side.terms.is_empty() {
            signals.push(Signal::Keyword);
        }
        if !side.photo_hashes.is_empty() {
            signals.push(Signal::Phash);
        }
        signals
    }

    /// Keyword scores by product index: see [`KEYWORD_PARTS`].
    fn keyword_scores(&self, terms: &[lexicon::Term]) -> HashMap<usize, f32> {
        let mut keyword: HashMap<usize, f32> = HashMap::new();
        for (fields, share) in KEYWORD_PARTS {
            let hits = self.lexicon.bm25(terms, fields, KEYWORD_LIMIT);
            let best = hits.first().map_or(0.0, |h| h.1);
            if best > 0.0 {
                for (pi, sc) in hits {
                    *keyword.entry(pi).or_default() += share * (sc / best) as f32;
                }
            }
        }
        keyword
    }

    /// Small catalogs are scanned exactly: every product is a candidate.
    fn is_exact(&self) -> bool {
        let sizes = [
            self.clip.as_ref().map_or(0, |s| s.nn.all.len()),
            self.text.as_ref().map_or(0, |s| s.nn.all.len()),
            self.passages.as_ref().map_or(0, |s| s.nn.all.len()),
        ];
        self.products.len() < EXACT_BELOW && sizes.iter().all(|&n| n < EXACT_BELOW)
    }

    /// Candidates of a large catalog: the union of each signal's nearest neighbours and the
    /// keyword matches; with filters that few products pass, those products instead (nearest
    /// neighbours of the whole catalog may all be filtered out).
    fn candidates(
        &self,
        filters: &Filters,
        side: &QuerySide,
        keyword: &HashMap<usize, f32>,
    ) -> Vec<usize> {
        if *filters != Filters::default() {
            let passing: Vec<usize> = (0..self.products.len())
                .filter(|&pi| passes(&self.products[pi], filters))
                .collect();
            if passing.len() < EXACT_BELOW {
                return passing;
            }
        }
        const K: usize = 1000;
        let mut set: HashSet<usize> = keyword.keys().copied().collect();
        if let Some(v) = &self.clip {
            for q in &side.photo_vecs {
                set.extend(v.nearest_products(q, K).map(|(pi, _)| pi));
            }
            // Text against photos: an exact scan (see `Neighbours::nearest_scanned`).
            if let Some(q) = &side.clip_text {
                set.extend(v.nearest_products_scanned(q, K).map(|(pi, _)| pi));
            }
        }
        if let Some(v) = &self.text {
            // Typed text against product texts: an exact scan too. A short query sits apart
            // from long product texts, and on real sentence vectors the graph found 0.85 of the
            // true ten at 50,000 (`vitrine bench text-index`); "more like this" (product
            // against products) stays on the graph.
            let typed = side.passage_query.is_some();
            for q in &side.text_vecs {
                if typed {
                    set.extend(v.nearest_products_scanned(q, K).map(|(pi, _)| pi));
                } else {
                    set.extend(v.nearest_products(q, K).map(|(pi, _)| pi));
                }
            }
        }
        // Typed text against description passages: scanned exactly for the same reason.
        if let (Some(v), Some(q)) = (&self.passages, &side.passage_query) {
            set.extend(v.nearest_products_scanned(q, K).map(|(pi, _)| pi));
        }
        if !side.photo_hashes.is_empty() {
            set.extend(
                self.products
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| {
                        p.images.iter().any(|i| {
                            i.phash.is_some_and(|h| {
                                side.photo_hashes
                                    .iter()
                                    .any(|q| phash::distance(*q, h) < PHASH_RANGE as u32)
                            })
                        })
                    })
                    .map(|(i, _)| i),
            );
        }
        let mut v: Vec<usize> = set.into_iter().collect();
        v.sort_unstable();
        v
    }

    /// Each signal's raw score for product `pi`.
    fn raw_scores(&self, pi: usize, side: &QuerySide, keyword: &HashMap<usize, f32>) -> Raw {
        let mut out = Raw {
            raw: [None; 5],
            visual_row: None,
            crossmodal_row: None,
        };
        if let Some(v) = &self.clip {
            if !side.photo_vecs.is_empty()
                && let Some((c, r)) = v.best(pi, &side.photo_vecs, &[])
            {
                out.raw[Signal::Visual.slot()] = Some(c);
                out.visual_row = Some(r);
            }
            if let Some(t) = &side.clip_text
                && let Some((c, r)) = v.best(pi, std::slice::from_ref(t), &self.hubs.offsets)
            {
                out.raw[Signal::Crossmodal.slot()] = Some(c);
                out.crossmodal_row = Some(r);
            }
        }
        if let Some(v) = &self.text
            && !side.text_vecs.is_empty()
        {
            // The whole text's score, lifted halfway to its best passage's when that is
            // closer: a passage that matches the query well counts, while a product with many
            // passages gains little from their number alone (the best of many is high by chance).
            let whole = v.best(pi, &side.text_vecs, &[]).map(|(c, _)| c);
            let passage = self
                .passages
                .as_ref()
                .zip(side.passage_query.as_ref())
                .and_then(|(p, q)| p.best(pi, std::slice::from_ref(q), &[]))
                .map(|(c, _)| c);
            out.raw[Signal::Text.slot()] = match (whole, passage) {
                (Some(w), Some(p)) => Some((w + p.max(w)) / 2.0),
                (w, p) => w.or(p),
            };
        }
        if !side.terms.is_empty() {
            out.raw[Signal::Keyword.slot()] = Some(keyword.get(&pi).copied().unwrap_or(0.0));
        }
        if !side.photo_hashes.is_empty() {
            out.raw[Signal::Phash.slot()] = self.products[pi]
                .images
                .iter()
                .filter_map(|i| i.phash)
                .flat_map(|h| {
                    side.photo_hashes
                        .iter()
                        .map(move |q| phash::distance(*q, h) as f32)
                })
                .reduce(f32::min);
        }
        out
    }

    /// "Not" penalties by product index: 1 where the product's text contains a term, else how
    /// close its text is to the term relative to the 10% of the catalog closest to it.
    fn penalties(
        &self,
        not: &[String],
        population: &[usize],
        candidates: &[usize],
    ) -> Result<Vec<f32>> {
        let mut penalty = vec![0f32; self.products.len()];
        for term in not {
            for pi in self.lexicon.matching(&self.read_words(term).terms) {
                penalty[pi] = 1.0;
            }
            let (side, v) = match (&self.text, &self.clip) {
                (Some(side), _) => (Some(side), self.encode_text(false, term)?),
                (None, Some(side)) => (Some(side), self.encode_text(true, term)?),
                _ => (None, None),
            };
            if let (Some(side), Some(v)) = (side, v) {
                let q = std::slice::from_ref(&v);
                let pop: Vec<f32> = population
                    .iter()
                    .filter_map(|&pi| side.best(pi, q, &[]).map(|x| x.0))
                    .collect();
                let (p90, top) = (
                    quantile(pop.clone(), 0.9),
                    pop.iter().copied().fold(f32::MIN, f32::max),
                );
                for &pi in candidates {
                    if let Some((c, _)) = side.best(pi, q, &[]) {
                        penalty[pi] = penalty[pi].max(scale(c, p90, top.max(c)));
                    }
                }
            }
        }
        Ok(penalty)
    }

    /// A scored candidate: evidence per signal, the photo that matched, the SKU match.
    fn candidate(&self, pi: usize, raw: Raw, ev: &Evidence, penalty: f32, text: &str) -> Cand {
        let (score, rawv, kindless) = ev.scores(pi, &raw.raw, &self.lexicon);
        let row = raw.visual_row.or(raw.crossmodal_row);
        let image = row.and_then(|r| {
            let v = self.clip.as_ref()?;
            let id = v.nn.all.ids[r];
            self.products[pi].images.iter().position(|im| im.id == id)
        });
        let sku_match = !text.is_empty() && self.products[pi].sku.eq_ignore_ascii_case(text);
        Cand {
            product: pi,
            sku_match,
            score,
            raw: rawv,
            image,
            penalty,
            kindless,
        }
    }

    /// Candidate `c`'s evidence from signal `s`, as the default fusion counts it with these
    /// weights: where keywords count and the query names kinds of product of which `c` has none,
    /// the text signals' evidence counts [`fusion::KINDLESS_PART`].
    fn evidence(&self, c: &Cand, s: Signal, prep: &Prepared, w: &Weights) -> f32 {
        let kinds_count = matches!(s, Signal::Text | Signal::Crossmodal) && other_kind(c, prep, w);
        c.score[s.slot()]
            * if kinds_count {
                fusion::KINDLESS_PART
            } else {
                1.0
            }
    }

    /// Fuses, filters and pages a prepared query with these weights.
    pub fn rank(
        &self,
        prep: &Prepared,
        weights: &Weights,
        k: usize,
        offset: usize,
    ) -> SearchResults {
        self.rank_with(prep, weights, Fusion::default(), k, offset)
    }

    /// [`Searcher::rank`] with another fusion (for comparisons).
    pub fn rank_with(
        &self,
        prep: &Prepared,
        weights: &Weights,
        fusion: Fusion,
        k: usize,
        offset: usize,
    ) -> SearchResults {
        let passing: Vec<&Cand> = prep
            .cands
            .iter()
            .filter(|c| passes(&self.products[c.product], &prep.filters))
            .collect();
        // Evidence for the default fusion; raw scores, higher better, for the others.
        let column = |s: Signal| -> Vec<f32> {
            passing
                .iter()
                .map(|c| match (fusion, s) {
                    (Fusion::Evidence, _) => self.evidence(c, s, prep, weights),
                    // Fewer differing bits is better.
                    (_, Signal::Phash) => -c.raw[s.slot()],
                    _ => c.raw[s.slot()],
                })
                .collect()
        };
        let values: Vec<Vec<f32>> = prep.signals.iter().map(|&s| column(s)).collect();
        let cols: Vec<Column> = prep
            .signals
            .iter()
            .zip(&values)
            .map(|(s, v)| Column {
                weight: s.weight(weights),
                values: v,
            })
            .collect();
        let fused = fusion::fuse(fusion, passing.len(), &cols);
        // Each with its score before the "not" penalty: products a "not" term rules out all
        // score 0, and among them the closer matches still come first ("backpack without zip"
        // where every backpack has one: the backpacks lead what was ruled out).
        let mut scored: Vec<(f32, Vec<f32>, &Cand, f32)> = passing
            .into_iter()
            .zip(fused)
            .map(|(c, (f, shares))| (f * (1.0 - c.penalty), shares, c, f))
            .collect();
        scored.sort_by(|a, b| {
            b.2.sku_match
                .cmp(&a.2.sku_match)
                .then_with(|| b.0.total_cmp(&a.0))
                .then_with(|| a.2.penalty.total_cmp(&b.2.penalty))
                .then_with(|| b.3.total_cmp(&a.3))
                .then_with(|| {
                    self.products[a.2.product]
                        .sku
                        .cmp(&self.products[b.2.product].sku)
                })
        });
        let total = scored.len();
        let scores: Vec<f32> = scored.iter().map(|s| s.0).collect();
        let sku_matches = scored.iter().take_while(|s| s.2.sku_match).count();
        // A query that is a SKU asks for that product: the rest are weaker matches.
        let strong = if sku_matches > 0 {
            sku_matches
        } else {
            fusion::strong_matches(&scores)
        };
        if prep.sort != Sort::Relevance {
            // Within the strong matches, then within the rest; no price last, ties by relevance.
            let price = |c: &Cand| self.products[c.product].price;
            let by_price = |a: &(f32, Vec<f32>, &Cand, f32), b: &(f32, Vec<f32>, &Cand, f32)| match (
                price(a.2),
                price(b.2),
            ) {
                (Some(x), Some(y)) if prep.sort == Sort::PriceLow => x.total_cmp(&y),
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            scored[sku_matches..strong].sort_by(by_price);
            scored[strong..].sort_by(by_price);
        }
        let hits = scored
            .into_iter()
            .enumerate()
            .skip(offset)
            .take(k)
            .map(|(rank, (score, shares, c, _))| {
                self.hit(rank + 1, score, &shares, c, prep, weights)
            })
            .collect();
        SearchResults {
            text: prep.text.clone(),
            not: prep.not.clone(),
            read: prep.read.clone(),
            filters: prep.filters.clone(),
            weights: *weights,
            signals: prep.signals.clone(),
            total,
            strong,
            fusion,
            sort: prep.sort,
            offset,
            hits,
            candidates: prep.cands.len(),
            exact: prep.exact,
            unavailable: self.encoders.unavailable.clone(),
            language_note: prep.language_note.clone(),
            spelling: prep.spelling.clone(),
            unknown: prep.unknown.clone(),
            title_photo_agreement: self
                .hubs
                .agreement
                .filter(|_| prep.signals.contains(&Signal::Crossmodal) && weights.crossmodal > 0.0),
        }
    }

    /// When the text goes to an English-only visual model and is surely in another language.
    fn language_note(&self, text: &str, signals: &[Signal]) -> Option<LanguageNote> {
        let (manifest, _) = self.encoders.clip.as_ref()?;
        if manifest.multilingual || !signals.contains(&Signal::Crossmodal) {
            return None;
        }
        Some(LanguageNote {
            language: crate::language::foreign_language(text)?,
            model: manifest.display_name.clone(),
        })
    }

    fn hit(
        &self,
        rank: usize,
        score: f32,
        shares: &[f32],
        c: &Cand,
        prep: &Prepared,
        w: &Weights,
    ) -> Hit {
        let p = &self.products[c.product];
        // The photo that matched; with a colour filter, one of that colour if the match is not.
        let mut image = c.image.or(if p.images.is_empty() { None } else { Some(0) });
        if let Some(col) = &prep.filters.color
            && image.is_some_and(|i| !p.images[i].color.eq_ignore_ascii_case(col))
            && let Some(i) = p
                .images
                .iter()
                .position(|im| im.color.eq_ignore_ascii_case(col))
        {
            image = Some(i);
        }
        Hit {
            rank,
            sku: p.sku.clone(),
            title: p.title.clone(),
            category: p.category.clone(),
            color: p.color.clone(),
            price: p.price,
            score,
            signals: prep
                .signals
                .iter()
                .zip(shares)
                .map(|(&s, &share)| SignalScore {
                    signal: s,
                    score: self.evidence(c, s, prep, w),
                    share,
                    raw: c.raw[s.slot()],
                    weight: s.weight(w),
                })
                .collect(),
            penalty: c.penalty,
            other_kind: other_kind(c, prep, w)
                && [Signal::Text, Signal::Crossmodal]
                    .iter()
                    .any(|s| prep.signals.contains(s) && s.weight(w) > 0.0),
            matched_image: image.map(|i| {
                let im = &p.images[i];
                MatchedImage {
                    path: im.path.clone(),
                    hash: im.hash.clone(),
                    thumbnail: crate::catalog::thumbnail_path(&self.thumbs, &im.hash),
                    view: im.view.clone(),
                    color: im.color.clone(),
                }
            }),
        }
    }

    /// `prepare` and `rank` in one go.
    pub fn search(
        &self,
        q: &Query,
        weights: &Weights,
        k: usize,
        offset: usize,
    ) -> Result<SearchResults> {
        let prep = self.prepare(q)?;
        Ok(self.rank(&prep, weights, k, offset))
    }

    /// Which models the searcher's vectors come from, whether an index serves them, and how well
    /// the catalog's titles find their own photos with the CLIP model ([`hubness::agreement`]).
    pub fn describe(&self) -> serde_json::Value {
        let side = |s: &Option<ModelVectors>| {
            s.as_ref().map(|s| serde_json::json!({"model": s.model, "vectors": s.nn.all.len(), "index": s.nn.uses_index(), "unindexed": s.nn.unindexed()}))
        };
        let mut clip = side(&self.clip);
        if let (Some(c), Some(a)) = (clip.as_mut(), self.hubs.agreement) {
            c["title_photo_agreement"] = a.into();
        }
        serde_json::json!({"products": self.products.len(), "clip": clip, "text": side(&self.text)})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Image, Origin};

    #[test]
    fn keyword_parts_weigh_the_naming_fields_three_times_all_fields() {
        let [(named, a), (all, b)] = KEYWORD_PARTS;
        assert!(!named[1] && named.iter().filter(|&&f| f).count() == lexicon::FIELDS - 1);
        assert!(all.iter().all(|&f| f));
        assert_eq!((a / b, a + b), (3.0, 1.0));
    }

    fn product(category: &str, color: &str, price: Option<f64>) -> Product {
        let mut attributes = serde_json::Map::new();
        attributes.insert("material".into(), "Cotton".into());
        attributes.insert("size".into(), serde_json::json!(["S", "M"]));
        Product {
            id: 1,
            sku: "A".into(),
            title: "A".into(),
            description: String::new(),
            category: category.into(),
            color: color.into(),
            price,
            attributes,
            origin: Origin::Csv,
            source: String::new(),
            images: vec![Image {
                id: 1,
                product_id: 1,
                path: String::new(),
                hash: String::new(),
                width: 1,
                height: 1,
                view: String::new(),
                color: "Teal".into(),
                position: 0,
                attributes: serde_json::Map::new(),
                phash: None,
            }],
        }
    }

    #[test]
    fn filters_check_category_prefixes_colours_prices_and_attributes() {
        let p = product("Women/Tops/Jackets", "Red, Blue", Some(40.0));
        let f = |edit: &dyn Fn(&mut Filters)| {
            let mut f = Filters::default();
            edit(&mut f);
            passes(&p, &f)
        };
        assert!(f(&|_| {}));
        assert!(f(&|f| f.category = Some("women/tops".into())));
        assert!(f(&|f| f.category = Some("/Women/".into())));
        assert!(!f(&|f| f.category = Some("Women/Top".into())));
        assert!(f(&|f| f.color = Some("blue".into())));
        assert!(
            f(&|f| f.color = Some("teal".into())),
            "a photo's colour counts"
        );
        assert!(!f(&|f| f.color = Some("green".into())));
        assert!(f(&|f| f.max_price = Some(40.0)));
        assert!(!f(&|f| f.max_price = Some(39.99)));
        assert!(!f(&|f| f.min_price = Some(41.0)));
        assert!(f(
            &|f| f.attributes = vec![("Material".into(), "cotton".into())]
        ));
        assert!(f(&|f| f.attributes = vec![("size".into(), "m".into())]));
        assert!(!f(&|f| f.attributes = vec![("size".into(), "XL".into())]));
        let unpriced = product("Gear", "", None);
        let f = Filters {
            min_price: Some(1.0),
            ..Filters::default()
        };
        assert!(
            !passes(&unpriced, &f),
            "a price filter leaves out unpriced products"
        );
    }

    #[test]
    fn typed_text_gives_its_price_limits_and_not_terms_to_the_query() {
        let q = Query {
            text: "hoodie under 50 without zip".into(),
            not: vec![" Logo ".into(), String::new()],
            filters: Filters {
                min_price: Some(10.0),
                ..Filters::default()
            },
            ..Query::default()
        };
        let r = read_query(&q, &Lexicon::build(&[]), true);
        assert_eq!(r.text, "hoodie");
        assert_eq!(r.not, vec!["logo", "zip"]);
        assert_eq!(
            (r.filters.min_price, r.filters.max_price),
            (Some(10.0), Some(50.0))
        );
    }
}
