//! Fitting the fusion weights to a catalog's own labelled queries, with cross-validation, and
//! keeping them with the catalog.
//!
//! The queries are split into folds (query `i` in fold `i mod folds`). For each fold, weights
//! are fitted on the other folds and measured on it, so the reported gain is on queries the fit
//! never saw. The fit is coordinate ascent over a grid of weights per signal, from the current
//! weights, maximising mean nDCG@10. Weights are stored only when the held-out folds improve.

use serde::Serialize;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::eval::{EvalQuery, score_ranking};
use crate::query::Weights;
use crate::search::{Prepared, SIGNALS, Searcher, Signal};

/// The settings key of the catalog's tuned weights.
const KEY: &str = "weights";
/// The weights each signal may take during the fit.
const GRID: [f32; 7] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];
/// Rounds of coordinate ascent.
const ROUNDS: usize = 3;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    /// Held-out queries with relevant products.
    pub queries: usize,
    /// Mean nDCG@10 on the held-out queries with the weights before tuning.
    pub before: f64,
    /// The same with the weights fitted on the other folds.
    pub after: f64,
    pub weights: Weights,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    pub queries: usize,
    pub signals: Vec<Signal>,
    pub start: Weights,
    pub folds: Vec<Fold>,
    /// Mean held-out nDCG@10 over the folds, before and after.
    pub before: f64,
    pub after: f64,
    /// Fitted on every query; stored with the catalog when `improved`.
    pub weights: Weights,
    pub improved: bool,
}

/// The catalog's tuned weights, or the defaults.
pub fn weights(catalog: &Catalog) -> Result<Weights> {
    Ok(match catalog.store.setting(KEY)? {
        Some(json) => serde_json::from_str(&json).unwrap_or_default(),
        None => Weights::default(),
    })
}

/// Forgets the catalog's tuned weights: searches use the defaults again.
pub fn reset(catalog: &Catalog) -> Result<()> {
    catalog.store.delete_setting(KEY)
}

fn store(catalog: &Catalog, w: &Weights) -> Result<()> {
    let json = serde_json::to_string(w).map_err(|e| Error::InvalidInput(e.to_string()))?;
    catalog.store.set_setting(KEY, &json)
}

/// A prepared query with its grades.
struct Labelled {
    prep: Prepared,
    grades: std::collections::HashMap<String, u32>,
    min_grade: u32,
}

fn ndcg(searcher: &Searcher, q: &Labelled, w: &Weights) -> Option<f64> {
    let r = searcher.rank(&q.prep, w, 10, 0);
    let ranked: Vec<(String, f32)> = r.hits.into_iter().map(|h| (h.sku, h.score)).collect();
    score_ranking(&ranked, 0, &q.grades, q.min_grade).map(|m| m.ndcg_10)
}

fn mean_ndcg(searcher: &Searcher, qs: &[&Labelled], w: &Weights) -> f64 {
    let v: Vec<f64> = qs.iter().filter_map(|q| ndcg(searcher, q, w)).collect();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Coordinate ascent from `start` over [`GRID`] for the given signals; keeps a change only when
/// it raises the mean (so ties keep the starting weights).
fn fit(searcher: &Searcher, qs: &[&Labelled], signals: &[Signal], start: Weights) -> Weights {
    let mut best = start;
    let mut best_score = mean_ndcg(searcher, qs, &best);
    for _ in 0..ROUNDS {
        let mut changed = false;
        for &s in signals {
            for v in GRID {
                let mut w = best;
                s.set_weight(&mut w, v);
                if signals.iter().all(|&x| x.weight(&w) == 0.0) {
                    continue;
                }
                let score = mean_ndcg(searcher, qs, &w);
                if score > best_score + 1e-9 {
                    (best, best_score, changed) = (w, score, true);
                }
            }
        }
        if !changed {
            break;
        }
    }
    best
}

/// Fits the weights with `folds`-fold cross-validation; stores them with the catalog when the
/// held-out folds improve (unless `dry_run`).
pub fn tune(
    catalog: &Catalog,
    searcher: &Searcher,
    queries: &[EvalQuery],
    folds: usize,
    dry_run: bool,
) -> Result<TuneReport> {
    if folds < 2 {
        return Err(Error::InvalidInput("give 2 or more folds".into()));
    }
    let mut labelled = Vec::new();
    for q in queries {
        let l = Labelled {
            prep: searcher.prepare(&q.query())?,
            grades: q.grades(),
            min_grade: q.min_grade.unwrap_or(1),
        };
        if l.grades.values().any(|&g| g >= l.min_grade) {
            labelled.push(l);
        }
    }
    if labelled.len() < 2 * folds {
        return Err(Error::InvalidInput(format!(
            "tuning needs at least {} queries with a relevant product ({} given)",
            2 * folds,
            labelled.len()
        )));
    }
    let signals: Vec<Signal> = SIGNALS
        .into_iter()
        .filter(|s| labelled.iter().any(|l| l.prep.signals().contains(s)))
        .collect();
    let start = weights(catalog)?;
    let mut report_folds = Vec::new();
    for f in 0..folds {
        let part = |held_out: bool| -> Vec<&Labelled> {
            labelled
                .iter()
                .enumerate()
                .filter(|(i, _)| (i % folds == f) == held_out)
                .map(|(_, l)| l)
                .collect()
        };
        let (train, test) = (part(false), part(true));
        let w = fit(searcher, &train, &signals, start);
        report_folds.push(Fold {
            queries: test.len(),
            before: mean_ndcg(searcher, &test, &start),
            after: mean_ndcg(searcher, &test, &w),
            weights: w,
        });
    }
    let mean = |f: &dyn Fn(&Fold) -> f64| {
        report_folds.iter().map(f).sum::<f64>() / report_folds.len() as f64
    };
    let (before, after) = (mean(&|f| f.before), mean(&|f| f.after));
    let all: Vec<&Labelled> = labelled.iter().collect();
    let weights = fit(searcher, &all, &signals, start);
    let improved = after > before + 1e-9;
    if improved && !dry_run {
        store(catalog, &weights)?;
    }
    Ok(TuneReport {
        queries: labelled.len(),
        signals,
        start,
        folds: report_folds,
        before,
        after,
        weights,
        improved,
    })
}
