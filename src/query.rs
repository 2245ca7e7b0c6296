//! What a search asks for: text, a photo, "not" terms, a product to find more like, filters,
//! and the fusion weights; and reading price limits and "not" terms out of typed text.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::price::CURRENCY_SYMBOLS;

/// A query photo: a file, or bytes (dropped or pasted in the app).
#[derive(Debug, Clone)]
pub enum PhotoInput {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filters {
    /// Category prefix, at a `/` boundary, any case: `women/tops` matches `Women/Tops/Jackets`.
    pub category: Option<String>,
    /// One of the product's colours, any case.
    pub color: Option<String>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    /// CSV attributes that must equal the value (any case; any of a multi-valued attribute).
    pub attributes: Vec<(String, String)>,
}

impl Filters {
    /// Why these filters cannot be used (a price limit that is not a price), if so.
    pub fn problem(&self) -> Option<String> {
        let max = crate::price::MAX_PRICE;
        [("minimum", self.min_price), ("maximum", self.max_price)]
            .into_iter()
            .find_map(|(what, p)| {
                p.filter(|p| !(0.0..=max).contains(p)).map(|p| {
                    format!("the {what} price {p} is not a price: give a number from 0 to {max}")
                })
            })
    }
}

/// How results are ordered: by relevance, or by price among the strong matches and then among
/// the weaker ones (so a price sort never lifts a poor match above a good one).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Relevance,
    PriceLow,
    PriceHigh,
}

#[derive(Debug, Clone, Default)]
pub struct Query {
    pub text: String,
    pub photo: Option<PhotoInput>,
    /// Terms whose products are pushed down.
    pub not: Vec<String>,
    /// "More like this": the SKU of a product.
    pub like: Option<String>,
    pub filters: Filters,
    /// Results marked "more like these" and "less like these" (SKUs): the query's vectors move
    /// toward the first and away from the second (a Rocchio update).
    pub more: Vec<String>,
    pub less: Vec<String>,
    pub sort: Sort,
}

/// How much each signal counts in the fused score (the sliders).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// Query photo vs the product's photos (CLIP image embeddings).
    pub visual: f32,
    /// Query text vs the product's photos (CLIP text and image embeddings).
    pub crossmodal: f32,
    /// Query text vs the product's text (sentence embeddings).
    pub text: f32,
    /// Query words in the product's title, description, category, colour and SKU (BM25).
    pub keyword: f32,
    /// Query photo vs the product's photos by perceptual hash (near-identical photos).
    pub phash: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            visual: 1.0,
            crossmodal: 1.0,
            text: 1.0,
            keyword: 1.0,
            // Near-identical photos back up the visual signal rather than lead: a re-shot
            // photo of the same product is still the product.
            phash: 0.5,
        }
    }
}

/// The largest weight a signal can have (weights are relative: 0 switches a signal off).
pub const MAX_WEIGHT: f32 = 100.0;

impl FromStr for Weights {
    type Err = String;
    /// `visual=1,text=0.5,keyword=0`; signals not named keep their default weight.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Weights::default().with(s)
    }
}

impl Weights {
    /// These weights with the ones named in `s` (`visual=1,text=0.5`) changed.
    pub fn with(self, s: &str) -> Result<Weights, String> {
        let mut w = self;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected NAME=WEIGHT, got {part:?}"))?;
            let v: f32 = v
                .trim()
                .parse()
                .ok()
                .filter(|v: &f32| (0.0..=MAX_WEIGHT).contains(v))
                .ok_or_else(|| {
                    format!("{v:?} is not a weight: give a number from 0 to {MAX_WEIGHT}")
                })?;
            match k.trim().to_ascii_lowercase().as_str() {
                "visual" | "image" | "photo" => w.visual = v,
                "crossmodal" | "cross-modal" | "clip" => w.crossmodal = v,
                "text" | "meaning" | "semantic" => w.text = v,
                "keyword" | "keywords" | "bm25" => w.keyword = v,
                "phash" | "near-identical" | "identical" => w.phash = v,
                other => {
                    return Err(format!(
                        "unknown signal {other:?}: use visual, crossmodal, text, keyword or phash"
                    ));
                }
            }
        }
        Ok(w)
    }
}

/// Typed text with its price limits, "not" terms, order and request words taken out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParsedText {
    pub text: String,
    pub not: Vec<String>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    /// The phrases read as something other than words to search, as typed.
    pub phrases: Vec<ReadPhrase>,
    /// An order asked for in words ("cheapest", "most expensive").
    pub sort: Option<Sort>,
}

/// A phrase of the typed text read as a "not" term or a price limit ("without zip",
/// "under 80"): the app shows each as a chip whose removal takes the phrase out of the text.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadPhrase {
    /// `not`, `price` or `sort`.
    pub kind: String,
    /// The words as typed, joined by single spaces.
    pub phrase: String,
    /// False for a price limit in a catalog where no product has a price: it would leave
    /// nothing, so the search goes on without it.
    pub applied: bool,
}

/// Queries longer than this many words are sentences: nothing is read out of them but `-term`.
pub const LONG_QUERY_WORDS: usize = 8;

/// At most this many words after "no X" at a query's start make it an exclusion ("no zip
/// hoodie", "no hood rain jacket"); more are a sentence.
const NO_OPENS_BEFORE: usize = 3;

