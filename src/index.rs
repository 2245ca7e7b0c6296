//! Nearest neighbours over embeddings: an exact scan for small sets, and an HNSW index
//! (instant-distance) for large ones, saved beside the catalog, with the vectors added since
//! its build scanned exactly and merged in.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use serde::{Deserialize, Serialize};

use crate::domain::OwnerKind;
use crate::error::{Error, Result};

/// Below this many vectors a scan is exact and fast enough (a few milliseconds).
pub const EXACT_BELOW: usize = 20_000;
/// HNSW build and search breadth; `vitrine bench search` measures their recall. A search
/// returns at most `EF_SEARCH` neighbours, so this also bounds each signal's candidates.
pub const EF_CONSTRUCTION: usize = 100;
pub const EF_SEARCH: usize = 256;

/// Dot product; vectors are L2-normalised, so this is the cosine similarity.
///
/// Most of an index build is spent here. On x86-64 the widest vector unit the CPU has
/// (AVX-512 or AVX2 with FMA) is picked at run time; release builds target baseline x86-64,
/// so the compiler alone would use 128-bit SSE2.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { simd::dot_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { simd::dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// Dot product for any CPU: eight independent sums let the compiler use SIMD lanes.
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
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

#[cfg(target_arch = "x86_64")]
mod simd {
    use half::f16;
    use std::arch::x86_64::*;

    /// The loop of every kernel: `load` widens `lanes` elements at a pointer to `f32`s; two
    /// accumulators hide the FMA latency.
    #[inline(always)]
    fn dot_with<T: Copy + Into<f32>, V: Copy>(
        a: &[T],
        b: &[T],
        lanes: usize,
        zero: V,
        load: impl Fn(*const T) -> V,
        fma: impl Fn(V, V, V) -> V,
        sum: impl Fn(V) -> f32,
    ) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1) = (zero, zero);
        let mut i = 0;
        // Every load reads `lanes` elements at `i` with i + lanes <= n, within both slices.
        while i + 2 * lanes <= n {
            s0 = fma(load(pa.wrapping_add(i)), load(pb.wrapping_add(i)), s0);
            s1 = fma(
                load(pa.wrapping_add(i + lanes)),
                load(pb.wrapping_add(i + lanes)),
                s1,
            );
            i += 2 * lanes;
        }
        if i + lanes <= n {
            s0 = fma(load(pa.wrapping_add(i)), load(pb.wrapping_add(i)), s0);
            i += lanes;
        }
        let mut s = sum(s0) + sum(s1);
        for j in i..n {
            s += a[j].into() * b[j].into();
        }
        s
    }

    // SAFETY of the loads below: `dot_with` passes pointers with `lanes` elements readable.

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let load = |p: *const f32| unsafe { _mm512_loadu_ps(p) };
        dot_with(
            a,
            b,
            16,
            _mm512_setzero_ps(),
            load,
            |a, b, c| _mm512_fmadd_ps(a, b, c),
            |v| _mm512_reduce_add_ps(v),
        )
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_f16_avx512(a: &[f16], b: &[f16]) -> f32 {
        let load = |p: *const f16| unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) };
        dot_with(
            a,
            b,
            16,
            _mm512_setzero_ps(),
            load,
            |a, b, c| _mm512_fmadd_ps(a, b, c),
            |v| _mm512_reduce_add_ps(v),
        )
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let load = |p: *const f32| unsafe { _mm256_loadu_ps(p) };
        dot_with(
            a,
            b,
            8,
            _mm256_setzero_ps(),
            load,
            |a, b, c| _mm256_fmadd_ps(a, b, c),
            |v| sum256(v),
        )
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_f16_avx2(a: &[f16], b: &[f16]) -> f32 {
        let load = |p: *const f16| unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) };
        dot_with(
            a,
            b,
            8,
            _mm256_setzero_ps(),
            load,
            |a, b, c| _mm256_fmadd_ps(a, b, c),
            |v| sum256(v),
        )
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn sum256(v: __m256) -> f32 {
        let q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
        _mm_cvtss_f32(q)
    }
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

/// A vector in the graph, in half precision (as bits): half the memory and memory traffic of
/// `f32`, which is what bounds an index build. Its cosines are within about 1e-3 of the exact
/// ones; [`Neighbours`] re-scores what the graph returns with the `f32` vectors.
#[derive(Clone, Serialize, Deserialize)]
pub struct Point(Vec<u16>);

impl Point {
    pub fn new(v: &[f32]) -> Point {
        let mut bits = vec![0u16; v.len()];
        bits.reinterpret_cast_mut::<f16>().convert_from_f32_slice(v);
        Point(bits)
    }

