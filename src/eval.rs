//! Search-quality evaluation: query sets, ranking metrics, and an ablation over signals.
//!
//! Metrics, for one query's ranked list and its graded relevance (grade 0 = not relevant):
//! - Recall@K: relevant items in the top K over all relevant items.
//! - MRR@10: 1 / rank of the first relevant item in the top 10, else 0.
//! - nDCG@10: DCG with gain `2^grade - 1` and discount `1 / log2(rank + 1)`, over the ideal DCG.
//! - AP: the mean, over relevant items, of precision at each one's rank (0 for one not
//!   ranked); mAP is its mean over queries.
//!
//! "Relevant" for the binary metrics means a grade of at least the query's `min_grade`
//! (default 1). Ties in score are broken pessimistically: among equal scores, items that are
//! not relevant rank first, so a ranker cannot look good by the luck of an ordering. Queries
//! with no relevant item are counted but left out of the averages.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fusion::Fusion;
use crate::query::{Filters, PhotoInput, Query, Weights};
use crate::search::{Searcher, Signal};

/// One evaluation query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EvalQuery {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub text: String,
    /// A photo file, relative to the query file's folder or absolute.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub not: Vec<String>,
    #[serde(default)]
    pub filters: Filters,
    /// SKU → grade (1 or more).
    pub relevant: BTreeMap<String, u32>,
    #[serde(default)]
    pub min_grade: Option<u32>,
}

impl EvalQuery {
    /// The search it stands for.
    pub fn query(&self) -> Query {
        Query {
            text: self.text.clone(),
            photo: self
                .image
                .as_ref()
                .map(|p| PhotoInput::Path(PathBuf::from(p))),
            not: self.not.clone(),
            filters: self.filters.clone(),
            ..Query::default()
        }
    }

    /// Its grades by SKU.
    pub fn grades(&self) -> HashMap<String, u32> {
        self.relevant.clone().into_iter().collect()
    }
}

/// Reads a query set: JSON Lines (one [`EvalQuery`] per line, `relevant` either an object of
/// SKU → grade or a list of SKUs) or CSV (columns `id`, `group`, `text`, `image`, `not`,
/// `category`, `color`, `min_price`, `max_price`, `relevant` as `SKU[:grade]` separated by `|`).
pub fn read_queries(path: &Path) -> Result<Vec<EvalQuery>> {
    let bytes = crate::files::read_regular(path, crate::files::MAX_QUERY_FILE_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::InvalidInput(format!("{}: not a UTF-8 text file", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let headers = r.headers()?.clone();
        for (n, rec) in r.records().enumerate() {
            let rec = rec?;
            let get = |k: &str| {
                headers
                    .iter()
                    .position(|h| h.eq_ignore_ascii_case(k))
                    .and_then(|i| rec.get(i))
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            let price = |k: &str| -> Result<Option<f64>> {
                let v = get(k);
                if v.is_empty() {
                    Ok(None)
                } else {
                    v.parse().map(Some).map_err(|_| {
                        Error::InvalidInput(format!(
                            "{}: row {}: {k} {v:?} is not a number",
                            path.display(),
                            n + 2
                        ))
                    })
                }
            };
            let mut relevant = BTreeMap::new();
            for item in get("relevant")
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                let (sku, grade) = match item.rsplit_once(':') {
                    Some((s, g)) if g.parse::<u32>().is_ok() => {
                        (s.to_string(), g.parse().unwrap_or(1))
                    }
                    _ => (item.to_string(), 1),
                };
                relevant.insert(sku, grade);
            }
            out.push(EvalQuery {
                id: if get("id").is_empty() {
                    format!("q{}", n + 1)
                } else {
                    get("id")
                },
                group: get("group"),
                text: get("text"),
                image: Some(get("image")).filter(|s| !s.is_empty()),
                not: get("not")
                    .split('|')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                filters: Filters {
                    category: Some(get("category")).filter(|s| !s.is_empty()),
                    color: Some(get("color")).filter(|s| !s.is_empty()),
                    min_price: price("min_price")?,
                    max_price: price("max_price")?,
                    attributes: Vec::new(),
                },
                relevant,
                min_grade: None,
            });
        }
    } else {
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let mut v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                Error::InvalidInput(format!("{}: line {}: {e}", path.display(), n + 1))
            })?;
            if let Some(list) = v["relevant"].as_array() {
                let obj: serde_json::Map<String, serde_json::Value> = list
                    .iter()
                    .filter_map(|s| s.as_str())
                    .map(|s| (s.to_string(), 1.into()))
                    .collect();
                v["relevant"] = obj.into();
            }
            let mut q: EvalQuery = serde_json::from_value(v).map_err(|e| {
                Error::InvalidInput(format!("{}: line {}: {e}", path.display(), n + 1))
            })?;
            if q.id.is_empty() {
                q.id = format!("q{}", n + 1);
            }
            out.push(q);
        }
    }
    for q in &mut out {
        if let Some(img) = &q.image {
            let p = PathBuf::from(img);
            if p.is_relative() {
                q.image = Some(base.join(p).to_string_lossy().to_string());
            }
        }
    }
    Ok(out)
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub recall_1: f64,
    pub recall_5: f64,
    pub recall_10: f64,
    pub mrr_10: f64,
    pub ndcg_10: f64,
    pub map: f64,
    /// Of the strong matches (the adaptive cut), the share that is relevant (0 when none).
    pub cut_precision: f64,
    /// Of the relevant products, the share among the strong matches.
    pub cut_recall: f64,
    /// How many strong matches.
    pub cut_size: f64,
}

