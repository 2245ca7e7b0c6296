//! Quality: results marked right or wrong, measuring search on them (or on a query file), and
//! tuning the fusion weights to them.

use std::path::PathBuf;

use serde::Serialize;
use tauri::{AppHandle, Manager};
use vitrine::eval::{EvalQuery, Metrics};
use vitrine::judgements::{self, Counts, Judgement};
use vitrine::query::Weights;
use vitrine::tune::TuneReport;

use super::blocking;
use crate::error::CmdResult;
use crate::state::AppState;

/// Marks `sku` right (`true`) or wrong (`false`) for the typed `query`, or forgets the mark.
#[tauri::command]
pub async fn judge(
    app: AppHandle,
    query: String,
    sku: String,
    right: Option<bool>,
) -> CmdResult<()> {
    blocking(move || {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        Ok(judgements::judge(ws.catalog(), &query, &sku, right)?)
    })
    .await
}

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JudgementsView {
    counts: Counts,
    /// The marks of the query asked for, or all of them.
    marks: Vec<Judgement>,
}

/// The marks of one typed query, or every mark, with the catalog's counts.
#[tauri::command]
pub async fn judgements(app: AppHandle, query: Option<String>) -> CmdResult<JudgementsView> {
    blocking(move || {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        let all = judgements::list(ws.catalog(), None)?;
        let counts = judgements::counts(&all);
        let marks = match query {
            Some(q) => {
                let q = judgements::normalise(&q);
                all.into_iter().filter(|j| j.query == q).collect()
            }
            None => all,
        };
        Ok(JudgementsView { counts, marks })
    })
    .await
}

/// One run of an evaluation: the fused ranking, another fusion, or one signal alone.
#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct QualityRow {
    /// `fused`, `fused: min-max`, `fused: rrf`, or `<signal> only`.
    config: String,
    /// Queries with a relevant product (the others are not scored).
    scored: usize,
    metrics: Metrics,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct QualityView {
    queries: usize,
    rows: Vec<QualityRow>,
    /// The weights of the fused runs.
    weights: Weights,
}

/// The queries of `file` (a query set, as `vitrine eval` reads), or the judged queries.
fn query_set(app: &AppHandle, file: Option<PathBuf>) -> anyhow::Result<Vec<EvalQuery>> {
    if let Some(f) = file {
        return Ok(vitrine::eval::read_queries(&f)?);
    }
    let state = app.state::<AppState>();
    let ws = state.workspace();
    let marks = judgements::list(ws.catalog(), None)?;
    if judgements::counts(&marks).usable == 0 {
        anyhow::bail!(
            "no search has a result marked right yet: search, then mark the results that are right with ✓"
        );
    }
    Ok(judgements::as_queries(&marks))
}

/// Measures search on the judged queries (or on a query file) with the catalog's weights.
#[tauri::command]
pub async fn evaluate(app: AppHandle, file: Option<PathBuf>) -> CmdResult<QualityView> {
    blocking(move || {
        let queries = query_set(&app, file)?;
        let state = app.state::<AppState>();
        let searcher = state.searcher()?;
        let weights = vitrine::tune::weights(state.workspace().catalog())?;
        let report = vitrine::eval::evaluate(&searcher, &queries, &weights)?;
        Ok(QualityView {
            queries: report.queries,
            rows: report
                .results
                .into_iter()
                .map(|r| QualityRow {
                    config: r.config,
                    scored: r.overall.queries - r.overall.without_relevant,
                    metrics: r.overall.metrics,
                })
                .collect(),
            weights,
        })
    })
    .await
}

/// Fits the fusion weights to the judged queries (or a query file), cross-validated; keeps
/// them with the catalog when the held-out queries improve.
#[tauri::command]
pub async fn tune(app: AppHandle, file: Option<PathBuf>) -> CmdResult<TuneReport> {
    blocking(move || {
        let queries = query_set(&app, file)?;
        let state = app.state::<AppState>();
        let searcher = state.searcher()?;
        let ws = state.workspace();
        // Few judged queries: as many folds as allow two queries each, between 2 and 5.
        let usable = queries.iter().filter(|q| !q.relevant.is_empty()).count();
        let folds = (usable / 2).clamp(2, 5);
        Ok(vitrine::tune::tune(
            ws.catalog(),
            &searcher,
            &queries,
            folds,
            false,
        )?)
    })
    .await
}

/// Forgets the tuned weights: searches start from the defaults again.
#[tauri::command]
pub async fn reset_weights(app: AppHandle) -> CmdResult<()> {
    blocking(move || {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        Ok(vitrine::tune::reset(ws.catalog())?)
    })
    .await
}