/// Words before a lowercase "not"/"no" that make it part of a sentence ("it's not cheap").
const SENTENCE_BEFORE_NOT: &[&str] = &[
    "is",
    "isn't",
    "it's",
    "its",
    "was",
    "are",
    "were",
    "am",
    "be",
    "been",
    "do",
    "does",
    "did",
    "have",
    "has",
    "had",
    "can",
    "could",
    "will",
    "would",
    "should",
    "may",
    "might",
    "must",
    "i",
    "i'm",
    "it",
    "we",
    "they",
    "you",
    "he",
    "she",
    "that",
    "this",
    "that's",
    "why",
    "if",
    "or",
    "and",
    "so",
    "really",
    "just",
    "still",
    "maybe",
    "probably",
    "definitely",
    "certainly",
    "absolutely",
    "there's",
    "there",
    "what",
    "who",
    "need",
    "want",
];

/// Words after "not"/"no"/"without" that are not a product term ("not sure", "no trouble").
const NOT_A_TERM: &[&str] = &[
    "a",
    "an",
    "the",
    "any",
    "it",
    "its",
    "this",
    "that",
    "so",
    "too",
    "very",
    "really",
    "sure",
    "much",
    "many",
    "more",
    "less",
    "only",
    "just",
    "quite",
    "at",
    "all",
    "one",
    "bad",
    "good",
    "great",
    "problem",
    "problems",
    "trouble",
    "issue",
    "issues",
    "doubt",
    "idea",
    "way",
    "matter",
    "worries",
    "complaints",
    "longer",
    "even",
    "enough",
    "yet",
    "be",
    "been",
    "i",
    "cheap",
    "expensive",
];

/// Words that open a request rather than say what is wanted ("show me black hoodies", "do you
/// have running shorts"), longest first where one begins another.
const REQUEST_OPENERS: &[&str] = &[
    "can you show me",
    "could you show me",
    "please show me",
    "show me",
    "find me",
    "get me",
    "search for",
    "i'm looking for",
    "im looking for",
    "i am looking for",
    "looking for",
    "i'm searching for",
    "i want",
    "i'd like",
    "i would like",
    "i need",
    "do you have",
    "do you sell",
    "do you carry",
    "have you got",
    "got any",
    "where can i find",
    "where can i buy",
    "can i get",
];
/// Words before a price that make it the highest one wanted ("under 80", "no more than 45").
const PRICE_AT_MOST: &[&str] = &[
    "no more than",
    "not more than",
    "no higher than",
    "less than",
    "cheaper than",
    "lower than",
    "up to",
    "at most",
    "not over",
    "under",
    "below",
    "max",
    "maximum",
    "<",
    "<=",
    "≤",
];
/// Words before a price that make it the lowest one wanted.
const PRICE_AT_LEAST: &[&str] = &[
    "no less than",
    "not less than",
    "more than",
    "higher than",
    "at least",
    "not under",
    "over",
    "above",
    "min",
    "minimum",
    ">",
    ">=",
    "≥",
];
/// Words that ask for the lowest prices first, and for the highest.
const SORT_PRICE_LOW: &[&str] = &[
    "price low to high",
    "lowest price",
    "least expensive",
    "cheapest",
    "cheap",
    "inexpensive",
    "affordable",
];
const SORT_PRICE_HIGH: &[&str] = &[
    "price high to low",
    "highest price",
    "most expensive",
    "priciest",
    "expensive",
];
/// Words before "cheap" or "expensive" that make it part of a sentence ("too expensive", "it's
/// cheap"): the word then describes rather than asks for an order. (A negation anywhere before
/// it does too: [`Reading::sorts`].)
const SENTENCE_BEFORE_SORT: &[&str] = &[
    "too", "so", "very", "quite", "pretty", "really", "bit", "more", "less", "as", "was", "is",
    "are", "were", "it's", "that's", "looks", "look", "feels", "seems",
];
/// Words after "cheap" or "expensive" that make it a description ("expensive but worth it",
/// "cheap for what it is") or a price ("cheaper than").
const SENTENCE_AFTER_SORT: &[&str] = &[
    "than", "but", "though", "and", "enough", "for", "as", "looking",
];
/// Words after a price that make it the highest one wanted ("40 or less").
const PRICE_OR_LESS: &[&str] = &[
    "or less",
    "or under",
    "or below",
    "or cheaper",
    "and under",
    "and below",
    "max",
];
/// Words after a price that make it the lowest one wanted ("$50 and up").
const PRICE_OR_MORE: &[&str] = &[
    "or more",
    "or over",
    "or above",
    "and up",
    "and over",
    "and above",
];
/// Words before a price that make it the price wanted, give or take [`AROUND_SPREAD`] ("around
/// 40", "about $40", "~40").
const PRICE_AROUND: &[&str] = &[
    "around",
    "about",
    "approximately",
    "approx",
    "approx.",
    "roughly",
    "circa",
    "~",
];
/// How far from the price wanted "around 40" reaches, as a share of it: 32 to 48.
const AROUND_SPREAD: f64 = 0.2;
/// Units after a number that make it a measure, a count or a time, not a price ("under 40 mm",
/// "over 2kg", "under 1 liter").
/// (Not single letters written apart: "under 20 w/ pocket" is a price.)
const UNITS: &[&str] = &[
    "mm", "cm", "km", "inch", "inches", "ft", "feet", "yd", "oz", "lb", "lbs", "kg", "mg", "ml",
    "cl", "liter", "liters", "litre", "litres", "gal", "watt", "watts", "mah", "gb", "tb", "mb",
    "hz", "mp", "pcs", "pc", "pieces", "count", "ct", "people", "person", "persons", "seats",
    "years", "year", "yrs", "months", "month", "days", "day", "hours", "hour", "hrs", "minutes",
    "mins",
];
/// Words after which a number is a size, an age or a count, not a price.
const NOT_A_PRICE_AFTER: &[&str] = &[
    "size", "sizes", "age", "ages", "pack", "set", "of", "waist", "inseam", "length", "number",
    "model", "us", "uk", "eu",
];
/// What may join a range's two prices ("$20-$40", "20–40 euros").
const RANGE_DASHES: [char; 3] = ['-', '\u{2013}', '\u{2014}'];
/// Currency words that may follow a price ("60 dollars").
const CURRENCY_WORDS: &[&str] = &[
    "dollars", "dollar", "bucks", "usd", "eur", "euro", "euros", "gbp", "pounds", "€", "$", "£",
];