impl Metrics {
    fn add(&mut self, o: &Metrics) {
        self.recall_1 += o.recall_1;
        self.recall_5 += o.recall_5;
        self.recall_10 += o.recall_10;
        self.mrr_10 += o.mrr_10;
        self.ndcg_10 += o.ndcg_10;
        self.map += o.map;
        self.cut_precision += o.cut_precision;
        self.cut_recall += o.cut_recall;
        self.cut_size += o.cut_size;
    }
    fn scaled(&self, f: f64) -> Metrics {
        Metrics {
            recall_1: self.recall_1 * f,
            recall_5: self.recall_5 * f,
            recall_10: self.recall_10 * f,
            mrr_10: self.mrr_10 * f,
            ndcg_10: self.ndcg_10 * f,
            map: self.map * f,
            cut_precision: self.cut_precision * f,
            cut_recall: self.cut_recall * f,
            cut_size: self.cut_size * f,
        }
    }
}

/// Metrics of one ranking: `ranked` is (item, score) in ranked order, of which the first
/// `strong` are the strong matches; `grades` the relevance of every relevant item. `None` when
/// nothing is relevant.
pub fn score_ranking(
    ranked: &[(String, f32)],
    strong: usize,
    grades: &HashMap<String, u32>,
    min_grade: u32,
) -> Option<Metrics> {
    let is_rel = |id: &str| grades.get(id).copied().unwrap_or(0) >= min_grade;
    let total_rel = grades.values().filter(|&&g| g >= min_grade).count();
    if total_rel == 0 {
        return None;
    }
    // Pessimistic ties: within a run of equal scores, not-relevant items first.
    let mut order: Vec<&(String, f32)> = ranked.iter().collect();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && order[j].1 == order[i].1 {
            j += 1;
        }
        order[i..j].sort_by_key(|(id, _)| (grades.get(id).copied().unwrap_or(0), is_rel(id)));
        i = j;
    }
    let rel_at: Vec<bool> = order.iter().map(|(id, _)| is_rel(id)).collect();
    let recall = |k: usize| rel_at.iter().take(k).filter(|&&r| r).count() as f64 / total_rel as f64;
    let mrr = rel_at
        .iter()
        .take(10)
        .position(|&r| r)
        .map_or(0.0, |p| 1.0 / (p + 1) as f64);
    let gain = |g: u32| 2f64.powi(g as i32) - 1.0;
    let disc = |pos: usize| 1.0 / ((pos + 2) as f64).log2();
    let dcg: f64 = order
        .iter()
        .take(10)
        .enumerate()
        .map(|(p, (id, _))| gain(grades.get(id).copied().unwrap_or(0)) * disc(p))
        .sum();
    let mut ideal: Vec<u32> = grades.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(p, g)| gain(*g) * disc(p))
        .sum();
    let mut hits = 0;
    let mut ap = 0.0;
    for (p, &r) in rel_at.iter().enumerate() {
        if r {
            hits += 1;
            ap += hits as f64 / (p + 1) as f64;
        }
    }
    let in_cut = rel_at.iter().take(strong).filter(|&&r| r).count() as f64;
    Some(Metrics {
        cut_precision: if strong > 0 {
            in_cut / strong as f64
        } else {
            0.0
        },
        cut_recall: recall(strong),
        cut_size: strong as f64,
        recall_1: recall(1),
        recall_5: recall(5),
        recall_10: recall(10),
        mrr_10: mrr,
        ndcg_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        map: ap / total_rel as f64,
    })
}

