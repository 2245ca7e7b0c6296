//! Nearest neighbours over embeddings: an exact scan for small sets, and an HNSW index
//! (instant-distance) for large ones, saved beside the catalog, with the vectors added since
//! its build scanned exactly and merged in.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Below this many vectors a scan is exact and fast enough (a few milliseconds).
pub const EXACT_BELOW: usize = 20_000;
/// HNSW build and search breadth; `vitrine bench search` measures their recall.
pub const EF_CONSTRUCTION: usize = 100;
pub const EF_SEARCH: usize = 100;

/// Dot product; vectors are L2-normalised, so this is the cosine similarity.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums let the compiler use SIMD lanes.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Vectors in one flat matrix, with the owner id of each row.
#[derive(Debug, Clone, Default)]
pub struct VectorSet {
    pub dim: usize,
    pub ids: Vec<i64>,
    data: Vec<f32>,
}

impl VectorSet {
    pub fn new(dim: usize) -> Self {
        VectorSet {
            dim,
            ids: Vec::new(),
            data: Vec::new(),
        }
    }

    pub fn push(&mut self, id: i64, v: &[f32]) -> Result<()> {
        if self.dim == 0 {
            self.dim = v.len();
        }
        if v.len() != self.dim {
            return Err(Error::Model(format!(
                "vector of {} dimensions where {} were expected",
                v.len(),
                self.dim
            )));
        }
        self.ids.push(id);
        self.data.extend_from_slice(v);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Cosine of `q` with every row.
    pub fn scan(&self, q: &[f32]) -> Vec<f32> {
        (0..self.len()).map(|i| dot(self.row(i), q)).collect()
    }

    /// The `k` rows most similar to `q`: (id, cosine), best first.
    pub fn top_k(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        let mut all: Vec<(i64, f32)> = self.ids.iter().copied().zip(self.scan(q)).collect();
        let k = k.min(all.len());
        if k == 0 {
            return Vec::new();
        }
        all.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        all.truncate(k);
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Point(pub Vec<f32>);

impl instant_distance::Point for Point {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot(&self.0, &other.0)
    }
}

/// An HNSW graph over some vectors, keyed by owner id.
#[derive(Serialize, Deserialize)]
pub struct Hnsw {
    map: instant_distance::HnswMap<Point, i64>,
    ids: Vec<i64>,
}

impl Hnsw {
    /// Builds the graph. `ef_search` bounds how many neighbours one search returns.
    pub fn build(set: &VectorSet, ef_construction: usize, ef_search: usize) -> Hnsw {
        let points: Vec<Point> = (0..set.len()).map(|i| Point(set.row(i).to_vec())).collect();
        let map = instant_distance::Builder::default()
            .ef_construction(ef_construction)
            .ef_search(ef_search)
            .seed(0x5eed)
            .build(points, set.ids.clone());
        Hnsw {
            map,
            ids: set.ids.clone(),
        }
    }

    pub fn search(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        let mut s = instant_distance::Search::default();
        let p = Point(q.to_vec());
        self.map
            .search(&p, &mut s)
            .take(k)
            .map(|item| (*item.value, 1.0 - item.distance))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        bincode::serialize_into(std::io::BufWriter::new(file), self)
            .map_err(|e| Error::InvalidInput(format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    pub fn load(path: &Path) -> Result<Hnsw> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        bincode::deserialize_from(std::io::BufReader::new(file)).map_err(|e| {
            Error::InvalidInput(format!(
                "{}: unreadable index ({e}); it will be rebuilt",
                path.display()
            ))
        })
    }
}

/// Nearest-neighbour search over a set of vectors: HNSW for what it covers, an exact scan for
/// the rest, merged.
pub struct Neighbours {
    pub all: VectorSet,
    hnsw: Option<Hnsw>,
    /// Rows of `all` that the graph does not cover (added since its build).
    tail: Vec<usize>,
    live: HashSet<i64>,
}

impl Neighbours {
    pub fn new(all: VectorSet, hnsw: Option<Hnsw>) -> Neighbours {
        let live: HashSet<i64> = all.ids.iter().copied().collect();
        let (hnsw, tail) = match hnsw {
            Some(h) => {
                let covered: HashSet<i64> = h.ids.iter().copied().collect();
                let tail = (0..all.len())
                    .filter(|&i| !covered.contains(&all.ids[i]))
                    .collect();
                (Some(h), tail)
            }
            None => (None, Vec::new()),
        };
        Neighbours {
            all,
            hnsw,
            tail,
            live,
        }
    }

    pub fn uses_index(&self) -> bool {
        self.hnsw.is_some()
    }

    /// How many vectors the graph does not cover.
    pub fn unindexed(&self) -> usize {
        if self.hnsw.is_some() {
            self.tail.len()
        } else {
            self.all.len()
        }
    }

    /// The `k` nearest: (id, cosine), best first.
    pub fn nearest(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        let Some(h) = &self.hnsw else {
            return self.all.top_k(q, k);
        };
        let mut out: Vec<(i64, f32)> = h
            .search(q, k)
            .into_iter()
            .filter(|(id, _)| self.live.contains(id))
            .collect();
        out.extend(
            self.tail
                .iter()
                .map(|&i| (self.all.ids[i], dot(self.all.row(i), q))),
        );
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.truncate(k);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = dot(&v, &v).sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn exact_and_hnsw_agree_on_a_small_set_and_the_tail_is_merged() {
        let mut set = VectorSet::new(0);
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5
        };
        for i in 0..300 {
            let v: Vec<f32> = (0..16).map(|_| rnd()).collect();
            set.push(i, &unit(v)).unwrap();
        }
        let q = set.row(42).to_vec();
        assert_eq!(set.top_k(&q, 1)[0].0, 42);
        let h = Hnsw::build(&set, 100, 50);
        let mut bigger = set.clone();
        let new = unit((0..16).map(|j| if j == 3 { 1.0 } else { 0.01 }).collect());
        bigger.push(1000, &new).unwrap();
        let n = Neighbours::new(bigger, Some(h));
        assert_eq!(n.unindexed(), 1);
        assert_eq!(n.nearest(&q, 1)[0].0, 42);
        assert_eq!(
            n.nearest(&new, 1)[0].0,
            1000,
            "an item added after the build is found"
        );
    }
}