/// A word that is a price: "40", "$40.50", "40usd", "1.5k" (thousands); not a measure
/// ("40mm").
fn price_token(t: &str) -> Option<f64> {
    let t = t.trim_end_matches('+');
    let t = t.trim_matches(|c: char| {
        CURRENCY_SYMBOLS.contains(&c) || matches!(c, ',' | '.' | ')' | '(')
    });
    let number = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let scale = match t[number.len()..].to_ascii_lowercase().as_str() {
        "" => 1.0,
        "k" => 1000.0,
        code if CURRENCY_WORDS.contains(&code) => 1.0,
        _ => return None,
    };
    if !number.chars().next()?.is_ascii_digit() {
        return None;
    }
    crate::price::parse_price(number).map(|p| p * scale)
}

/// "to", or a dash standing alone between a range's prices ("$20 - $40").
fn joins_range(word: &str) -> bool {
    word == "to" || (!word.is_empty() && word.chars().all(|c| RANGE_DASHES.contains(&c)))
}

/// A typed word lowercased, without the punctuation around it ("Hood," → "hood").
pub(crate) fn term(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

/// The words of a query and which of them have been read as something other than text.
struct Reading<'a> {
    words: Vec<&'a str>,
    lower: Vec<String>,
    used: Vec<bool>,
    out: ParsedText,
    /// Whether the catalog writes "no" before a word ("no-show", "no-iron"): a query that
    /// begins with that phrase asks for it.
    no_phrase: &'a dyn Fn(&str) -> bool,
}

impl<'a> Reading<'a> {
    fn new(raw: &'a str, no_phrase: &'a dyn Fn(&str) -> bool) -> Self {
        let words: Vec<&str> = raw.split_whitespace().collect();
        let lower = words
            .iter()
            .map(|w| w.to_lowercase().replace('\u{2019}', "'"))
            .collect();
        let used = vec![false; words.len()];
        Reading {
            words,
            lower,
            used,
            out: ParsedText::default(),
            no_phrase,
        }
    }

    fn lower(&self, i: usize) -> &str {
        self.lower.get(i).map_or("", String::as_str)
    }

    fn take(&mut self, from: usize, n: usize) {
        for u in &mut self.used[from..from + n] {
            *u = true;
        }
    }

    fn phrase(&mut self, kind: &str, from: usize, to: usize) {
        self.out.phrases.push(ReadPhrase {
            kind: kind.into(),
            phrase: self.words[from..=to].join(" "),
            applied: true,
        });
    }

    /// Whether the words from `i` on are `phrase` (lowercase words split by spaces); how many.
    fn starts(&self, i: usize, phrase: &str) -> Option<usize> {
        let mut n = 0;
        for w in phrase.split(' ') {
            if self.lower(i + n) != w {
                return None;
            }
            n += 1;
        }
        Some(n)
    }

    /// The first of `phrases` the words from `i` on are: its length in words.
    fn starts_any(&self, i: usize, phrases: &[&str]) -> Option<usize> {
        phrases.iter().find_map(|p| self.starts(i, p))
    }

    /// The price at word `i` (with a currency word after it, "60 dollars"): the price, the
    /// words it takes, and whether a currency says it is one.
    fn price_at(&self, i: usize) -> Option<(f64, usize, bool)> {
        self.price_after(i, "")
    }

    /// As [`Reading::price_at`], for a price written against `sign` ("<40", "~$40").
    fn price_after(&self, i: usize, sign: &str) -> Option<(f64, usize, bool)> {
        let word = self.words.get(i)?;
        if self.used[i] {
            return None;
        }
        let p = price_token(self.lower(i).strip_prefix(sign)?)?;
        let n = 1 + usize::from(self.currency_at(i + 1));
        let marked = n == 2 || word.contains(CURRENCY_SYMBOLS);
        (!self.unit_at(i + n)).then_some((p, n, marked))
    }

    /// Whether word `i` is a unit that makes the number before it a measure ("40 mm").
    fn unit_at(&self, i: usize) -> bool {
        UNITS.contains(&term(self.lower(i)).as_str())
    }

    /// Whether word `i` is a currency word ("dollars") not yet read as part of something else.
    fn currency_at(&self, i: usize) -> bool {
        CURRENCY_WORDS.contains(&self.lower(i)) && self.used.get(i) == Some(&false)
    }

