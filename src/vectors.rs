//! A model's stored vectors, ready to score products: every vector with the product it belongs
//! to, served by an exact scan or the saved HNSW index; and building that index when a catalog
//! grows past the exact-scan size. Search and duplicates both read vectors through this.
//!
//! Description passages get no graph: only typed text is ever compared with them, and typed
//! text is scanned exactly (see `Searcher::candidates`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::domain::{OwnerKind, Product};
use crate::error::Result;
use crate::index::{
    EF_CONSTRUCTION, EF_SEARCH, EXACT_BELOW, Hnsw, IndexAbout, Neighbours, VectorSet, dot,
};
use crate::model_choice::Encoders;
use crate::store::{Store, passage_owner};

/// One model's vectors of one owner kind, with the product (by index into the product list they
/// were loaded for) each row belongs to.
pub struct ModelVectors {
    pub model: String,
    pub nn: Neighbours,
    /// Product index of each row of `nn.all`.
    pub owner: Vec<usize>,
    /// Rows of `nn.all` per product index.
    pub rows_of: Vec<Vec<usize>>,
}

impl ModelVectors {
    /// Loads `model`'s vectors of `kind` for `products` (vectors of other items are left out),
    /// with the saved index when there is one. `None` when there are no such vectors. `scans`:
    /// whether [`ModelVectors::nearest_products_scanned`] will be asked (see
    /// [`Neighbours::for_scans`]).
    pub(crate) fn load(
        store: &Store,
        index_path: PathBuf,
        kind: OwnerKind,
        model: &str,
        products: &[Product],
        scans: bool,
    ) -> Result<Option<ModelVectors>> {
        let owner_of: HashMap<i64, usize> = match kind {
            OwnerKind::Image => products
                .iter()
                .enumerate()
                .flat_map(|(pi, p)| p.images.iter().map(move |im| (im.id, pi)))
                .collect(),
            OwnerKind::Product | OwnerKind::Passage => products
                .iter()
                .enumerate()
                .map(|(pi, p)| (p.id, pi))
                .collect(),
        };
        let mut set = VectorSet::new(0);
        let mut owner = Vec::new();
        store.for_each_vector(kind, model, |id, v| {
            let owner_id = match kind {
                OwnerKind::Passage => passage_owner(id),
                _ => id,
            };
            if let Some(&pi) = owner_of.get(&owner_id) {
                set.push(id, v)?;
                owner.push(pi);
            }
            Ok(())
        })?;
        if set.is_empty() {
            return Ok(None);
        }
        let mut rows_of = vec![Vec::new(); products.len()];
        for (row, &pi) in owner.iter().enumerate() {
            rows_of[pi].push(row);
        }
        let hnsw = if has_graph(kind) {
            load_index(&index_path, model, kind, set.dim)
        } else {
            None
        };
        let nn = Neighbours::new(set, hnsw);
        Ok(Some(ModelVectors {
            model: model.to_string(),
            nn: if scans { nn.for_scans() } else { nn },
            owner,
            rows_of,
        }))
    }

    /// No vectors yet (a model whose embeddings have not been computed).
    pub(crate) fn empty(model: &str, products: usize) -> ModelVectors {
        ModelVectors {
            model: model.to_string(),
            nn: Neighbours::new(VectorSet::new(0), None),
            owner: Vec::new(),
            rows_of: vec![Vec::new(); products],
        }
    }

    /// The rows of product `pi`.
    pub fn rows(&self, pi: usize) -> &[usize] {
        &self.rows_of[pi]
    }

    pub fn row(&self, row: usize) -> &[f32] {
        self.nn.all.row(row)
    }

    /// Best of the product's rows by cosine with any of `qs`, less the row's offset (`offsets`
    /// by row; none where it is empty), and that row.
    pub fn best(&self, pi: usize, qs: &[Vec<f32>], offsets: &[f32]) -> Option<(f32, usize)> {
        let mut best: Option<(f32, usize)> = None;
        for &row in &self.rows_of[pi] {
            let offset = offsets.get(row).copied().unwrap_or(0.0);
            for q in qs {
                let c = dot(self.row(row), q) - offset;
                if best.is_none_or(|(b, _)| c > b) {
                    best = Some((c, row));
                }
            }
        }
        best
    }

