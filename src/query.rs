//! What a search asks for: text, a photo, "not" terms, a product to find more like, filters,
//! and the fusion weights; and reading price limits and "not" terms out of typed text.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, Default)]
pub struct Query {
    pub text: String,
    pub photo: Option<PhotoInput>,
    /// Terms whose products are pushed down.
    pub not: Vec<String>,
    /// "More like this": the SKU of a product.
    pub like: Option<String>,
    pub filters: Filters,
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
        let mut w = Weights::default();
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

/// Typed text with its price limits and "not" terms taken out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParsedText {
    pub text: String,
    pub not: Vec<String>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
}

fn price_token(t: &str) -> Option<f64> {
    let t = t.trim_matches(|c: char| matches!(c, '$' | '€' | '£' | ',' | '.' | ')' | '('));
    let t = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if t.is_empty() || !t.chars().next()?.is_ascii_digit() {
        return None;
    }
    crate::price::parse_price(t)
}

/// Reads "under 80", "below $50", "less than 30", "over 20", "above 10", "at least 15",
/// "between 20 and 40", "$20-$40", and "not X", "without X", "-X".
pub fn parse_text(raw: &str) -> ParsedText {
    let words: Vec<&str> = raw.split_whitespace().collect();
    let mut out = ParsedText::default();
    let mut keep: Vec<&str> = Vec::new();
    let mut i = 0;
    let lower = |w: &str| w.to_lowercase();
    while i < words.len() {
        let w = lower(words[i]);
        let next = words.get(i + 1).copied();
        let next2 = words.get(i + 2).copied();
        // Two-word openers.
        let two = next.map(|n| format!("{w} {}", lower(n)));
        if let (Some(two), Some(n2)) = (two.as_deref(), next2)
            && let Some(p) = price_token(n2)
        {
            match two {
                "less than" | "cheaper than" | "up to" | "no more" => {
                    out.max_price = Some(p);
                    i += 3;
                    continue;
                }
                "more than" | "at least" => {
                    out.min_price = Some(p);
                    i += 3;
                    continue;
                }
                _ => {}
            }
        }
        if let Some(n) = next {
            if matches!(w.as_str(), "under" | "below" | "max" | "<" | "<=")
                && let Some(p) = price_token(n)
            {
                out.max_price = Some(p);
                i += 2;
                continue;
            }
            if matches!(w.as_str(), "over" | "above" | "min" | ">" | ">=")
                && let Some(p) = price_token(n)
            {
                out.min_price = Some(p);
                i += 2;
                continue;
            }
            if w == "between"
                && let (Some(a), Some(and), Some(b)) = (price_token(n), next2, words.get(i + 3))
                && lower(and) == "and"
                && let Some(b) = price_token(b)
            {
                out.min_price = Some(a.min(b));
                out.max_price = Some(a.max(b));
                i += 4;
                continue;
            }
            if matches!(w.as_str(), "not" | "without" | "no" | "except") {
                out.not.push(
                    n.trim_matches(|c: char| !c.is_alphanumeric())
                        .to_lowercase(),
                );
                i += 2;
                continue;
            }
        }
        if let Some((a, b)) = w.split_once('-')
            && (a.starts_with(['$', '€', '£']) || b.starts_with(['$', '€', '£']))
            && let (Some(a), Some(b)) = (price_token(a), price_token(b))
        {
            out.min_price = Some(a.min(b));
            out.max_price = Some(a.max(b));
            i += 1;
            continue;
        }
        if let Some(term) = w.strip_prefix('-')
            && term.chars().next().is_some_and(char::is_alphabetic)
        {
            out.not.push(term.to_string());
            i += 1;
            continue;
        }
        if w == "but" && next.is_some_and(|n| matches!(lower(n).as_str(), "not" | "without")) {
            i += 1;
            continue;
        }
        keep.push(words[i]);
        i += 1;
    }
    out.not.retain(|t| !t.is_empty());
    out.text = keep.join(" ");
    out
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
        let p = parse_text("yoga mat less than $25.50");
        assert_eq!((p.text.as_str(), p.max_price), ("yoga mat", Some(25.5)));
        // Words that only look like the phrases stay.
        let p = parse_text("over the shoulder bag");
        assert_eq!(p.text, "over the shoulder bag");
        assert_eq!(p.min_price, None);
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
