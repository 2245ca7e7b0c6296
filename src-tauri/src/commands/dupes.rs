//! Duplicate listings: the scan, decisions, and the merge map.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;
use tauri::{AppHandle, Manager};
use vitrine::duplicates::{self, Decision, DupesReport, Thresholds};

use super::blocking;
use crate::error::CmdResult;
use crate::state::AppState;

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Member {
    /// The product's place in the catalog's import order: lower was listed first.
    listed: i64,
    title: String,
    category: String,
    color: String,
    price: Option<f64>,
    thumbnails: Vec<PathBuf>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DupesView {
    report: DupesReport,
    /// Each group's products, by SKU.
    members: HashMap<String, Member>,
    /// A sentence per pair of each group, in `report.groups[i].pairs` order.
    explanations: Vec<Vec<String>>,
}

/// Scans for duplicate groups with these thresholds (the defaults when absent).
#[tauri::command]
pub async fn duplicates(app: AppHandle, thresholds: Option<Thresholds>) -> CmdResult<DupesView> {
    blocking(move || {
        let state = app.state::<AppState>();
        let models = state.models()?;
        let ws = state.workspace();
        let c = ws.catalog();
        let report = duplicates::find_active(c, &models, &thresholds.unwrap_or_default())?;
        let mut members = HashMap::new();
        for sku in report
            .groups
            .iter()
            .chain(&report.variants)
            .flat_map(|g| g.skus.iter())
        {
            if members.contains_key(sku) {
                continue;
            }
            let p = c.product(sku)?;
            members.insert(
                sku.clone(),
                Member {
                    listed: p.id,
                    thumbnails: p
                        .images
                        .iter()
                        .map(|im| c.thumbnail_path(&im.hash))
                        .collect(),
                    title: p.title,
                    category: p.category,
                    color: p.color,
                    price: p.price,
                },
            );
        }
        let explanations = report
            .groups
            .iter()
            .map(|g| {
                g.pairs
                    .iter()
                    .map(|p| duplicates::describe(&p.evidence))
                    .collect()
            })
            .collect();
        Ok(DupesView {
            report,
            members,
            explanations,
        })
    })
    .await
}

/// Records a decision over a group: `duplicate` (keeping `keep`), `not_duplicate` or `variants`.
#[tauri::command]
pub async fn decide(
    app: AppHandle,
    decision: Decision,
    skus: Vec<String>,
    keep: Option<String>,
) -> CmdResult<usize> {
    blocking(move || {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        Ok(duplicates::decide(
            ws.catalog(),
            decision,
            &skus,
            keep.as_deref(),
        )?)
    })
    .await
}

/// Forgets the decisions among `skus` (undo).
#[tauri::command]
pub async fn undecide(app: AppHandle, skus: Vec<String>) -> CmdResult<usize> {
    blocking(move || {
        let state = app.state::<AppState>();
        let ws = state.workspace();
        Ok(duplicates::undecide(ws.catalog(), &skus)?)
    })
    .await
}

/// Writes the merge map (CSV) of the decided duplicates to `path`.
#[tauri::command]
pub async fn export_merge_map(
    app: AppHandle,
    path: PathBuf,
    thresholds: Option<Thresholds>,
) -> CmdResult<usize> {
    blocking(move || {
        let state = app.state::<AppState>();
        let models = state.models()?;
        let ws = state.workspace();
        let report =
            duplicates::find_active(ws.catalog(), &models, &thresholds.unwrap_or_default())?;
        let f = std::fs::File::create(&path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        duplicates::write_merge_map(&report, f)?;
        Ok(report
            .groups
            .iter()
            .flat_map(|g| &g.pairs)
            .filter(|p| p.decision == Some(Decision::Duplicate))
            .count())
    })
    .await
}
