//! An HNSW graph (Malkov and Yashunin, "Efficient and robust approximate nearest neighbor search
//! using Hierarchical Navigable Small World graphs", 2018), laid out as FAISS and hnswlib lay
//! theirs: the vectors in one flat array of 64-byte lines (half precision, each row starting on a
//! cache line), the links in flat arrays of fixed-size lists, built by all cores at once.
//!
//! Written here rather than kept on instant-distance (which the first version used), because
//! its layout and build could not be changed from outside: each vector a separate allocation,
//! and every new link re-ran the neighbour selection over the whole list (FAISS appends while
//! there is room and selects only when a list is full). See the README's index section.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::VectorSet;
use super::kernels::{dot_f16, dot_f32_f16, prefetch};
use crate::domain::OwnerKind;
use crate::error::{Error, Result};

/// Links per node above level 0 (the paper's M); level 0 has twice as many, as in FAISS and
/// hnswlib.
const M: usize = 32;
const M0: usize = 2 * M;
/// An unused link.
const NONE: u32 = u32::MAX;
/// Levels are drawn with P(level ≥ l) = M^-l; this caps the (astronomically unlikely) rest.
const MAX_LEVEL: u8 = 16;
/// Halves per line.
const LINE: usize = 32;

/// Marks an index file of this layout; files without it (older layouts) are rebuilt.
const MAGIC: &[u8; 8] = b"vtrhnsw4";

/// 64 bytes of a row: rows are whole lines, so each starts on a cache line.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[repr(C, align(64))]
struct Line([u16; LINE]);

/// What an index file holds vectors of: checked when it is loaded, so that the index of
/// another model, kind or size is never used for these vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexAbout {
    pub model: String,
    pub kind: OwnerKind,
    pub dim: usize,
    pub count: usize,
}

/// An HNSW graph over some vectors, keyed by owner id. Its vectors are half precision (half
/// the memory and memory traffic of `f32`, which is what bounds a build and a search; cosines
/// within about 1e-3): [`super::Neighbours`] re-scores what it returns with the `f32` vectors.
#[derive(Serialize, Deserialize)]
pub struct Hnsw {
    dim: usize,
    /// Halves per row: `dim` rounded up to whole lines (the rest zeros).
    stride: usize,
    lines: Vec<Line>,
    ids: Vec<i64>,
    levels: Vec<u8>,
    /// `M0` links per node at level 0; unused ones are `NONE`, after the used ones. Atomic so
    /// that the build can read lists while other threads rewrite them (each entry is always a
    /// valid node or `NONE`); a relaxed load is a plain load.
    links0: Vec<AtomicU32>,
    /// Per node, the first of its `level` lists of `M` links in `upper` (levels 1, 2, …).
    upper_at: Vec<u32>,
    upper: Vec<AtomicU32>,
    entry: u32,
    ef_search: usize,
    about: Option<IndexAbout>,
    /// Search scratch, reused across searches.
    #[serde(skip)]
    scratch: Mutex<Vec<Scratch>>,
}

/// A node at a distance (the negated cosine: smaller is nearer).
#[derive(Clone, Copy, PartialEq)]
struct Near {
    d: f32,
    id: u32,
}

impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.d.total_cmp(&other.d).then(self.id.cmp(&other.id))
    }
}

/// What one search needs besides the graph: visited marks (a generation per search, so that
/// nothing is cleared between searches) and the two queues.
struct Scratch {
    marks: Vec<u16>,
    now: u16,
    candidates: BinaryHeap<Reverse<Near>>,
    found: BinaryHeap<Near>,
    fresh: Vec<u32>,
}

impl Scratch {
    fn new(n: usize) -> Scratch {
        Scratch {
            marks: vec![0; n],
            now: 0,
            candidates: BinaryHeap::new(),
            found: BinaryHeap::new(),
            fresh: Vec::with_capacity(M0),
        }
    }

    fn next_search(&mut self) {
        self.now = self.now.wrapping_add(1);
        if self.now == 0 {
            self.marks.fill(0);
            self.now = 1;
        }
    }

    /// Marks `id` visited; false if it already was.
    fn visit(&mut self, id: u32) -> bool {
        let m = &mut self.marks[id as usize];
        let new = *m != self.now;
        *m = self.now;
        new
    }
}