    /// Highest cosine between any row of product `a` and any row of product `b`.
    pub fn best_pair(&self, a: usize, b: usize) -> Option<f32> {
        self.rows_of[a]
            .iter()
            .flat_map(|&ra| self.rows_of[b].iter().map(move |&rb| (ra, rb)))
            .map(|(ra, rb)| dot(self.row(ra), self.row(rb)))
            .reduce(f32::max)
    }

    /// Products owning the `k` nearest vectors to `q` (a product may come more than once).
    pub fn nearest_products(&self, q: &[f32], k: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.owners(self.nn.nearest(q, k))
    }

    /// [`ModelVectors::nearest_products`] by an exact scan: for queries unlike the vectors
    /// (text against photos, a short query against long product texts).
    pub fn nearest_products_scanned(
        &self,
        q: &[f32],
        k: usize,
    ) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.owners(self.nn.nearest_scanned(q, k))
    }

    fn owners(&self, found: Vec<(i64, f32)>) -> impl Iterator<Item = (usize, f32)> + '_ {
        found
            .into_iter()
            .filter_map(|(id, cos)| self.nn.row_of(id).map(|r| (self.owner[r], cos)))
    }
}

/// Whether vectors of `kind` are searched through a graph once there are enough of them.
fn has_graph(kind: OwnerKind) -> bool {
    kind != OwnerKind::Passage
}

/// Builds (or rebuilds) the nearest-neighbour index of each of the encoders' models' vectors
/// that has [`EXACT_BELOW`] vectors or more, when it is missing or when more than a tenth of
/// the vectors came after its build (`force`: always). Returns what was built. An index that
/// is not needed (too few vectors, or passages, whose graph earlier versions built) is removed.
pub fn build_indexes(catalog: &Catalog, enc: &Encoders, force: bool) -> Result<Vec<String>> {
    let mut built = Vec::new();
    let sides = [
        enc.clip
            .as_ref()
            .map(|(m, _)| (m.id.clone(), OwnerKind::Image)),
        enc.text
            .as_ref()
            .map(|(m, _)| (m.id.clone(), OwnerKind::Product)),
        enc.text
            .as_ref()
            .map(|(m, _)| (m.id.clone(), OwnerKind::Passage)),
    ];
    for (model, kind) in sides.into_iter().flatten() {
        let count = catalog.store.vector_count(kind, &model)?;
        let path = catalog.index_path(&model, kind);
        if count < EXACT_BELOW || !has_graph(kind) {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if !force
            && let Some(dim) = catalog.store.vector_dim(kind, &model)?
            && let Some(old) = load_index(&path, &model, kind, dim)
            && old.len() * 10 >= count * 9
        {
            continue;
        }
        index_for(catalog, &model, kind)?;
        built.push(format!("{model} ({kind}, {count} vectors)"));
    }
    Ok(built)
}

/// Builds and saves the nearest-neighbour index of one model's vectors if they are searched
/// through one and are enough to need it; returns whether it did.
pub fn index_for(catalog: &Catalog, model: &str, kind: OwnerKind) -> Result<bool> {
    if !has_graph(kind) || catalog.store.vector_count(kind, model)? < EXACT_BELOW {
        return Ok(false);
    }
    let mut set = VectorSet::new(0);
    catalog
        .store
        .for_each_vector(kind, model, |id, v| set.push(id, v))?;
    let about = IndexAbout {
        model: model.to_string(),
        kind,
        dim: set.dim,
        count: set.len(),
    };
    Hnsw::build(&set, EF_CONSTRUCTION, EF_SEARCH)
        .with_about(about)
        .save(&catalog.index_path(model, kind))?;
    Ok(true)
}

/// The saved index of these vectors, if there is one that holds them. A damaged index, or one
/// of another model, kind or size, is not used: a warning says so, the vectors are scanned
/// exactly, and the next import, `embed` or `index` rebuilds it.
fn load_index(path: &Path, model: &str, kind: OwnerKind, dim: usize) -> Option<Hnsw> {
    if !path.exists() {
        return None;
    }
    Hnsw::load_for(path, model, kind, dim)
        .map_err(|e| tracing::warn!("{e}"))
        .ok()
}
