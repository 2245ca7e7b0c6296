//! Searching: query photos, a search, and fusing it again with other weights.

use serde::{Deserialize, Serialize};
use tauri::ipc::{InvokeBody, Request};
use tauri::{AppHandle, Manager};
use vitrine::query::{Filters, PhotoInput, Query, Sort, Weights};
use vitrine::search::SearchResults;

use super::blocking;
use crate::error::{CmdError, CmdResult};
use crate::state::{AppState, QueryPhoto};

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PhotoChip {
    id: u64,
    width: u32,
    height: u32,
}

/// A query photo, sent as raw bytes. It is decoded once here so a bad file is refused
/// before it becomes a chip.
#[tauri::command]
pub async fn add_query_photo(app: AppHandle, request: Request<'_>) -> CmdResult<PhotoChip> {
    let bytes = match request.body() {
        InvokeBody::Raw(b) => b.clone(),
        InvokeBody::Json(_) => return Err(CmdError::app("send the photo's bytes, not JSON")),
    };
    blocking(move || {
        let img = vitrine::photo::decode(&bytes, vitrine::photo::DEFAULT_MAX_PIXELS)
            .map_err(|e| anyhow::anyhow!("this photo cannot be used: {e}"))?;
        let state = app.state::<AppState>();
        let id = state.next_id();
        state
            .photos
            .lock()
            .map_err(|_| anyhow::anyhow!("photo store poisoned"))?
            .put(id, QueryPhoto { bytes });
        Ok(PhotoChip {
            id,
            width: img.width(),
            height: img.height(),
        })
    })
    .await
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SearchRequest {
    #[serde(default)]
    text: String,
    #[serde(default)]
    not: Vec<String>,
    photo: Option<u64>,
    like: Option<String>,
    #[serde(default)]
    filters: Filters,
    /// Results marked "more like these" / "less like these" (SKUs).
    #[serde(default)]
    more: Vec<String>,
    #[serde(default)]
    less: Vec<String>,
    #[serde(default)]
    sort: Sort,
    weights: Weights,
    k: usize,
    #[serde(default)]
    offset: usize,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SearchPage {
    /// Hand back to `rerank` to fuse again with other weights.
    query_id: u64,
    results: SearchResults,
    millis: f64,
}

/// Encodes and scores a query, then fuses with the given weights.
#[tauri::command]
pub async fn search(app: AppHandle, req: SearchRequest) -> CmdResult<SearchPage> {
    blocking(move || {
        let started = std::time::Instant::now();
        let state = app.state::<AppState>();
        let photo = match req.photo {
            Some(id) => Some(
                state
                    .photos
                    .lock()
                    .map_err(|_| anyhow::anyhow!("photo store poisoned"))?
                    .get(id)
                    .ok_or_else(|| anyhow::anyhow!("the query photo is gone; add it again"))?,
            ),
            None => None,
        };
        let q = Query {
            text: req.text,
            photo: photo.map(|p| PhotoInput::Bytes(p.bytes.clone())),
            not: req.not,
            like: req.like,
            filters: req.filters,
            more: req.more,
            less: req.less,
            sort: req.sort,
        };
        if q.text.trim().is_empty() && q.photo.is_none() && q.like.is_none() {
            anyhow::bail!("type something to search for, or add a photo");
        }
        let searcher = state.searcher()?;
        let prep = searcher.prepare(&q)?;
        let results = searcher.rank(&prep, &req.weights, req.k.clamp(1, 500), req.offset);
        let query_id = state.next_id();
        state
            .prepared
            .lock()
            .map_err(|_| anyhow::anyhow!("query cache poisoned"))?
            .put(query_id, prep);
        Ok(SearchPage {
            query_id,
            results,
            millis: started.elapsed().as_secs_f64() * 1e3,
        })
    })
    .await
}

/// Fuses a prepared query again with other weights or another page; nothing is encoded.
#[tauri::command]
pub async fn rerank(
    app: AppHandle,
    query_id: u64,
    weights: Weights,
    k: usize,
    offset: usize,
) -> CmdResult<SearchPage> {
    blocking(move || {
        let started = std::time::Instant::now();
        let state = app.state::<AppState>();
        let prep = state
            .prepared
            .lock()
            .map_err(|_| anyhow::anyhow!("query cache poisoned"))?
            .get(query_id)
            .ok_or_else(|| anyhow::anyhow!("that query has expired; search again"))?;
        let searcher = state
            .loaded_searcher()
            .ok_or_else(|| anyhow::anyhow!("the catalog changed; search again"))?;
        let results = searcher.rank(&prep, &weights, k.clamp(1, 500), offset);
        Ok(SearchPage {
            query_id,
            results,
            millis: started.elapsed().as_secs_f64() * 1e3,
        })
    })
    .await
}