/// A deterministic generator (splitmix64) for the nodes' levels.
fn level_of(seed: u64, node: usize) -> u8 {
    let mut z = seed.wrapping_add((node as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let u = ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let level = (-u.ln() / (M as f64).ln()).floor();
    level.min(MAX_LEVEL as f64) as u8
}

impl Hnsw {
    /// Builds the graph on all cores. `ef_construction` is the breadth of each insertion's
    /// search; `ef_search` that of a query's, which also bounds how many it returns.
    pub fn build(set: &VectorSet, ef_construction: usize, ef_search: usize) -> Hnsw {
        let (n, dim) = (set.len(), set.dim);
        assert!(n < NONE as usize, "at most 2^32 - 1 vectors");
        let stride = dim.div_ceil(LINE) * LINE;
        let mut lines = vec![Line([0; LINE]); n * stride / LINE];
        if stride > 0 {
            lines
                .par_chunks_mut(stride / LINE)
                .enumerate()
                .for_each(|(i, row)| {
                    let halves = halves_mut(row);
                    halves[..dim]
                        .reinterpret_cast_mut::<f16>()
                        .convert_from_f32_slice(set.row(i));
                });
        }
        let levels: Vec<u8> = (0..n).map(|i| level_of(0x5eed, i)).collect();
        let mut upper_at = vec![NONE; n];
        let mut lists = 0u32;
        for (i, &l) in levels.iter().enumerate() {
            if l > 0 {
                upper_at[i] = lists;
                lists += u32::from(l);
            }
        }
        // Nodes by level, highest first: the first is the entry, and each level's nodes are in
        // the graph before any node below it is inserted.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| Reverse(levels[i as usize]));
        let g = Hnsw {
            dim,
            stride,
            lines,
            ids: set.ids.clone(),
            levels,
            links0: (0..n * M0).map(|_| AtomicU32::new(NONE)).collect(),
            upper_at,
            upper: (0..lists as usize * M)
                .map(|_| AtomicU32::new(NONE))
                .collect(),
            entry: order.first().copied().unwrap_or(0),
            ef_search,
            about: None,
            scratch: Mutex::new(Vec::new()),
        };
        let locks: Vec<Mutex<()>> = (0..n).map(|_| Mutex::new(())).collect();
        let build = Build {
            g: &g,
            set,
            locks: &locks,
            ef: ef_construction.max(1),
        };
        for group in
            order[1.min(n)..].chunk_by(|a, b| g.levels[*a as usize] == g.levels[*b as usize])
        {
            group.par_iter().for_each(|&v| build.insert(v));
        }
        g
    }

    /// Records what the graph holds vectors of (saved with it).
    pub fn with_about(mut self, about: IndexAbout) -> Hnsw {
        self.about = Some(about);
        self
    }

    pub fn about(&self) -> Option<&IndexAbout> {
        self.about.as_ref()
    }

    /// The owner ids of the vectors the graph holds.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Changes how many neighbours a search explores (and at most returns).
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.ef_search = ef_search;
    }

    /// The `k` nearest that the graph finds (at most `ef_search`): (id, approximate cosine),
    /// best first.
    pub fn search(&self, q: &[f32], k: usize) -> Vec<(i64, f32)> {
        self.search_nodes(q, k)
            .into_iter()
            .map(|(node, cos)| (self.ids[node], cos))
            .collect()
    }

    /// [`Hnsw::search`] by node (the position of the id in [`Hnsw::ids`]).
    pub fn search_nodes(&self, q: &[f32], k: usize) -> Vec<(usize, f32)> {
        if self.is_empty() || q.len() != self.dim {
            return Vec::new();
        }
        let mut s = self.scratch_take();
        let ep = self.descend(q, self.near(q, self.entry), 0);
        let found = self.search_level(q, &[ep], self.ef_search.max(1), 0, &mut s);
        let out = found
            .iter()
            .take(k.min(self.ef_search))
            .map(|c| (c.id as usize, -c.d))
            .collect();
        if let Ok(mut pool) = self.scratch.lock() {
            pool.push(s);
        }
        out
    }

    /// Whether node `node` holds `v` (in half precision, bit for bit): false once the vector
    /// of its id has changed since the build.
    pub fn holds(&self, node: usize, v: &[f32], buf: &mut Vec<u16>) -> bool {
        if v.len() != self.dim || node >= self.len() {
            return false;
        }
        buf.resize(v.len(), 0);
        buf.reinterpret_cast_mut::<f16>().convert_from_f32_slice(v);
        let at = node * self.stride;
        halves(&self.lines)[at..at + self.dim] == buf[..]
    }

    fn scratch_take(&self) -> Scratch {
        self.scratch
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_else(|| Scratch::new(self.len()))
    }

    fn row(&self, id: u32) -> &[f16] {
        let at = id as usize * self.stride;
        halves(&self.lines)[at..at + self.dim].reinterpret_cast()
    }

    fn near(&self, q: &[f32], id: u32) -> Near {
        Near {
            d: -dot_f32_f16(q, self.row(id)),
            id,
        }
    }

    fn links(&self, id: u32, level: u8) -> &[AtomicU32] {
        if level == 0 {
            let at = id as usize * M0;
            &self.links0[at..at + M0]
        } else {
            let at = (self.upper_at[id as usize] as usize + level as usize - 1) * M;
            &self.upper[at..at + M]
        }
    }

    /// Greedy descent from the top level to `to + 1`, one nearest node kept.
    fn descend(&self, q: &[f32], mut cur: Near, to: u8) -> Near {
        for level in (to + 1..=self.levels[self.entry as usize]).rev() {
            loop {
                let mut moved = false;
                for link in self.links(cur.id, level) {
                    let id = link.load(Relaxed);
                    if id == NONE {
                        break;
                    }
                    let c = self.near(q, id);
                    if c < cur {
                        cur = c;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        cur
    }

    /// The paper's Algorithm 2: the `ef` nearest at `level` reachable from `entries`, nearest
    /// first.
    fn search_level(
        &self,
        q: &[f32],
        entries: &[Near],
        ef: usize,
        level: u8,
        s: &mut Scratch,
    ) -> Vec<Near> {
        s.next_search();
        s.candidates.clear();
        s.found.clear();
        for &e in entries {
            if s.visit(e.id) {
                s.candidates.push(Reverse(e));
                s.found.push(e);
            }
        }
        while s.found.len() > ef {
            s.found.pop();
        }
        let row_bytes = self.stride * 2;
        while let Some(Reverse(c)) = s.candidates.pop() {
            if s.found.len() >= ef && s.found.peek().is_some_and(|f| c.d > f.d) {
                break;
            }
            s.fresh.clear();
            for link in self.links(c.id, level) {
                let id = link.load(Relaxed);
                if id == NONE {
                    break;
                }
                if s.visit(id) {
                    s.fresh.push(id);
                }
            }
            // Fetch the next row while this one is scored.
            if let Some(&first) = s.fresh.first() {
                prefetch(self.row(first).as_ptr(), row_bytes);
            }
            for j in 0..s.fresh.len() {
                if let Some(&next) = s.fresh.get(j + 1) {
                    prefetch(self.row(next).as_ptr(), row_bytes);
                }
                let n = self.near(q, s.fresh[j]);
                if s.found.len() < ef || s.found.peek().is_some_and(|f| n.d < f.d) {
                    s.candidates.push(Reverse(n));
                    s.found.push(n);
                    if s.found.len() > ef {
                        s.found.pop();
                    }
                }
            }
        }
        let mut out: Vec<Near> = s.found.drain().collect();
        out.sort_unstable();
        out
    }

    /// The paper's Algorithm 4 (as FAISS runs it): from `sorted` (nearest to some node first),
    /// those nearer to that node than to any already kept, up to `cap`.
    fn diverse(&self, sorted: &[Near], cap: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(cap);
        for c in sorted {
            if kept.len() >= cap {
                break;
            }
            let rc = self.row(c.id);
            if kept.iter().all(|&k| -dot_f16(rc, self.row(k)) > c.d) {
                kept.push(c.id);
            }
        }
        kept
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

    /// Reads what [`Hnsw::save`] wrote. The file is bincode's layout of the graph (each field
    /// in order; a list is its length as a `u64`, then its items), and the large lists (rows
    /// and links: 1.3 GB at a million vectors) are plain little-endian integers, so they are
    /// read in one piece each rather than item by item through serde (4.7 s → about 1 s there).
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
        let mut file = Framed { r, left: size - 8 };
        let h = (|| -> std::io::Result<Hnsw> {
            let dim = file.int::<u64>()? as usize;
            let stride = file.int::<u64>()? as usize;
            let n = file.len(std::mem::size_of::<Line>())?;
            let mut lines = vec![Line([0; LINE]); n];
            file.fill(halves_mut(&mut lines))?;
            let ids = file.list::<i64>()?;
            let levels = file.list::<u8>()?;
            let links0 = file
                .list::<u32>()?
                .into_iter()
                .map(AtomicU32::new)
                .collect();
            let upper_at = file.list::<u32>()?;
            let upper = file
                .list::<u32>()?
                .into_iter()
                .map(AtomicU32::new)
                .collect();
            let entry = file.int::<u32>()?;
            let ef_search = file.int::<u64>()? as usize;
            let about = bincode_options()
                .with_limit(file.left)
                .deserialize_from(&mut file.r)
                .map_err(std::io::Error::other)?;
            Ok(Hnsw {
                dim,
                stride,
                lines,
                ids,
                levels,
                links0,
                upper_at,
                upper,
                entry,
                ef_search,
                about,
                scratch: Mutex::new(Vec::new()),
            })
        })()
        .map_err(|e| unreadable(e.to_string()))?;
        h.check().map_err(unreadable)?;
        Ok(h)
    }

    /// Checks that the parts agree and every link names a node, so that a damaged file that
    /// still decodes cannot make a search read out of bounds.
    fn check(&self) -> std::result::Result<(), String> {
        let n = self.ids.len();
        let lists = self.upper.len() / M;
        if self.stride != self.dim.div_ceil(LINE) * LINE
            || self.lines.len() * LINE != n * self.stride
            || self.levels.len() != n
            || self.upper_at.len() != n
            || self.links0.len() != n * M0
            || !self.upper.len().is_multiple_of(M)
            || (n > 0 && self.entry as usize >= n)
        {
            return Err("its parts do not agree in size".into());
        }
        let top = self.levels.get(self.entry as usize).copied().unwrap_or(0);
        for (i, &l) in self.levels.iter().enumerate() {
            let at = self.upper_at[i] as usize;
            if l > top || (l > 0 && (at == NONE as usize || at + l as usize > lists)) {
                return Err(format!("node {i} has a level the graph does not hold"));
            }
        }
        let bad = |links: &[AtomicU32]| {
            links.iter().any(|l| {
                let id = l.load(Relaxed);
                id != NONE && id as usize >= n
            })
        };
        if bad(&self.links0) || bad(&self.upper) {
            return Err("a link names no node".into());
        }
        Ok(())
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
            Some(a) if a.dim != dim || h.dim != dim => wrong(format!(
                "the index holds {}-dimensional vectors, not {dim}",
                h.dim
            )),
            Some(a) if a.count != h.ids.len() => wrong(format!(
                "the index says {} vectors but holds {}",
                a.count,
                h.ids.len()
            )),
            Some(_) => Ok(h),
        }
    }
}

/// The state of a build shared by its threads.
struct Build<'a> {
    g: &'a Hnsw,
    set: &'a VectorSet,
    /// One per node: held while its lists are rewritten (never two at once).
    locks: &'a [Mutex<()>],
    ef: usize,
}

impl Build<'_> {
    /// The paper's Algorithm 1 for node `v`, whose level was drawn before the build.
    fn insert(&self, v: u32) {
        let g = self.g;
        let q = self.set.row(v as usize);
        let level = g.levels[v as usize];
        let mut s = g.scratch_take();
        let mut entries = vec![g.descend(q, g.near(q, g.entry), level)];
        for l in (0..=level.min(g.levels[g.entry as usize])).rev() {
            let mut found = g.search_level(q, &entries, self.ef, l, &mut s);
            found.retain(|c| c.id != v);
            let cap = if l == 0 { M0 } else { M };
            let chosen = g.diverse(&found, cap);
            self.write(v, l, &chosen);
            for &c in &chosen {
                self.link(c, v, l, cap);
            }
            entries = found;
        }
        if let Ok(mut pool) = g.scratch.lock() {
            pool.push(s);
        }
    }

    fn write(&self, v: u32, level: u8, ids: &[u32]) {
        let _held = self.locks[v as usize].lock();
        let links = self.g.links(v, level);
        for (i, slot) in links.iter().enumerate() {
            slot.store(ids.get(i).copied().unwrap_or(NONE), Relaxed);
        }
    }

    /// Adds a link from `c` to `v`: into a free slot, or, when `c`'s list is full, by choosing
    /// again among its links and `v` (so the list stays diverse).
    fn link(&self, c: u32, v: u32, level: u8, cap: usize) {
        let g = self.g;
        let _held = self.locks[c as usize].lock();
        let links = &g.links(c, level)[..cap];
        if let Some(free) = links.iter().find(|l| l.load(Relaxed) == NONE) {
            free.store(v, Relaxed);
            return;
        }
        let rc = g.row(c);
        let mut all: Vec<Near> = links
            .iter()
            .map(|l| l.load(Relaxed))
            .chain([v])
            .map(|id| Near {
                d: -dot_f16(rc, g.row(id)),
                id,
            })
            .collect();
        all.sort_unstable();
        let kept = g.diverse(&all, cap);
        for (i, slot) in links.iter().enumerate() {
            slot.store(kept.get(i).copied().unwrap_or(NONE), Relaxed);
        }
    }
}

fn halves(lines: &[Line]) -> &[u16] {
    // SAFETY: `Line` is `repr(C)` over `[u16; LINE]` and exactly that size (64 bytes, no
    // padding), so the lines are `lines.len() * LINE` initialised `u16`s.
    unsafe { std::slice::from_raw_parts(lines.as_ptr().cast(), lines.len() * LINE) }
}

fn halves_mut(lines: &mut [Line]) -> &mut [u16] {
    // SAFETY: as in `halves`; the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast(), lines.len() * LINE) }
}

/// A reader of bincode's layout that knows how many bytes are left, so that a damaged length
/// cannot ask for more memory than the file holds.
struct Framed<R> {
    r: R,
    left: u64,
}

/// Integers stored little-endian, any bit pattern valid.
trait Plain: Copy + Default {
    /// The value whose little-endian bytes these are.
    fn native(self) -> Self;
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl Plain for $t {
            fn native(self) -> Self {
                <$t>::from_le(self)
            }
        }
    )*};
}
plain!(u8, u16, u32, u64, i64);