/// Metrics averaged over a set of queries.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub queries: usize,
    /// Queries left out for having no relevant item.
    pub without_relevant: usize,
    pub metrics: Metrics,
}

/// One configuration (fused, or one signal alone) over the whole set and per group.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResult {
    /// `fused` (the default fusion), `fused: <fusion>` (another fusion), or `<signal> only`.
    pub config: String,
    pub overall: Summary,
    pub groups: BTreeMap<String, Summary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub queries: usize,
    /// The models and vectors the searcher used.
    pub models: serde_json::Value,
    pub signals_available: Vec<Signal>,
    pub unavailable: Vec<String>,
    pub weights: Weights,
    pub results: Vec<ConfigResult>,
}

fn config_name(s: Signal) -> String {
    format!("{} only", s.name())
}

fn only(signal: Signal) -> Weights {
    let mut w = Weights {
        visual: 0.0,
        crossmodal: 0.0,
        text: 0.0,
        keyword: 0.0,
        phash: 0.0,
    };
    signal.set_weight(&mut w, 1.0);
    w
}

/// Runs every query fused with `weights` and once per signal alone.
pub fn evaluate(
    searcher: &Searcher,
    queries: &[EvalQuery],
    weights: &Weights,
) -> Result<EvalReport> {
    let mut configs: Vec<(String, Weights, Fusion)> =
        vec![("fused".into(), *weights, Fusion::default())];
    for f in Fusion::ALL.into_iter().filter(|f| *f != Fusion::default()) {
        configs.push((format!("fused: {}", f.name()), *weights, f));
    }
    let mut seen: Vec<Signal> = Vec::new();
    let mut sums: HashMap<(String, String), (Metrics, usize, usize)> = HashMap::new();
    let mut prepared = Vec::new();
    for q in queries {
        let prep = searcher.prepare(&q.query())?;
        for s in prep.signals() {
            if !seen.contains(s) {
                seen.push(*s);
            }
        }
        prepared.push(prep);
    }
    for s in &seen {
        configs.push((config_name(*s), only(*s), Fusion::default()));
    }
    for (q, prep) in queries.iter().zip(&prepared) {
        let grades = q.grades();
        let mut groups = vec![String::new()];
        if !q.group.is_empty() {
            groups.push(q.group.clone());
        }
        for (name, w, fusion) in &configs {
            // A signal alone is scored on the queries that have it.
            if !name.starts_with("fused")
                && !prep.signals().iter().any(|s| config_name(*s) == *name)
            {
                continue;
            }
            let r = searcher.rank_with(prep, w, *fusion, usize::MAX, 0);
            let ranked: Vec<(String, f32)> = r.hits.into_iter().map(|h| (h.sku, h.score)).collect();
            let m = score_ranking(&ranked, r.strong, &grades, q.min_grade.unwrap_or(1));
            for group in &groups {
                let e = sums.entry((name.clone(), group.clone())).or_default();
                e.1 += 1;
                match &m {
                    Some(m) => e.0.add(m),
                    None => e.2 += 1,
                }
            }
        }
    }
    let summary = |(m, n, without): &(Metrics, usize, usize)| {
        let scored = n - without;
        Summary {
            queries: *n,
            without_relevant: *without,
            metrics: if scored > 0 {
                m.scaled(1.0 / scored as f64)
            } else {
                Metrics::default()
            },
        }
    };
    let results = configs
        .iter()
        .filter_map(|(name, _, _)| {
            let overall = sums.get(&(name.clone(), String::new()))?;
            let groups = sums
                .iter()
                .filter(|((n, g), _)| n == name && !g.is_empty())
                .map(|((_, g), v)| (g.clone(), summary(v)))
                .collect();
            Some(ConfigResult {
                config: name.clone(),
                overall: summary(overall),
                groups,
            })
        })
        .collect();
    Ok(EvalReport {
        queries: queries.len(),
        models: searcher.describe(),
        signals_available: seen,
        unavailable: searcher
            .unavailable()
            .iter()
            .map(|u| u.reason.clone())
            .collect(),
        weights: *weights,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(items: &[(&str, f32)]) -> Vec<(String, f32)> {
        items.iter().map(|(s, f)| (s.to_string(), *f)).collect()
    }

    fn grades(items: &[(&str, u32)]) -> HashMap<String, u32> {
        items.iter().map(|(s, g)| (s.to_string(), *g)).collect()
    }

    #[test]
    fn metrics_of_a_known_ranking() {
        // Relevant: b (rank 2) and e (rank 5); d is relevant but never ranked.
        let r = ranking(&[("a", 0.9), ("b", 0.8), ("c", 0.7), ("x", 0.6), ("e", 0.5)]);
        let g = grades(&[("b", 1), ("e", 1), ("d", 1)]);
        let m = score_ranking(&r, 0, &g, 1).unwrap();
        assert_eq!(m.recall_1, 0.0);
        assert_eq!((m.cut_precision, m.cut_recall, m.cut_size), (0.0, 0.0, 0.0));
        // The cut after the first two: one of two relevant, one of the three relevant.
        let c = score_ranking(&r, 2, &g, 1).unwrap();
        assert_eq!(c.cut_precision, 0.5);
        assert!((c.cut_recall - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(c.cut_size, 2.0);
        assert!((m.recall_5 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.mrr_10 - 0.5).abs() < 1e-12);
        // AP = (1/2 + 2/5) / 3
        assert!((m.map - (0.5 + 0.4) / 3.0).abs() < 1e-12);
        // DCG = 1/log2(3) + 1/log2(6); IDCG = 1 + 1/log2(3) + 1/2
        let dcg = 1.0 / 3f64.log2() + 1.0 / 6f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!((m.ndcg_10 - dcg / idcg).abs() < 1e-12);
    }

    #[test]
    fn graded_relevance_weighs_ndcg_and_min_grade_sets_what_counts() {
        let r = ranking(&[("partial", 0.9), ("full", 0.8)]);
        let g = grades(&[("full", 2), ("partial", 1)]);
        let m = score_ranking(&r, 0, &g, 1).unwrap();
        // DCG = 1 + 3/log2(3); IDCG = 3 + 1/log2(3)
        let expect = (1.0 + 3.0 / 3f64.log2()) / (3.0 + 1.0 / 3f64.log2());
        assert!((m.ndcg_10 - expect).abs() < 1e-12);
        assert_eq!(m.recall_1, 0.5);
        let strict = score_ranking(&r, 0, &g, 2).unwrap();
        assert_eq!((strict.recall_1, strict.mrr_10), (0.0, 0.5));
    }

    #[test]
    fn ties_are_broken_pessimistically() {
        let r = ranking(&[("rel", 0.5), ("other", 0.5), ("third", 0.1)]);
        let g = grades(&[("rel", 1)]);
        let m = score_ranking(&r, 0, &g, 1).unwrap();
        assert_eq!(
            m.recall_1, 0.0,
            "a tie does not count in the ranker's favour"
        );
        assert_eq!(m.mrr_10, 0.5);
    }

    #[test]
    fn a_query_with_nothing_relevant_is_left_out() {
        let r = ranking(&[("a", 1.0)]);
        assert!(score_ranking(&r, 0, &HashMap::new(), 1).is_none());
        assert!(score_ranking(&r, 0, &grades(&[("a", 1)]), 2).is_none());
    }
}