    pub fn halves(&self) -> &[f16] {
        self.0.reinterpret_cast()
    }
}

impl instant_distance::Point for Point {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot_f16(self.halves(), other.halves())
    }
}

/// Dot product of two half-precision vectors, summed in `f32`.
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { simd::dot_f16_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the CPU has AVX2, FMA and F16C, checked just above.
            return unsafe { simd::dot_f16_avx2(a, b) };
        }
    }
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y.to_f32()).sum()
}

/// Marks an index file of this layout; files without it (older layouts) are rebuilt.
const MAGIC: &[u8; 8] = b"vtrhnsw3";

fn bincode_options() -> impl bincode::Options {
    use bincode::Options;
    // The layout of `bincode::serialize`; `load` adds a limit so that a damaged file cannot
    // ask for more memory than its own size.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
}

/// What an index file holds vectors of: checked when it is loaded, so that the index of
/// another model, kind or size is never used for these vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexAbout {
    pub model: String,
    pub kind: OwnerKind,
    pub dim: usize,
    pub count: usize,
}

/// An HNSW graph over some vectors, keyed by owner id.
#[derive(Serialize, Deserialize)]
pub struct Hnsw {
    map: instant_distance::HnswMap<Point, i64>,
    ids: Vec<i64>,
    ef_search: usize,
    about: Option<IndexAbout>,
}

impl Hnsw {
    /// Builds the graph. `ef_search` bounds how many neighbours one search returns.
    pub fn build(set: &VectorSet, ef_construction: usize, ef_search: usize) -> Hnsw {
        let points: Vec<Point> = (0..set.len()).map(|i| Point::new(set.row(i))).collect();
        let map = instant_distance::Builder::default()
            .ef_construction(ef_construction)
            .ef_search(ef_search)
            .seed(0x5eed)
            // The neighbour selection of the HNSW paper (Algorithm 4) as hnswlib and FAISS run
            // it: only the diverse neighbours are linked. Keeping the pruned ones too
            // (instant-distance's default) made builds 3.4 times slower for the same recall at
            // `EF_SEARCH` (`vitrine bench search`, 20k vectors).
            .select_heuristic(Some(instant_distance::Heuristic {
                extend_candidates: false,
                keep_pruned: false,
            }))
            .build(points, set.ids.clone());
        Hnsw {
            map,
            ids: set.ids.clone(),
            ef_search,
            about: None,
        }
    }

    /// Records what the graph holds vectors of (saved with it).
    pub fn with_about(mut self, about: IndexAbout) -> Hnsw {
        self.about = Some(about);
        self
    }

    pub fn about(&self) -> Option<&IndexAbout> {
        self.about.as_ref()
    }

    /// Loads an index and checks that it holds vectors of `model` and `kind` with `dim`
    /// dimensions, as many as it says: anything else is an error (and the index is rebuilt).
    pub fn load_for(path: &Path, model: &str, kind: OwnerKind, dim: usize) -> Result<Hnsw> {
        let h = Hnsw::load(path)?;
        let wrong = |what: String| {
            Err(Error::InvalidInput(format!(
                "{}: {what}; it will be rebuilt",
                path.display()
            )))
        };
        match &h.about {
            None => wrong("the index does not say what it holds".into()),
            Some(a) if a.model != model || a.kind != kind => wrong(format!(
                "the index is of {} ({}) vectors, not {model} ({kind})",
                a.model, a.kind
            )),
            Some(a) if a.dim != dim => wrong(format!(
                "the index holds {}-dimensional vectors, not {dim}",
                a.dim
            )),
            Some(a) if a.count != h.ids.len() => wrong(format!(
                "the index says {} vectors but holds {}",
                a.count,
                h.ids.len()
            )),
            Some(_) => Ok(h),
        }
    }

    /// Changes how many neighbours a search explores (and at most returns) without building
    /// again. instant-distance fixes this at build time and has no setter, but its serialised
    /// graph starts with it: the graph is re-read with that number changed, after checking
    /// that it is where expected. Costs a copy of the graph; for benchmarks and tuning.
    pub fn set_ef_search(&mut self, ef_search: usize) -> Result<()> {
        use bincode::Options;
        let fail = |e: String| Error::InvalidInput(format!("cannot change ef_search: {e}"));
        let mut bytes = bincode_options()
            .serialize(&self.map)
            .map_err(|e| fail(e.to_string()))?;
        let head = (self.ef_search as u64).to_le_bytes();
        if bytes.get(..8) != Some(&head[..]) {
            return Err(fail("the graph's layout is not the expected one".into()));
        }
        bytes[..8].copy_from_slice(&(ef_search as u64).to_le_bytes());
        self.map = bincode_options()
            .deserialize(&bytes)
            .map_err(|e| fail(e.to_string()))?;
        self.ef_search = ef_search;
        Ok(())
    }