impl<R: std::io::Read> Framed<R> {
    /// Fills `out` from the file, in one read.
    fn fill<T: Plain>(&mut self, out: &mut [T]) -> std::io::Result<()> {
        let bytes = std::mem::size_of_val(out);
        if bytes as u64 > self.left {
            return Err(std::io::Error::other("a list longer than the file"));
        }
        // SAFETY: `T` is a plain integer (any bit pattern valid), and the byte view covers
        // exactly `out`'s memory, borrowed exclusively for the read.
        let raw = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), bytes) };
        self.r.read_exact(raw)?;
        self.left -= bytes as u64;
        for x in out.iter_mut() {
            *x = x.native();
        }
        Ok(())
    }

    fn int<T: Plain>(&mut self) -> std::io::Result<T> {
        let mut x = [T::default()];
        self.fill(&mut x)?;
        Ok(x[0])
    }

    /// A list's length, checked against what is left of the file for items of `item` bytes.
    fn len(&mut self, item: usize) -> std::io::Result<usize> {
        let n = self.int::<u64>()?;
        if n.saturating_mul(item as u64) > self.left {
            return Err(std::io::Error::other("a list longer than the file"));
        }
        Ok(n as usize)
    }

    fn list<T: Plain>(&mut self) -> std::io::Result<Vec<T>> {
        let n = self.len(std::mem::size_of::<T>())?;
        let mut out = vec![T::default(); n];
        self.fill(&mut out)?;
        Ok(out)
    }
}

