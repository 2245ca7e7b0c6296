//! Nearest neighbours over embeddings: an exact scan for small sets, and an HNSW graph
//! ([`Hnsw`]) for large ones, saved beside the catalog, with the vectors added since its build
//! scanned exactly and merged in.

mod hnsw;
mod kernels;
mod quantized;

use std::cmp::Ordering;
use std::collections::HashMap;

use rayon::prelude::*;

pub use hnsw::{Hnsw, IndexAbout};
pub use kernels::{dot, dot_portable};
pub use quantized::{Int8Query, Int8Rows};

use crate::error::{Error, Result};

/// Below this many vectors a scan is exact and fast enough (a few milliseconds).
pub const EXACT_BELOW: usize = 20_000;
/// HNSW build and search breadth; `vitrine bench search` measures their recall. A search
/// returns at most `EF_SEARCH` neighbours, so this also bounds each signal's candidates.
pub const EF_CONSTRUCTION: usize = 100;
pub const EF_SEARCH: usize = 256;

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

    /// The `k` rows most similar to `q`: (id, cosine), best first (equal cosines by id).
    pub fn top_k(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        best_of(
            self.len(),
            k,
            |i| Some((self.ids[i], dot(self.row(i), q))),
            better,
        )
    }
}

/// Best first: higher cosine, then lower id.
fn better(a: &(i64, f32), b: &(i64, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Keeps the `k` first of `v` by `order`, in no order.
fn keep_first<T>(v: &mut Vec<T>, k: usize, order: impl Fn(&T, &T) -> Ordering) {
    if k == 0 {
        v.clear();
    } else if v.len() > k {
        v.select_nth_unstable_by(k - 1, order);
        v.truncate(k);
    }
}

/// The `k` first by `order` of the items `item(0..n)` gives (skipping `None`), sorted. Large
/// ranges go in blocks spread over all cores, each keeping its own first `k`; the result has
/// its own size, not a block's (callers keep many of these, and an in-place `collect` of one
/// would keep that capacity too).
fn best_of<T: Send>(
    n: usize,
    k: usize,
    item: impl Fn(usize) -> Option<T> + Sync,
    order: impl Fn(&T, &T) -> Ordering + Sync,
) -> Vec<T> {
    const BLOCK: usize = 8192;
    let block = |b: usize| {
        let mut v: Vec<T> = (b * BLOCK..((b + 1) * BLOCK).min(n))
            .filter_map(&item)
            .collect();
        keep_first(&mut v, k, &order);
        v
    };
    let mut all: Vec<T> = if n <= BLOCK {
        block(0)
    } else {
        (0..n.div_ceil(BLOCK))
            .into_par_iter()
            .flat_map_iter(block)
            .collect()
    };
    keep_first(&mut all, k, &order);
    all.sort_unstable_by(&order);
    all.shrink_to_fit();
    all
}

/// Nearest-neighbour search over a set of vectors: HNSW for what it covers, an exact scan for
/// the rest, merged.
pub struct Neighbours {
    pub all: VectorSet,
    hnsw: Option<Hnsw>,
    /// Row in `all` of each graph node, or `NO_ROW` where its id was deleted or its vector
    /// changed since the build.
    node_rows: Vec<u32>,
    /// Rows of `all` that no graph node holds (added or changed since its build).
    tail: Vec<usize>,
    /// Row in `all` of each live id.
    row_of: HashMap<i64, usize>,
    /// `all` in 8 bits, for exact scans of sets too large to scan in `f32` in a few
    /// milliseconds ([`Neighbours::for_scans`]).
    int8: Option<Int8Rows>,
}

const NO_ROW: u32 = u32::MAX;

impl Neighbours {
    pub fn new(all: VectorSet, hnsw: Option<Hnsw>) -> Neighbours {
        let row_of: HashMap<i64, usize> =
            all.ids.iter().enumerate().map(|(r, id)| (*id, r)).collect();
        let hnsw = hnsw.filter(|h| h.len() < NO_ROW as usize && all.len() < NO_ROW as usize);
        let node_rows: Vec<u32> = match &hnsw {
            Some(h) => h
                .ids()
                .par_iter()
                .enumerate()
                .map_init(Vec::new, |buf, (node, id)| match row_of.get(id) {
                    Some(&r) if h.holds(node, all.row(r), buf) => r as u32,
                    _ => NO_ROW,
                })
                .collect(),
            None => Vec::new(),
        };
        let tail = if hnsw.is_some() {
            let mut held = vec![false; all.len()];
            for &r in node_rows.iter().filter(|&&r| r != NO_ROW) {
                held[r as usize] = true;
            }
            (0..all.len()).filter(|&r| !held[r]).collect()
        } else {
            Vec::new()
        };
        Neighbours {
            all,
            hnsw,
            node_rows,
            tail,
            row_of,
            int8: None,
        }
    }

    /// Makes the 8-bit copy that [`Neighbours::nearest_scanned`] reads when the set is large
    /// enough for it (without it, those scans read the `f32` rows).
    pub fn for_scans(mut self) -> Neighbours {
        if self.all.len() >= EXACT_BELOW {
            self.int8 = Some(Int8Rows::of(&self.all));
        }
        self
    }

    /// Row in `all` of a live id.
    pub fn row_of(&self, id: i64) -> Option<usize> {
        self.row_of.get(&id).copied()
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

    /// The `k` nearest by an exact scan of every vector, for queries from another modality
    /// (text against photos): they sit far from every vector, where a graph built over the
    /// vectors finds few of the true neighbours (`vitrine bench search`, `crossmodal`).
    ///
    /// A large set is scanned in its 8-bit copy (a quarter of the memory to read, and the
    /// query in 8 bits too: products summed exactly, 64 per instruction with VNNI), and every
    /// row that could be among the `k` nearest is scored again in `f32`: each approximate
    /// cosine comes with a bound on its error, so the true `k`-th best is at least the `k`-th
    /// best of the lower bounds, and a row whose upper bound falls below that cannot be among
    /// the `k`. Same answer as [`VectorSet::top_k`].
    pub fn nearest_scanned(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        let Some(codes) = &self.int8 else {
            return self.all.top_k(q, k);
        };
        if k == 0 || q.len() != self.all.dim {
            return self.all.top_k(q, k);
        }
        let coded = codes.query(q);
        let approx: Vec<(f32, f32)> = (0..codes.len())
            .into_par_iter()
            .with_min_len(4096)
            .map(|r| codes.dot(&coded, r))
            .collect();
        // The k-th best lower bound (minus infinity with fewer than k rows).
        let lowest = best_of(
            approx.len(),
            k,
            |r| Some(approx[r].0 - approx[r].1),
            |a: &f32, b: &f32| b.total_cmp(a),
        );
        let floor = lowest.get(k - 1).copied().unwrap_or(f32::NEG_INFINITY);
        let mut out: Vec<(i64, f32)> = approx
            .iter()
            .enumerate()
            .filter(|(_, (a, err))| a + err >= floor)
            .map(|(r, _)| (self.all.ids[r], dot(self.all.row(r), q)))
            .collect();
        keep_first(&mut out, k, better);
        out.sort_unstable_by(better);
        out
    }

    /// The `k` nearest: (id, exact cosine), best first.
    pub fn nearest(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        let Some(h) = &self.hnsw else {
            return self.all.top_k(q, k);
        };
        // The graph's own scores are half precision; nodes deleted or changed since its build
        // drop out (a changed vector is in the tail).
        let found = h
            .search_nodes(q, k)
            .into_iter()
            .map(|(node, _)| self.node_rows[node])
            .filter(|&r| r != NO_ROW)
            .map(|r| r as usize);
        let mut out: Vec<(i64, f32)> = found
            .chain(self.tail.iter().copied())
            .map(|i| (self.all.ids[i], dot(self.all.row(i), q)))
            .collect();
        out.sort_unstable_by(better);
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

    /// `n` unit vectors in `dim` dimensions around a few centres.
    fn clustered(n: usize, dim: usize, seed: u64) -> VectorSet {
        let mut s = seed | 1;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..8).map(|_| (0..dim).map(|_| rnd()).collect()).collect();
        let mut set = VectorSet::new(dim);
        for i in 0..n {
            let c = &centres[i % 8];
            set.push(i as i64, &unit(c.iter().map(|x| x + 0.2 * rnd()).collect()))
                .unwrap();
        }
        set
    }

    #[test]
    fn the_eight_bit_scan_gives_exactly_what_the_exact_scan_gives() {
        // Large enough for the 8-bit copy.
        let built = clustered(EXACT_BELOW + 1_000, 48, 11);
        let h = Hnsw::build(&built, 64, 64);
        // Since the build: ids 0..200 deleted, 200..400 changed, 500 new ones.
        let mut now = VectorSet::new(48);
        let fresh = clustered(700, 48, 99);
        for i in 200..built.len() {
            let v = if i < 400 { fresh.row(i) } else { built.row(i) };
            now.push(built.ids[i], v).unwrap();
        }
        for i in 0..500 {
            now.push(100_000 + i as i64, fresh.row(200 + i)).unwrap();
        }
        let n = Neighbours::new(now.clone(), Some(h)).for_scans();
        assert_eq!(
            n.unindexed(),
            200 + 500,
            "changed and new vectors are scanned"
        );
        // Queries like the vectors, and from "another modality": far from all of them.
        let far = unit(
            (0..48)
                .map(|d| if d % 2 == 0 { 1.0 } else { -0.3 })
                .collect(),
        );
        let queries = [
            now.row(5).to_vec(),
            now.row(11_000).to_vec(),
            fresh.row(3).to_vec(),
            far,
        ];
        for q in &queries {
            for k in [1, 10, 100, 1000, 30_000] {
                assert_eq!(n.nearest_scanned(q, k), now.top_k(q, k), "k={k}");
            }
        }
        // The graph's own search finds a changed vector (from the tail) and no deleted one.
        let changed = now.row(0).to_vec();
        let found = n.nearest(&changed, 5);
        assert_eq!(found[0].0, 200);
        assert!(found.iter().all(|(id, _)| *id >= 200));
    }

    #[test]
    fn the_scan_in_blocks_gives_what_a_full_sort_gives() {
        // More rows than one block, some repeated (equal cosines, ordered by id).
        let mut set = VectorSet::new(8);
        for i in 0..30_000i64 {
            let j = if i % 7 == 0 { 3 } else { i };
            let v = unit(
                (0..8)
                    .map(|d| ((j * 31 + d * 17) % 97) as f32 - 48.0)
                    .collect(),
            );
            set.push(i, &v).unwrap();
        }
        let q = set.row(3).to_vec();
        for k in [0, 1, 10, 5_000, 40_000] {
            let mut want: Vec<(i64, f32)> = (0..set.len())
                .map(|i| (set.ids[i], dot(set.row(i), &q)))
                .collect();
            want.sort_by(better);
            want.truncate(k);
            assert_eq!(set.top_k(&q, k), want, "k={k}");
        }
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