    /// One price phrase starting at word `i`: the limits it sets and the words it takes. Not
    /// after a word that makes its number a size or a count ("size 8 or more").
    fn price_phrase(&self, i: usize) -> Option<(Option<f64>, Option<f64>, usize)> {
        if self.used.get(i) != Some(&false)
            || (i > 0 && NOT_A_PRICE_AFTER.contains(&term(self.lower(i - 1)).as_str()))
        {
            return None;
        }
        // "under 80", "no more than $30", "at least 20 euros", and "<40" or "<=$40": a sign
        // written against its number.
        for (words, below) in [(PRICE_AT_MOST, true), (PRICE_AT_LEAST, false)] {
            let phrase = self
                .starts_any(i, words)
                .and_then(|n| self.price_at(i + n).map(|(p, m, _)| (p, n + m)))
                .or_else(|| {
                    words
                        .iter()
                        .filter(|w| !w.contains(char::is_alphabetic))
                        .find_map(|sign| self.price_after(i, sign).map(|(p, n, _)| (p, n)))
                });
            if let Some((p, n)) = phrase {
                return Some(if below {
                    (None, Some(p), n)
                } else {
                    (Some(p), None, n)
                });
            }
        }
        // "around 40", "about $40", "~40": the price give or take a fifth; "about 40-50
        // dollars": the range.
        let lead = self.starts_any(i, PRICE_AROUND);
        if let Some(n) = lead
            && let Some((Some(a), Some(b), m)) = self.price_phrase(i + n)
        {
            return Some((Some(a), Some(b), n + m));
        }
        let around = lead
            .and_then(|n| self.price_at(i + n).map(|(p, m, _)| (p, n + m)))
            .or_else(|| self.price_after(i, "~").map(|(p, n, _)| (p, n)))
            .filter(|&(p, _)| p > 0.0);
        if let Some((p, n)) = around {
            // Whole cents outward, past the float error of the product ("48", not "48.01").
            let low = (p * (1.0 - AROUND_SPREAD) * 100.0 + 1e-6).floor() / 100.0;
            let high = (p * (1.0 + AROUND_SPREAD) * 100.0 - 1e-6).ceil() / 100.0;
            return Some((Some(low), Some(high), n));
        }
        // "between 20 and 40", "from 20 to 40".
        for (first, second) in [("between", "and"), ("from", "to")] {
            if self.lower(i) == first
                && let Some((a, m, _)) = self.price_at(i + 1)
                && self.lower(i + 1 + m) == second
                && let Some((b, m2, _)) = self.price_at(i + 2 + m)
            {
                return Some((Some(a.min(b)), Some(a.max(b)), 2 + m + m2));
            }
        }
        // "$20-$40", "20–40 dollars", "$20 to $40", "$20 - $40": ranges without a lead word need
        // a currency.
        if let Some((a, b)) = self.lower(i).split_once(RANGE_DASHES)
            && let (Some(x), Some(y)) = (price_token(a), price_token(b))
        {
            let currency_after = self.currency_at(i + 1);
            if a.starts_with(CURRENCY_SYMBOLS) || b.contains(CURRENCY_SYMBOLS) || currency_after {
                return Some((
                    Some(x.min(y)),
                    Some(x.max(y)),
                    1 + usize::from(currency_after),
                ));
            }
        }
        let (p, m, marked) = self.price_at(i)?;
        if joins_range(self.lower(i + m))
            && let Some((b, m2, marked2)) = self.price_at(i + m + 1)
            && (marked || marked2)
        {
            return Some((Some(p.min(b)), Some(p.max(b)), m + 1 + m2));
        }
        // "40 or less", "$50 and up", "$50+".
        if let Some(n) = self.starts_any(i + m, PRICE_OR_LESS) {
            return Some((None, Some(p), m + n));
        }
        if let Some(n) = self.starts_any(i + m, PRICE_OR_MORE) {
            return Some((Some(p), None, m + n));
        }
        if self.words[i].ends_with('+') && m == 1 {
            return Some((Some(p), None, 1));
        }
        None
    }

    /// Price phrases: "under 80", "less than $30", "no more than 45", "between 20 and 40",
    /// "from 20 to 40", "$20-$40", "40 or less", "$50 and up", "around 40".
    fn prices(&mut self) {
        let mut i = 0;
        while i < self.words.len() {
            let Some((min, max, n)) = self.price_phrase(i) else {
                i += 1;
                continue;
            };
            if let Some(p) = min {
                self.out.min_price = Some(p);
            }
            if let Some(p) = max {
                self.out.max_price = Some(p);
            }
            self.take(i, n);
            // "for under 25", "priced below 60": the word that led to the price goes with it.
            let from = if i > 0
                && !self.used[i - 1]
                && matches!(self.lower(i - 1), "for" | "at" | "priced" | "costing")
            {
                self.used[i - 1] = true;
                i - 1
            } else {
                i
            };
            self.phrase("price", from, i + n - 1);
            i += n;
        }
    }

    /// The words that open a request, at the query's start, with an article after them ("show
    /// me a", "do you have any"): not what is wanted, so not searched for. A query that is only
    /// such words keeps them.
    fn request(&mut self) {
        let Some(mut n) = self.starts_any(0, REQUEST_OPENERS) else {
            return;
        };
        if matches!(self.lower(n), "a" | "an" | "some" | "any" | "the") {
            n += 1;
        }
        if n < self.words.len() {
            self.take(0, n);
        }
    }