fn bincode_options() -> impl bincode::Options {
    use bincode::Options;
    // The layout of `bincode::serialize`; `load` adds a limit so that a damaged file cannot
    // ask for more memory than its own size.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` unit vectors of `dim` dimensions from a fixed seed.
    fn random_set(n: usize, dim: usize, seed: u64) -> VectorSet {
        let mut s = seed | 1;
        let mut set = VectorSet::new(dim);
        for i in 0..n {
            let v: Vec<f32> = (0..dim)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            set.push(
                i as i64 * 3,
                &v.iter().map(|x| x / norm).collect::<Vec<_>>(),
            )
            .unwrap();
        }
        set
    }

    #[test]
    fn empty_single_and_small_graphs_answer() {
        let empty = Hnsw::build(&VectorSet::new(8), 100, 64);
        assert!(empty.search(&[0.5; 8], 10).is_empty());
        for n in [1, 2, 33, 65, 300] {
            let set = random_set(n, 20, n as u64);
            let g = Hnsw::build(&set, 100, 64);
            for i in 0..n {
                let found = g.search(set.row(i), 1);
                assert_eq!(found[0].0, set.ids[i], "n={n}: vector {i} finds itself");
                assert!((found[0].1 - 1.0).abs() < 2e-3, "cosine in half precision");
            }
            assert!(
                g.search(&[0.1; 21], 1).is_empty(),
                "a query of another size"
            );
        }
    }

    #[test]
    fn every_copy_of_a_repeated_vector_is_found() {
        // One photo used by many listings: the copies are equally near, and the neighbour
        // selection keeps one of them per list; all must still be reachable.
        let mut set = random_set(2_000, 24, 5);
        let shared = set.row(7).to_vec();
        for i in 0..60 {
            set.push(100_000 + i, &shared).unwrap();
        }
        let g = Hnsw::build(&set, 100, 128);
        let found = g.search(&shared, 128);
        let copies = found
            .iter()
            .filter(|(id, _)| *id >= 100_000 || *id == 21)
            .count();
        assert_eq!(copies, 61, "all 60 copies and the original");
    }

    #[test]
    fn levels_thin_out_by_a_factor_of_m() {
        let levels: Vec<u8> = (0..200_000).map(|i| level_of(1, i)).collect();
        let above = |l: u8| levels.iter().filter(|&&x| x >= l).count() as f64;
        let ratio = above(0) / above(1);
        assert!((ratio - M as f64).abs() < 4.0, "ratio {ratio}");
        assert!(levels.iter().all(|&l| l <= MAX_LEVEL));
    }

    #[test]
    fn a_saved_graph_reads_back_whole_as_bincode_wrote_it() {
        use bincode::Options;
        let set = random_set(300, 20, 4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.hnsw");
        let about = IndexAbout {
            model: "m".into(),
            kind: OwnerKind::Passage,
            dim: 20,
            count: 300,
        };
        let g = Hnsw::build(&set, 100, 64).with_about(about.clone());
        g.save(&path).unwrap();
        let read = Hnsw::load(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let serde: Hnsw = bincode_options().deserialize(&bytes[8..]).unwrap();
        let links = |l: &[AtomicU32]| l.iter().map(|x| x.load(Relaxed)).collect::<Vec<_>>();
        for h in [&read, &serde] {
            assert_eq!(
                (h.dim, h.stride, h.entry, h.ef_search),
                (20, 32, g.entry, 64)
            );
            assert_eq!(halves(&h.lines), halves(&g.lines));
            assert_eq!(h.ids, g.ids);
            assert_eq!(h.levels, g.levels);
            assert_eq!(links(&h.links0), links(&g.links0));
            assert_eq!(h.upper_at, g.upper_at);
            assert_eq!(links(&h.upper), links(&g.upper));
            assert_eq!(h.about.as_ref(), Some(&about));
        }
        assert!(g.upper.len() > M, "the graph has upper levels");
        for q in [set.row(0), set.row(17), set.row(299)] {
            assert_eq!(read.search(q, 10), g.search(q, 10));
        }
    }

    #[test]
    fn a_damaged_graph_that_still_decodes_is_refused() {
        let set = random_set(100, 16, 9);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.hnsw");
        let g = Hnsw::build(&set, 100, 64);
        g.links0[5].store(100 + 7, Relaxed);
        g.save(&path).unwrap();
        let err = Hnsw::load(&path).err().expect("refused").to_string();
        assert!(err.contains("link names no node"), "{err}");

        let mut g = Hnsw::build(&set, 100, 64);
        g.levels[3] = MAX_LEVEL;
        g.save(&path).unwrap();
        assert!(Hnsw::load(&path).is_err(), "a level without its lists");

        Hnsw::build(&set, 100, 64).save(&path).unwrap();
        assert_eq!(Hnsw::load(&path).unwrap().len(), 100);
    }
}