    /// The `k` nearest that the graph finds: (id, approximate cosine), best first.
    pub fn search(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        let mut s = instant_distance::Search::default();
        let p = Point::new(q);
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
        use bincode::Options;
        use std::io::Write;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let tmp = crate::files::temp_beside(path);
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = std::io::BufWriter::new(file);
        w.write_all(MAGIC).map_err(|e| Error::io(&tmp, e))?;
        bincode_options()
            .serialize_into(&mut w, self)
            .map_err(|e| Error::InvalidInput(format!("cannot write {}: {e}", tmp.display())))?;
        w.into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?
            .sync_all()
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    pub fn load(path: &Path) -> Result<Hnsw> {
        use bincode::Options;
        use std::io::Read;
        let unreadable = |why: String| {
            Error::InvalidInput(format!(
                "{}: unreadable index ({why}); it will be rebuilt",
                path.display()
            ))
        };
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut r = std::io::BufReader::new(file);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)
            .map_err(|e| unreadable(e.to_string()))?;
        if &magic != MAGIC {
            return Err(unreadable("an older or foreign layout".into()));
        }
        bincode_options()
            .with_limit(size)
            .deserialize_from(r)
            .map_err(|e| unreadable(e.to_string()))
    }
}

/// Nearest-neighbour search over a set of vectors: HNSW for what it covers, an exact scan for
/// the rest, merged.
pub struct Neighbours {
    pub all: VectorSet,
    hnsw: Option<Hnsw>,
    /// Rows of `all` that the graph does not cover (added since its build).
    tail: Vec<usize>,
    /// Row in `all` of each live id.
    row_of: HashMap<i64, usize>,
}

impl Neighbours {
    pub fn new(all: VectorSet, hnsw: Option<Hnsw>) -> Neighbours {
        let row_of: HashMap<i64, usize> =
            all.ids.iter().enumerate().map(|(r, id)| (*id, r)).collect();
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
            row_of,
        }
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
    pub fn nearest_scanned(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        self.all.top_k(q, k)
    }

    /// The `k` nearest: (id, exact cosine), best first.
    pub fn nearest(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        let Some(h) = &self.hnsw else {
            return self.all.top_k(q, k);
        };
        // The graph's own scores are half precision; ids deleted since its build drop out.
        let found = h
            .search(q, k)
            .into_iter()
            .filter_map(|(id, _)| self.row_of.get(&id));
        let mut out: Vec<(i64, f32)> = found
            .chain(&self.tail)
            .map(|&i| (self.all.ids[i], dot(self.all.row(i), q)))
            .collect();
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
    fn every_dot_product_kernel_agrees_with_a_plain_sum() {
        // Lengths around the vector widths (8, 16, 32) and the real ones (384, 512, 768).
        for n in [
            0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 384, 511, 512, 768,
        ] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let b: Vec<f32> = (0..n)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0)
                .collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let tol = 1e-5 * (1.0 + n as f64);
            let mut got = vec![
                ("dispatched", dot(&a, &b)),
                ("portable", dot_portable(&a, &b)),
            ];
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    got.push(("avx512", unsafe { simd::dot_avx512(&a, &b) }));
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    got.push(("avx2", unsafe { simd::dot_avx2(&a, &b) }));
                }
            }
            let (ha, hb) = (Point::new(&a), Point::new(&b));
            let want_half: f64 = ha
                .halves()
                .iter()
                .zip(hb.halves())
                .map(|(x, y)| x.to_f64() * y.to_f64())
                .sum();
            got.push(("half, dispatched", dot_f16(ha.halves(), hb.halves())));
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    got.push(("half, avx512", unsafe {
                        simd::dot_f16_avx512(ha.halves(), hb.halves())
                    }));
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
                {
                    got.push(("half, avx2", unsafe {
                        simd::dot_f16_avx2(ha.halves(), hb.halves())
                    }));
                }
            }
            for (name, g) in got {
                let want = if name.starts_with("half") {
                    want_half
                } else {
                    want
                };
                assert!(
                    (g as f64 - want).abs() < tol,
                    "{name}, n={n}: {g} vs {want}"
                );
            }
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