    /// "cheapest", "cheap", "affordable", "price low to high"; "most expensive", "priciest",
    /// "price high to low": the first such phrase, unless a negation comes before it ("not the
    /// cheapest") or a word that makes it a description comes before or after it ("too
    /// expensive", "it's cheap", "expensive but worth it").
    fn sorts(&mut self) {
        let negated = |r: &Self, i: usize| {
            (0..i).any(|k| {
                let w = r.lower(k);
                matches!(w, "not" | "no" | "never") || w.ends_with("n't")
            })
        };
        for i in 0..self.words.len() {
            if self.used[i] {
                continue;
            }
            let (sort, n) = match (
                self.starts_any(i, SORT_PRICE_LOW),
                self.starts_any(i, SORT_PRICE_HIGH),
            ) {
                (Some(n), _) => (Sort::PriceLow, n),
                (None, Some(n)) => (Sort::PriceHigh, n),
                (None, None) => continue,
            };
            let described = i > 0 && SENTENCE_BEFORE_SORT.contains(&self.lower(i - 1));
            if described || negated(self, i) || SENTENCE_AFTER_SORT.contains(&self.lower(i + n)) {
                continue;
            }
            if (i..i + n).any(|k| self.used[k]) {
                continue;
            }
            self.out.sort = Some(sort);
            self.take(i, n);
            self.phrase("sort", i, i + n - 1);
            return;
        }
    }

    /// `-term` anywhere.
    fn dashed(&mut self) {
        for i in 0..self.words.len() {
            if let Some(t) = self.lower(i).strip_prefix('-')
                && t.chars().next().is_some_and(char::is_alphabetic)
            {
                self.out.not.push(term(t));
                self.used[i] = true;
                self.phrase("not", i, i);
            }
        }
    }

    /// The term after a negation at `i`, skipping "for" or "in" and an article ("without a
    /// hood", "except for the hood", "not in black"): its index.
    fn negated(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        if matches!(self.lower(j), "for" | "in") {
            j += 1;
        }
        if matches!(self.lower(j), "a" | "an" | "any" | "the") {
            j += 1;
        }
        let t = term(self.lower(j));
        (j < self.words.len()
            && !self.used[j]
            && !t.is_empty()
            && !NOT_A_TERM.contains(&t.as_str()))
        .then_some(j)
    }

    /// "without X" ("w/o X", "sans X"), "except X", "other than X", "but not X", "NOT X" anywhere;
    /// lowercase "not X" and "no X" (or "with no X") only as the query's last words and not
    /// after a verb or pronoun, and "no X" as its first words before more ("no zip hoodie")
    /// unless the catalog writes "no X" ("no-show socks").
    fn negations(&mut self) {
        let n = self.words.len();
        for i in 0..n {
            if self.used[i] {
                continue;
            }
            // "(not white)" reads as "not white".
            let w = self.lower(i).trim_start_matches(['(', '[']).to_string();
            let other_than = w == "other" && self.lower(i + 1) == "than";
            let explicit = other_than
                || matches!(
                    w.as_str(),
                    "without" | "except" | "excluding" | "w/o" | "w/out" | "sans"
                )
                || self.words[i].trim_start_matches(['(', '[']) == "NOT"
                || (w == "not" && self.lower(i.wrapping_sub(1)) == "but");
            let casual = matches!(w.as_str(), "not" | "no");
            if !explicit && !casual {
                continue;
            }
            let Some(j) = self.negated(i + other_than as usize) else {
                continue;
            };
            if !explicit {
                let last = (j + 1..n).all(|k| self.used[k]);
                let before = (0..i).rev().find(|&k| !self.used[k]).map(|k| self.lower(k));
                // "no zip hoodie": a "no" that opens a query of a few words, before what is
                // asked for ("no sweat after yoga in this top" is a sentence).
                let rest = (j + 1..n).filter(|&k| !self.used[k]).count();
                let opens = w == "no"
                    && j == i + 1
                    && before.is_none()
                    && (1..=NO_OPENS_BEFORE).contains(&rest)
                    && !(self.no_phrase)(&term(self.lower(j)));
                if !opens && (!last || before.is_some_and(|b| SENTENCE_BEFORE_NOT.contains(&b))) {
                    continue;
                }
            }
            self.out.not.push(term(self.lower(j)));
            self.take(i, j + 1 - i);
            let mut from = i;
            if i > 0 && matches!(self.lower(i - 1), "but" | "with") && !self.used[i - 1] {
                self.used[i - 1] = true;
                from = i - 1;
            }
            self.phrase("not", from, j);
        }
    }

    fn finish(mut self) -> ParsedText {
        let text = (0..self.words.len())
            .filter(|&i| !self.used[i])
            .map(|i| self.words[i])
            .collect::<Vec<_>>()
            .join(" ");
        // Where a phrase was read out, the punctuation that set it apart goes with it ("pants,
        // not yoga": "pants").
        self.out.text = if self.used.iter().any(|&u| u) {
            text.trim_matches([',', ';', ':', '-', '–', ' '])
                .to_string()
        } else {
            text
        };
        self.out.not.retain(|t| !t.is_empty());
        let mut seen = std::collections::HashSet::new();
        self.out.not.retain(|t| seen.insert(t.clone()));
        self.out
    }
}

/// Reads price limits ("under 80", "below $50", "no more than 45 dollars", "over 20", "at least
/// 15", "between 20 and 40", "from 20 to 40", "$20-$40", "20–40 euros", "<=40", "40 or less",
/// "$50 and up", "$50+", "around 40"; not a measure such as "under 40 mm") and "not" terms
/// ("-zip", "without zip", "but not black", "NOT bag", a lowercase "not leather" or "no
/// hood" at the end, "no zip" opening a query of a few words), an order ("cheapest", "most
/// expensive") and the words that open a request ("show me", "do you have") out of a short
/// query.
/// A sentence (more than [`LONG_QUERY_WORDS`] words) keeps every word but `-term`s: "it's not
/// cheap" or "no trouble finding room" are text, not exclusions.
pub fn parse_text(raw: &str) -> ParsedText {
    parse_text_in(raw, &|_| false)
}

/// [`parse_text`] for a catalog: `no_phrase` says whether it writes "no" before a word ("no-show
/// socks", "no-iron shirt"), where a query's first words "no X" ask for that, not exclude X.
pub fn parse_text_in(raw: &str, no_phrase: &dyn Fn(&str) -> bool) -> ParsedText {
    let mut r = Reading::new(raw, no_phrase);
    r.dashed();
    if r.words.len() <= LONG_QUERY_WORDS {
        r.request();
        r.prices();
        r.negations();
        r.sorts();
    }
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_phrases_and_not_terms_are_read() {
        let p = parse_text("red leather handbag under 80");
        assert_eq!(
            (p.text.as_str(), p.max_price, p.min_price),
            ("red leather handbag", Some(80.0), None)
        );
        let p = parse_text("hoodie between 20 and 40 without zip");
        assert_eq!(
            (p.text.as_str(), p.min_price, p.max_price),
            ("hoodie", Some(20.0), Some(40.0))
        );
        assert_eq!(p.not, vec!["zip"]);
        let p = parse_text("jacket $30-$60 -hooded but not black");
        assert_eq!(
            (p.text.as_str(), p.min_price, p.max_price),
            ("jacket", Some(30.0), Some(60.0))
        );
        assert_eq!(p.not, vec!["hooded", "black"]);
        let p = parse_text("pants, not yoga");
        assert_eq!(
            (p.text.as_str(), p.not.as_slice()),
            ("pants", &["yoga".to_string()][..])
        );
        let p = parse_text("yoga mat less than $25.50");
        assert_eq!((p.text.as_str(), p.max_price), ("yoga mat", Some(25.5)));
        // Words that only look like the phrases stay.
        let p = parse_text("over the shoulder bag");
        assert_eq!(p.text, "over the shoulder bag");
        assert_eq!(p.min_price, None);
    }

    #[test]
    fn prices_are_read_in_the_many_ways_people_write_them() {
        let read = |s: &str| {
            let p = parse_text(s);
            let phrases: Vec<String> = p.phrases.iter().map(|r| r.phrase.clone()).collect();
            (p.text, p.min_price, p.max_price, phrases)
        };
        let v = |t: &str, min: Option<f64>, max: Option<f64>, ph: &str| {
            let phrases = if ph.is_empty() {
                vec![]
            } else {
                vec![ph.to_string()]
            };
            (t.to_string(), min, max, phrases)
        };
        // "no more than" is an upper limit, and its "no" is not left behind as text.
        assert_eq!(
            read("shoes no more than 45"),
            v("shoes", None, Some(45.0), "no more than 45")
        );
        assert_eq!(
            read("jacket below 60 dollars"),
            v("jacket", None, Some(60.0), "below 60 dollars")
        );
        assert_eq!(
            read("gift for dad under 100 bucks"),
            v("gift for dad", None, Some(100.0), "under 100 bucks")
        );
        assert_eq!(
            read("tee for less than 25 dollars"),
            v("tee", None, Some(25.0), "for less than 25 dollars")
        );
        assert_eq!(
            read("backpack 40 or less"),
            v("backpack", None, Some(40.0), "40 or less")
        );
        assert_eq!(
            read("jacket 40 euros or less"),
            v("jacket", None, Some(40.0), "40 euros or less")
        );
        assert_eq!(
            read("tank top from 20 to 30"),
            v("tank top", Some(20.0), Some(30.0), "from 20 to 30")
        );
        assert_eq!(
            read("bag $40 to $20"),
            v("bag", Some(20.0), Some(40.0), "$40 to $20")
        );
        for (s, phrase) in [
            ("bag 30-40 dollars", "30-40 dollars"),
            ("bag 30\u{2013}40 \u{20ac}", "30\u{2013}40 \u{20ac}"),
            ("bag $30 - $40", "$30 - $40"),
            ("bag 30 - 40 usd", "30 - 40 usd"),
            ("bag 30-$40", "30-$40"),
        ] {
            assert_eq!(read(s), v("bag", Some(30.0), Some(40.0), phrase), "{s}");
        }
        assert_eq!(read("bag <=40"), v("bag", None, Some(40.0), "<=40"));
        assert_eq!(read("bag <$40.50"), v("bag", None, Some(40.5), "<$40.50"));
        assert_eq!(
            read("bag >=50 euros"),
            v("bag", Some(50.0), None, ">=50 euros")
        );
        assert_eq!(read("hoodie $50+"), v("hoodie", Some(50.0), None, "$50+"));
        assert_eq!(
            read("hoodie 50 dollars and up"),
            v("hoodie", Some(50.0), None, "50 dollars and up")
        );
        assert_eq!(
            read("tee not over 30"),
            v("tee", None, Some(30.0), "not over 30")
        );
        assert_eq!(
            read("watch at least 20 euros"),
            v("watch", Some(20.0), None, "at least 20 euros")
        );
        // Numbers that are sizes or counts, and ranges with no word or currency to say they are
        // prices, stay text.
        for s in [
            "size 8 or more",
            "shoes size over 10",
            "bag 20 to 40",
            "bag 20-40",
            "bag 20 - 40",
            "t-shirt 2-pack",
            "up to date jacket",
            "bag from the gym",
        ] {
            assert_eq!(read(s), v(s, None, None, ""), "{s}");
        }
        assert_eq!(
            read("pack of 3 under 20"),
            v("pack of 3", None, Some(20.0), "under 20")
        );
        // A measure is not a price, written against its number or after it.
        for s in [
            "watch under 40mm",
            "bag under 40 cm",
            "mat over 6mm",
            "bottle under 1 liter",
            "bag <40 cm",
            "bag 30-40L",
            "backpack about 30 liters",
        ] {
            assert_eq!(read(s), v(s, None, None, ""), "{s}");
        }
        assert_eq!(
            read("tee under 20 w/ pocket"),
            v("tee w/ pocket", None, Some(20.0), "under 20")
        );
        assert_eq!(
            read("tee 20usd or less"),
            v("tee", None, Some(20.0), "20usd or less")
        );
        assert_eq!(
            read("sofa under 1.5k"),
            v("sofa", None, Some(1500.0), "under 1.5k")
        );
        // "around 40" is 40 give or take a fifth, in whole cents.
        assert_eq!(
            read("hoodie around 40"),
            v("hoodie", Some(32.0), Some(48.0), "around 40")
        );
        assert_eq!(
            read("jacket about 60 dollars"),
            v("jacket", Some(48.0), Some(72.0), "about 60 dollars")
        );
        assert_eq!(read("tee ~$20"), v("tee", Some(16.0), Some(24.0), "~$20"));
        assert_eq!(
            read("bag about 40 - 50 dollars"),
            v("bag", Some(40.0), Some(50.0), "about 40 - 50 dollars")
        );
        assert_eq!(read("bag around 0"), v("bag around 0", None, None, ""));
        assert_eq!(
            read("shorts approx. 19.99 blue"),
            v("shorts blue", Some(15.99), Some(23.99), "approx. 19.99")
        );
        assert_eq!(
            read("what the shirt is about"),
            v("what the shirt is about", None, None, "")
        );
    }

    #[test]
    fn any_arrangement_of_price_and_negation_words_reads_without_a_panic() {
        let words = [
            "about", "~", "~40", "under", "40", "$40", "-", "to", "and", "between", "from", "or",
            "less", "dollars", "mm", "1.5k", "<=", "<40", "40+", "not", "NOT", "without", "w/o",
            "-zip", "size", "0", "",
        ];
        for a in words {
            for b in words {
                for c in words {
                    for d in ["", "bag", "40"] {
                        let p = parse_text(&format!("{a} {b} {c} {d}"));
                        for limit in [p.min_price, p.max_price].into_iter().flatten() {
                            assert!(limit.is_finite() && limit >= 0.0, "{a} {b} {c} {d}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sentences_keep_every_word() {
        for s in [
            "it's not cheap",
            "no trouble finding room",
            "Not sure what happened",
            "I wore it without any problems for a whole year on the trail",
            "the bag is not under 50 but it is worth every cent of it",
            "over the shoulder bag",
            "not too heavy",
            "Awesome tee! Not the cheapest though.",
            "a bit too expensive",
            "it's cheap",
            "expensive but worth it",
            "cheap for what it is",
        ] {
            let p = parse_text(s);
            assert_eq!(
                (
                    p.text.as_str(),
                    p.not.len(),
                    p.max_price,
                    p.min_price,
                    p.sort
                ),
                (s, 0, None, None, None),
                "{s}"
            );
        }
    }

    #[test]
    fn the_words_that_open_a_request_are_not_searched_for() {
        let text = |s: &str| parse_text(s).text;
        assert_eq!(text("show me black hoodies"), "black hoodies");
        assert_eq!(text("Do you have any running shorts?"), "running shorts?");
        assert_eq!(text("I\u{2019}m looking for a yoga bag"), "yoga bag");
        let p = parse_text("i need a waterproof jacket under 100");
        assert_eq!(
            (p.text.as_str(), p.max_price),
            ("waterproof jacket", Some(100.0))
        );
        // Only at the start, and never every word.
        assert_eq!(text("black hoodies, show me"), "black hoodies, show me");
        assert_eq!(text("show me"), "show me");
        assert_eq!(text("show jumping saddle"), "show jumping saddle");
    }

    #[test]
    fn an_order_asked_for_in_words_is_read() {
        let sort = |s: &str| {
            let p = parse_text(s);
            (
                p.text,
                p.sort,
                p.phrases.into_iter().map(|r| r.phrase).collect::<Vec<_>>(),
            )
        };
        for (typed, text, order, phrase) in [
            ("cheap hoodie", "hoodie", Sort::PriceLow, "cheap"),
            (
                "cheapest black tee",
                "black tee",
                Sort::PriceLow,
                "cheapest",
            ),
            ("Affordable watch", "watch", Sort::PriceLow, "Affordable"),
            (
                "jacket price low to high",
                "jacket",
                Sort::PriceLow,
                "price low to high",
            ),
            (
                "most expensive watch",
                "watch",
                Sort::PriceHigh,
                "most expensive",
            ),
            ("priciest bag", "bag", Sort::PriceHigh, "priciest"),
        ] {
            let read = (text.to_string(), Some(order), vec![phrase.to_string()]);
            assert_eq!(sort(typed), read, "{typed}");
        }
        // "cheaper than" is a price limit, not an order.
        let p = parse_text("bag cheaper than 40");
        assert_eq!(
            (p.text.as_str(), p.sort, p.max_price),
            ("bag", None, Some(40.0))
        );
        // A sentence keeps its words.
        assert_eq!(
            sort("the hoodie was cheap but it shrank in the first wash").1,
            None
        );
    }

    #[test]
    fn explicit_and_final_negations_are_read() {
        let not = |s: &str| {
            let p = parse_text(s);
            (p.text, p.not)
        };
        let v = |t: &str, n: &[&str]| (t.to_string(), n.iter().map(|s| s.to_string()).collect());
        assert_eq!(not("backpack without zip"), v("backpack", &["zip"]));
        assert_eq!(not("backpack -zip"), v("backpack", &["zip"]));
        assert_eq!(not("NOT bag"), v("", &["bag"]));
        assert_eq!(not("leather bag NOT red"), v("leather bag", &["red"]));
        assert_eq!(not("handbag not leather"), v("handbag", &["leather"]));
        assert_eq!(not("hoodie with no zip"), v("hoodie", &["zip"]));
        assert_eq!(not("jacket without a hood"), v("jacket", &["hood"]));
        assert_eq!(not("hoodie not black under 50"), v("hoodie", &["black"]));
        assert_eq!(not("jacket w/o hood"), v("jacket", &["hood"]));
        assert_eq!(not("bra w/out padding"), v("bra", &["padding"]));
        assert_eq!(not("jacket sans hood"), v("jacket", &["hood"]));
        assert_eq!(not("tank top other than white"), v("tank top", &["white"]));
        assert_eq!(not("tee (not white)"), v("tee", &["white"]));
        // "for" and "in" after the negation are not what it excludes.
        assert_eq!(not("jacket except for the hood"), v("jacket", &["hood"]));
        // The comma that set the phrase apart goes with it.
        assert_eq!(not("tee, not in black"), v("tee", &["black"]));
        assert_eq!(not("hoodie not for kids"), v("hoodie", &["kids"]));
        // A lowercase "not" inside the query is part of its text.
        assert_eq!(not("not black hoodie"), v("not black hoodie", &[]));
        // "no" before the rest of a short query excludes its word, unless the catalog writes
        // the two together.
        assert_eq!(not("no zip hoodie"), v("hoodie", &["zip"]));
        assert_eq!(not("No hood, rain jacket"), v("rain jacket", &["hood"]));
        let show = |w: &str| w == "show";
        let socks = parse_text_in("no show socks", &show);
        assert_eq!((socks.text.as_str(), socks.not.len()), ("no show socks", 0));
        assert_eq!(
            not("no trouble finding room"),
            v("no trouble finding room", &[])
        );
        assert_eq!(not("hoodie no zip pocket"), v("hoodie no zip pocket", &[]));
        assert_eq!(
            not("no sweat after yoga in this top"),
            v("no sweat after yoga in this top", &[])
        );
        // `-term` is read even in a sentence; a number is not a term.
        assert_eq!(
            not("warm jacket for winter walks with the dog in the rain -hood"),
            v(
                "warm jacket for winter walks with the dog in the rain",
                &["hood"]
            )
        );
        assert_eq!(not("tee -2"), v("tee -2", &[]));
        // Each reading keeps its phrase as typed, for the app's chips.
        let p = parse_text("Jacket  with no hood under $80");
        let phrases: Vec<(&str, &str)> = p
            .phrases
            .iter()
            .map(|r| (r.kind.as_str(), r.phrase.as_str()))
            .collect();
        assert_eq!(phrases, [("price", "under $80"), ("not", "with no hood")]);
    }

    #[test]
    fn weights_parse() {
        let w: Weights = "visual=2, keyword=0".parse().unwrap();
        assert_eq!((w.visual, w.keyword, w.text), (2.0, 0.0, 1.0));
        assert_eq!(Weights::default().keyword, 1.0);
        assert!("colour=1".parse::<Weights>().is_err());
        assert!("text=-1".parse::<Weights>().is_err());
        let err = "text=1e308".parse::<Weights>().unwrap_err();
        assert!(err.contains("from 0 to 100"), "{err}");
        assert!("text=NaN".parse::<Weights>().is_err());
    }

    #[test]
    fn price_limits_must_be_prices() {
        let f = |min: Option<f64>, max: Option<f64>| Filters {
            min_price: min,
            max_price: max,
            ..Filters::default()
        };
        assert_eq!(f(Some(0.0), Some(80.0)).problem(), None);
        assert!(f(Some(f64::NAN), None).problem().is_some());
        assert!(f(None, Some(-1.0)).problem().is_some());
        assert!(f(None, Some(f64::INFINITY)).problem().is_some());
        assert!(f(Some(1e300), None).problem().is_some());
    }
}
