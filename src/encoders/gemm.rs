//! Linear layers' matrix products on the CPU, `act(x·Wᵀ + b)`: the weight packed once at load
//! into panels of 16 columns, an AVX-512 or AVX2/FMA micro-kernel chosen at run time (a portable
//! one elsewhere), blocking over the depth so a panel's block stays in L1, and rayon over tiles of
//! the output so that one image (50 rows) still uses every core. The int8 layers (`qgemm`)
//! share the candle operation and the tiling.

use std::mem::MaybeUninit;
use std::ops::Range;

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape as CandleShape, Tensor,
};
use rayon::prelude::*;

use super::activation::{Act, act_in_place};

/// Columns per panel: one AVX-512 register, two of AVX2.
const NR: usize = 16;
/// Rows per micro-tile: 12 accumulators, 2 panel registers and a broadcast fill AVX2's 16.
const MR: usize = 6;
/// Depth per block: a panel's block (16 KB; a pair's 32 KB on AVX-512) stays in L1 while it
/// meets every row of a tile.
const KC: usize = 256;
/// Rows per tile: its block of `x` (144 KB at `KC`) stays in L2 while it meets every panel.
const MC: usize = 144;

/// One depth step of a panel, aligned for whole-register loads.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Lanes([f32; NR]);

/// A linear layer's weight and bias, packed for its [`Product`].
pub(crate) struct Packed {
    k: usize,
    n: usize,
    /// Panel `j` is columns `16j..16j+16` of `Wᵀ`, depth by depth: `panels[j·k + p].0[l]` is
    /// `W[16j + l][p]`, zero past `n`.
    panels: Vec<Lanes>,
    /// Padded with zeros to whole panels.
    bias: Option<Vec<f32>>,
}

/// How a micro-tile's accumulators start.
#[derive(Clone, Copy)]
enum Start {
    Zero,
    /// From the bias, at the panel's first column (padded to whole panels).
    Bias(*const f32),
    /// From what the output holds (the blocks of depth before this one).
    Output,
}

/// A micro-kernel of `R` rows: `c[0..R][0..NR] = start + a·b` over `kc` depth steps, `a` given
/// as one pointer per row (each `kc` long; those past `R` unread), `c` with row stride `ldc`,
/// whole.
type Kernel = unsafe fn(usize, &[*const f32; MR], *const Lanes, Start, *mut f32, usize);

/// As [`Kernel`] over two adjacent panels at once (`2·NR` columns; the second panel
/// `stride` steps after the first), where the CPU has the registers for it.
type Kernel2 = unsafe fn(usize, &[*const f32; MR], *const Lanes, usize, Start, *mut f32, usize);

/// The micro-kernels a product runs, by rows: entry `h - 1` computes `h` rows (a tile's last
/// rows need not be whole).
#[derive(Clone, Copy)]
struct Kernels {
    one: [Kernel; MR],
    two: Option<[Kernel2; MR]>,
}

/// A kernel generic over its rows as a table by rows (`MR` of them), as [`Kernels`] holds.
macro_rules! by_rows {
    ($($f:ident)::+) => {
        [
            $($f)::+::<1>,
            $($f)::+::<2>,
            $($f)::+::<3>,
            $($f)::+::<4>,
            $($f)::+::<5>,
            $($f)::+::<6>,
        ]
    };
}
pub(super) use by_rows;

impl Packed {
    /// From `w` `[n, k]` row-major (a linear layer's `[out, in]`) and its bias of `n`.
    pub(crate) fn new(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> Packed {
        assert_eq!(w.len(), n * k, "weight of {n}×{k}");
        let count = n.div_ceil(NR);
        let mut panels = vec![Lanes([0.0; NR]); count * k];
        for (row, weights) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            let (j, lane) = (row / NR, row % NR);
            for (p, &v) in weights.iter().enumerate() {
                panels[j * k + p].0[lane] = v;
            }
        }
        let bias = bias.map(|b| {
            assert_eq!(b.len(), n, "bias of {n}");
            let mut padded = b.to_vec();
            padded.resize(count * NR, 0.0);
            padded
        });
        Packed { k, n, panels, bias }
    }

    /// From a linear layer on the CPU in f32; `None` for any other.
    pub(crate) fn from_linear(l: &candle_nn::Linear) -> Result<Option<Packed>> {
        Ok(cpu_weights(l)?.map(|(w, n, k, b)| Packed::new(&w, n, k, b.as_deref())))
    }

    fn forward_with(&self, kernel: Kernels, x: &[f32], m: usize, then: Then) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert_eq!(x.len(), m * k, "input of {m}×{k}");
        // SAFETY: each tile writes all its outputs; `by_tiles` hands out disjoint tiles.
        unsafe {
            by_tiles(m, n, NR, MC, MR, |rows, tile, ptr| {
                self.tile(kernel, x, rows, tile, ptr, then)
            })
        }
    }

    /// Rows `rows` × panels `tile` of the output.
    ///
    /// # Safety
    /// `out` is `[m, n]` with `m ≥ rows.end`, and no other thread touches this tile.
    unsafe fn tile(
        &self,
        kernels: Kernels,
        x: &[f32],
        rows: Range<usize>,
        tile: Range<usize>,
        out: Shared,
        then: Then,
    ) {
        let (k, n) = (self.k, self.n);
        let mut scratch = [0f32; MR * NR];
        let mut depth = 0;
        loop {
            let kc = KC.min(k - depth);
            let b = |j: usize| self.panels[j * k + depth..].as_ptr();
            let start = |j: usize| match (depth, &self.bias) {
                (0, Some(bias)) => Start::Bias(bias[j * NR..].as_ptr()),
                (0, None) => Start::Zero,
                _ => Start::Output,
            };
            let mut j = tile.start;
            while j < tile.end {
                // Two whole panels at once where the kernel exists.
                let two = kernels
                    .two
                    .filter(|_| j + 1 < tile.end && (j + 2) * NR <= n);
                for r in rows.clone().step_by(MR) {
                    let height = MR.min(rows.end - r);
                    // Rows past `height` repeat the last one; the kernel reads `height` of them.
                    let a =
                        std::array::from_fn(|i| x[(r + i.min(height - 1)) * k + depth..].as_ptr());
                    if let Some(kernel) = two {
                        let c = unsafe { out.0.add(r * n + j * NR) };
                        unsafe { kernel[height - 1](kc, &a, b(j), k, start(j), c, n) };
                        continue;
                    }
                    let one = kernels.one[height - 1];
                    let c = unsafe { out.0.add(r * n + j * NR) };
                    let cols = NR.min(n - j * NR);
                    if cols == NR {
                        unsafe { one(kc, &a, b(j), start(j), c, n) };
                        continue;
                    }
                    // A tile at the right edge goes through a whole one on the stack (holding
                    // the sums so far after the first block of depth; the output starts unset).
                    let s = scratch.as_mut_ptr();
                    for i in (0..height).filter(|_| depth > 0) {
                        unsafe { std::ptr::copy_nonoverlapping(c.add(i * n), s.add(i * NR), cols) };
                    }
                    unsafe { one(kc, &a, b(j), start(j), s, NR) };
                    for i in 0..height {
                        unsafe { std::ptr::copy_nonoverlapping(s.add(i * NR), c.add(i * n), cols) };
                    }
                }
                j += 1 + two.is_some() as usize;
            }
            depth += kc;
            if depth >= k {
                break;
            }
        }
        unsafe { then.finish(out, n, rows, tile.start * NR..(tile.end * NR).min(n)) };
    }
}

impl Product for Packed {
    fn sizes(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    fn forward(&self, x: &[f32], m: usize, then: Then) -> Vec<f32> {
        self.forward_with(kernel(), x, m, then)
    }
}

/// What follows the product on each tile while it is in cache: an activation, then a residual
/// (`[m, n]`, row-major) added.
#[derive(Clone, Copy, Default)]
pub(crate) struct Then<'a> {
    pub act: Option<Act>,
    pub add: Option<&'a [f32]>,
}

impl From<Option<Act>> for Then<'_> {
    fn from(act: Option<Act>) -> Self {
        Then { act, add: None }
    }
}

impl Then<'_> {
    /// On rows `rows` × columns `cols` of an output `[m, n]`.
    ///
    /// # Safety
    /// As the tile's: `out` is `[m, n]` with `m ≥ rows.end`, no other thread touches the tile.
    pub(super) unsafe fn finish(
        self,
        out: Shared,
        n: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) {
        if self.act.is_none() && self.add.is_none() {
            return;
        }
        for r in rows {
            let at = r * n + cols.start..r * n + cols.end;
            let row = unsafe { std::slice::from_raw_parts_mut(out.0.add(at.start), at.len()) };
            if let Some(act) = self.act {
                act_in_place(row, act);
            }
            if let Some(add) = self.add {
                row.iter_mut().zip(&add[at]).for_each(|(o, a)| *o += a);
            }
        }
    }
}

/// What the f32 and int8 layers (`qgemm`) share: the product of a whole input.
pub(crate) trait Product: Sync {
    /// The input's and the output's widths.
    fn sizes(&self) -> (usize, usize);
    /// `act(x·Wᵀ + b) + add` for `x` `[m, k]` row-major; `[m, n]` row-major.
    fn forward(&self, x: &[f32], m: usize, then: Then) -> Vec<f32>;
}

/// `act(xs·Wᵀ + b) + add` for a tensor `[rows, k]` on the CPU (`add` `[rows, n]`).
pub(crate) fn apply<P: Product>(
    w: &P,
    xs: &Tensor,
    act: Option<Act>,
    add: Option<&Tensor>,
) -> Result<Tensor> {
    let op = Apply { w, act };
    match add {
        None => xs.apply_op1_no_bwd(&op),
        Some(add) => xs.apply_op2_no_bwd(&add.contiguous()?, &op),
    }
}

/// A linear layer's weight `[n, k]` as `(weight, n, k, bias)`, when it is on the CPU in f32.
pub(crate) type CpuWeights = (Vec<f32>, usize, usize, Option<Vec<f32>>);

pub(crate) fn cpu_weights(l: &candle_nn::Linear) -> Result<Option<CpuWeights>> {
    let w = l.weight();
    if !w.device().is_cpu() || w.dtype() != DType::F32 {
        return Ok(None);
    }
    let (n, k) = w.dims2()?;
    let bias = l.bias().map(|b| b.to_vec1::<f32>()).transpose()?;
    Ok(Some((w.flatten_all()?.to_vec1::<f32>()?, n, k, bias)))
}

/// An `[m, n]` output (row-major) made by calling `tile(rows, panels, out)` on all cores for
/// tiles of at most `rows_per_tile` rows (whole runs of `row_step` but the last) and some of the
/// panels of `width` columns (in pairs, as the kernels take two at once): enough tiles that every
/// thread has work, as many for each thread where the panels allow, each as large as the others
/// to within a run of rows and a pair of panels, no two sharing an element. The output is not
/// cleared first.
///
/// # Safety
/// `tile` writes every output of its rows and its panels' columns (those below `n`) through
/// `out`, and no other.
pub(super) unsafe fn by_tiles(
    m: usize,
    n: usize,
    width: usize,
    rows_per_tile: usize,
    row_step: usize,
    tile: impl Fn(Range<usize>, Range<usize>, Shared) + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(m * n);
    let panels = n.div_ceil(width);
    if m > 0 && panels > 0 {
        let threads = rayon::current_num_threads().max(1);
        let steps = m.div_ceil(row_step);
        let row_tiles = m.div_ceil(rows_per_tile).min(steps);
        let pairs = panels.div_ceil(2);
        let mut col_tiles = (3 * threads).div_ceil(row_tiles).min(pairs);
        // Rayon halves the tiles between threads: a multiple of the threads shares evenly.
        while !(row_tiles * col_tiles).is_multiple_of(threads) && col_tiles < pairs {
            col_tiles += 1;
        }
        // The `i`th of `parts` even parts of `units` units of `size` things, `total` in all.
        let part = |i: usize, parts: usize, units: usize, size: usize, total: usize| {
            (i * units / parts * size).min(total)..((i + 1) * units / parts * size).min(total)
        };
        let ptr = Shared(out.as_mut_ptr());
        (0..row_tiles * col_tiles).into_par_iter().for_each(|t| {
            let (r, c) = (t / col_tiles, t % col_tiles);
            let rows = part(r, row_tiles, steps, row_step, m);
            tile(rows, part(c, col_tiles, pairs, 2, panels), ptr);
        });
    }
    // SAFETY: the tiles cover the output and each wrote all of its part.
    unsafe { out.set_len(m * n) };
    out
}

/// `len` values made in parallel: `fill(i, chunk)` writes the `i`th run of `chunk` values
/// (the last may be shorter), handed over zeroed. Each run is zeroed by the thread that fills
/// it, while in its cache; `vec![0; len]` would zero it all on one thread first.
pub(crate) fn par_zeroed<T: Default + Copy + Send + Sync>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, run)| fill(i, zeroed(run)));
    // SAFETY: the runs cover all `len` values, each written above.
    unsafe { out.set_len(len) };
    out
}

/// `run` set to zeros, as the values it now holds.
pub(crate) fn zeroed<T: Default + Copy>(run: &mut [MaybeUninit<T>]) -> &mut [T] {
    run.fill(MaybeUninit::new(T::default()));
    // SAFETY: every value of `run` was just written.
    unsafe { &mut *(run as *mut [MaybeUninit<T>] as *mut [T]) }
}

struct Apply<'a, P> {
    w: &'a P,
    act: Option<Act>,
}

/// The `f32` elements of a contiguous CPU tensor, for the custom operations: `what` names the
/// operand in the error otherwise.
pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(xs) = s else {
        candle_core::bail!("{what} takes f32");
    };
    let Some((from, to)) = l.contiguous_offsets() else {
        candle_core::bail!("{what} takes a contiguous tensor");
    };
    Ok(&xs[from..to])
}

impl<P: Product> Apply<'_, P> {
    fn run(
        &self,
        s: &CpuStorage,
        l: &Layout,
        add: Option<&[f32]>,
    ) -> Result<(CpuStorage, CandleShape)> {
        let xs = f32_slice(s, l, "a packed linear layer")?;
        let Ok((m, k)) = l.shape().dims2() else {
            candle_core::bail!("a packed linear layer takes a matrix");
        };
        let (width, n) = self.w.sizes();
        if k != width {
            candle_core::bail!("input of width {k} for a layer of width {width}");
        }
        if add.is_some_and(|a| a.len() != m * n) {
            candle_core::bail!("a residual of another size than the {m}×{n} output");
        }
        let then = Then { act: self.act, add };
        let out = self.w.forward(xs, m, then);
        Ok((CpuStorage::F32(out), CandleShape::from((m, n))))
    }
}

impl<P: Product> CustomOp1 for Apply<'_, P> {
    fn name(&self) -> &'static str {
        "packed-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, CandleShape)> {
        self.run(s, l, None)
    }
}

impl<P: Product> CustomOp2 for Apply<'_, P> {
    fn name(&self) -> &'static str {
        "packed-linear-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, CandleShape)> {
        self.run(s1, l1, Some(f32_slice(s2, l2, "a residual")?))
    }
}

/// The output, written by tiles on several threads.
#[derive(Clone, Copy)]
pub(super) struct Shared(pub(super) *mut f32);
// SAFETY: written only through disjoint tiles (see `by_tiles`).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// The best micro-kernels this CPU runs.
fn kernel() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        return Kernels {
            one: by_rows!(avx512::kernel),
            two: Some(by_rows!(avx512::kernel2)),
        };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        return Kernels {
            one: by_rows!(avx2::kernel),
            two: None,
        };
    }
    Kernels {
        one: by_rows!(portable),
        two: None,
    }
}

/// Plain Rust, for CPUs without AVX2 and FMA (the compiler vectorises what it can).
///
/// # Safety
/// Each `a[i]` (`i < R ≤ MR`) has `kc` values, `b` has `kc` steps, `c` has `R` rows of `NR` at
/// stride `ldc`, and a bias start has `NR` values.
unsafe fn portable<const R: usize>(
    kc: usize,
    a: &[*const f32; MR],
    b: *const Lanes,
    start: Start,
    c: *mut f32,
    ldc: usize,
) {
    let mut acc = [[0f32; NR]; R];
    for (i, row) in acc.iter_mut().enumerate() {
        match start {
            Start::Zero => {}
            Start::Bias(bias) => {
                row.copy_from_slice(unsafe { std::slice::from_raw_parts(bias, NR) });
            }
            Start::Output => {
                row.copy_from_slice(unsafe { std::slice::from_raw_parts(c.add(i * ldc), NR) });
            }
        }
    }
    let a: [&[f32]; R] = std::array::from_fn(|i| unsafe { std::slice::from_raw_parts(a[i], kc) });
    let b = unsafe { std::slice::from_raw_parts(b, kc) };
    for (p, lanes) in b.iter().enumerate() {
        for (row, ai) in acc.iter_mut().zip(&a) {
            let v = ai[p];
            for (o, w) in row.iter_mut().zip(&lanes.0) {
                *o += v * w;
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), c.add(i * ldc), NR) };
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::sync::LazyLock;

    use super::{Lanes, MR, Start};

    static AVAILABLE: LazyLock<bool> =
        LazyLock::new(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));

    pub(super) fn available() -> bool {
        *AVAILABLE
    }

    /// The AVX2/FMA micro-kernel: up to 6 rows × 16 columns in 12 registers.
    ///
    /// # Safety
    /// As [`super::portable`], on a CPU with AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn kernel<const R: usize>(
        kc: usize,
        a: &[*const f32; MR],
        b: *const Lanes,
        start: Start,
        c: *mut f32,
        ldc: usize,
    ) {
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            match start {
                Start::Zero => {}
                Start::Bias(bias) => {
                    let (lo, hi) = (_mm256_loadu_ps(bias), _mm256_loadu_ps(bias.add(8)));
                    acc = [[lo, hi]; R];
                }
                Start::Output => {
                    for (i, row) in acc.iter_mut().enumerate() {
                        let ci = c.add(i * ldc);
                        *row = [_mm256_loadu_ps(ci), _mm256_loadu_ps(ci.add(8))];
                    }
                }
            }
            for p in 0..kc {
                let w = (*b.add(p)).0.as_ptr();
                let (lo, hi) = (_mm256_load_ps(w), _mm256_load_ps(w.add(8)));
                for (row, &ai) in acc.iter_mut().zip(a) {
                    let v = _mm256_broadcast_ss(&*ai.add(p));
                    row[0] = _mm256_fmadd_ps(v, lo, row[0]);
                    row[1] = _mm256_fmadd_ps(v, hi, row[1]);
                }
            }
            for (i, row) in acc.iter().enumerate() {
                let ci = c.add(i * ldc);
                _mm256_storeu_ps(ci, row[0]);
                _mm256_storeu_ps(ci.add(8), row[1]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::sync::LazyLock;

    use super::{Lanes, MR, Start};

    static AVAILABLE: LazyLock<bool> = LazyLock::new(|| is_x86_feature_detected!("avx512f"));

    pub(super) fn available() -> bool {
        *AVAILABLE
    }

    /// The AVX-512 micro-kernel: up to 6 rows × 16 columns, one register per row for even depth
    /// steps and one for odd ones, so that twelve sums are in flight (FMA's latency hidden).
    ///
    /// # Safety
    /// As [`super::portable`], on a CPU with AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn kernel<const R: usize>(
        kc: usize,
        a: &[*const f32; MR],
        b: *const Lanes,
        start: Start,
        c: *mut f32,
        ldc: usize,
    ) {
        unsafe {
            let mut even = starting::<R>(start, c, ldc, 0);
            let mut odd = [_mm512_setzero_ps(); R];
            macro_rules! step {
                ($acc:ident, $p:expr) => {
                    let w = _mm512_load_ps((*b.add($p)).0.as_ptr());
                    for (sum, &ai) in $acc.iter_mut().zip(a) {
                        *sum = _mm512_fmadd_ps(_mm512_set1_ps(*ai.add($p)), w, *sum);
                    }
                };
            }
            let mut p = 0;
            while p + 1 < kc {
                step!(even, p);
                step!(odd, p + 1);
                p += 2;
            }
            if p < kc {
                step!(even, p);
            }
            for (i, (e, o)) in even.iter().zip(&odd).enumerate() {
                _mm512_storeu_ps(c.add(i * ldc), _mm512_add_ps(*e, *o));
            }
        }
    }

    /// The `R` rows' sums of 16 columns from `col` on, as `start` says they begin.
    ///
    /// # Safety
    /// As the kernels': `start`'s bias and `c`'s rows (`ldc` apart) hold those columns.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn starting<const R: usize>(
        start: Start,
        c: *const f32,
        ldc: usize,
        col: usize,
    ) -> [__m512; R] {
        unsafe {
            match start {
                Start::Zero => [_mm512_setzero_ps(); R],
                Start::Bias(bias) => [_mm512_loadu_ps(bias.add(col)); R],
                Start::Output => {
                    let mut rows = [_mm512_setzero_ps(); R];
                    for (i, row) in rows.iter_mut().enumerate() {
                        *row = _mm512_loadu_ps(c.add(i * ldc + col));
                    }
                    rows
                }
            }
        }
    }

    /// Up to 6 rows × 32 columns (two panels), a register per row and panel: twelve sums in flight,
    /// and each broadcast of `a` feeds two FMAs (one load per FMA is one too many for the two
    /// FMA units of Intel's AVX-512 cores).
    ///
    /// # Safety
    /// As [`kernel`], with a second panel `stride` steps after `b` and 32 columns of `c`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn kernel2<const R: usize>(
        kc: usize,
        a: &[*const f32; MR],
        b: *const Lanes,
        stride: usize,
        start: Start,
        c: *mut f32,
        ldc: usize,
    ) {
        unsafe {
            let mut left = starting::<R>(start, c, ldc, 0);
            let mut right = starting::<R>(start, c, ldc, 16);
            let b2 = b.add(stride);
            for p in 0..kc {
                let wl = _mm512_load_ps((*b.add(p)).0.as_ptr());
                let wr = _mm512_load_ps((*b2.add(p)).0.as_ptr());
                for ((l, r), &ai) in left.iter_mut().zip(&mut right).zip(a) {
                    let v = _mm512_set1_ps(*ai.add(p));
                    *l = _mm512_fmadd_ps(v, wl, *l);
                    *r = _mm512_fmadd_ps(v, wr, *r);
                }
            }
            for (i, (l, r)) in left.iter().zip(&right).enumerate() {
                _mm512_storeu_ps(c.add(i * ldc), *l);
                _mm512_storeu_ps(c.add(i * ldc + 16), *r);
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Small pseudo-random numbers in [-1, 1), reproducible.
    pub(crate) fn numbers(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
            })
            .collect()
    }

    /// The plain definition, in f64.
    fn reference(
        x: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        m: usize,
        n: usize,
        k: usize,
    ) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|p| x[i * k + p] as f64 * w[j * k + p] as f64)
                    .sum();
                out[i * n + j] = dot + b.map_or(0.0, |b| b[j] as f64);
            }
        }
        out
    }

    fn kernels() -> Vec<(&'static str, Kernels)> {
        let one = |one| Kernels { one, two: None };
        let mut all = vec![("portable", one(by_rows!(portable)))];
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            all.push(("avx2", one(by_rows!(avx2::kernel))));
        }
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            all.push(("avx512", one(by_rows!(avx512::kernel))));
            all.push((
                "avx512 two panels",
                Kernels {
                    two: Some(by_rows!(avx512::kernel2)),
                    ..one(by_rows!(avx512::kernel))
                },
            ));
        }
        all
    }

    #[test]
    fn every_kernel_matches_the_plain_product_at_odd_sizes() {
        let sizes = [
            (1, 1, 1),
            (1, 16, 7),
            (5, 17, 3),
            (6, 16, 256),
            (7, 33, 257),
            (13, 40, 600),
            (50, 70, 96),
            (150, 19, 513),
            (20, 200, 300),
            (4, 48, 33),
            (9, 64, 20),
        ];
        // On one thread too, where every tile is several panels wide (pairs of panels).
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (name, kernel) in kernels() {
            for &(m, n, k) in &sizes {
                let x = numbers(m * k, 1 + m as u64);
                let w = numbers(n * k, 2 + n as u64);
                let b = numbers(n, 3);
                for (bias, single) in [(None, false), (Some(&b[..]), false), (Some(&b[..]), true)] {
                    let packed = Packed::new(&w, n, k, bias);
                    let run = || packed.forward_with(kernel, &x, m, Then::default());
                    let got = if single {
                        one_thread.install(run)
                    } else {
                        run()
                    };
                    let want = reference(&x, &w, bias, m, n, k);
                    for (g, w) in got.iter().zip(&want) {
                        let tol = 1e-5 * (k as f64).sqrt().max(1.0);
                        assert!(
                            (*g as f64 - w).abs() < tol,
                            "{name} {m}×{n}×{k} bias {}: {g} vs {w}",
                            bias.is_some()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_tiles_cover_the_output_once_and_share_it_evenly_between_threads() {
        use std::sync::Mutex;
        // (rows, columns): an image at batch 1 and 8, a text at batch 8, odd sizes.
        let sizes = [
            (50, 768),
            (400, 3072),
            (128, 512),
            (7, 17),
            (1, 1),
            (145, 2304),
            (13, 40),
        ];
        for threads in [1, 2, 3, 7] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for &(m, n) in &sizes {
                let tiles = Mutex::new(Vec::new());
                let out = pool.install(|| unsafe {
                    by_tiles(m, n, NR, MC, MR, |rows, panels, out| {
                        let cols = panels.start * NR..(panels.end * NR).min(n);
                        for r in rows.clone() {
                            for c in cols.clone() {
                                *out.0.add(r * n + c) = 1.0 + (r * n + c) as f32;
                            }
                        }
                        tiles.lock().unwrap().push((rows, panels));
                    })
                });
                let want: Vec<f32> = (0..m * n).map(|i| 1.0 + i as f32).collect();
                assert_eq!(out, want, "{m}×{n} on {threads} threads");
                let tiles = tiles.into_inner().unwrap();
                let area: usize = tiles.iter().map(|(r, p)| r.len() * p.len()).sum();
                assert_eq!(
                    area,
                    m * n.div_ceil(NR),
                    "tiles overlap: {m}×{n}, {threads} threads"
                );
                let pairs = n.div_ceil(NR).div_ceil(2);
                if tiles.len() < m.div_ceil(MC) * pairs {
                    assert_eq!(tiles.len() % threads, 0, "{m}×{n}: {} tiles", tiles.len());
                }
                // No tile larger than another by more than a run of rows and a pair of panels.
                for (r, p) in &tiles {
                    assert!(r.len() <= MC && r.start % MR == 0 && p.start % 2 == 0);
                    for (r2, p2) in &tiles {
                        assert!(r.len() <= r2.len() + MR && p.len() <= p2.len() + 2);
                    }
                }
            }
        }
    }

    #[test]
    fn the_activation_is_applied_to_every_output_once() {
        let (m, n, k) = (20, 35, 300);
        // Scaled so outputs stay within the Taylor series' reach.
        let x: Vec<f32> = numbers(m * k, 4).iter().map(|v| v * 0.1).collect();
        let w = numbers(n * k, 5);
        let b = numbers(n, 6);
        let packed = Packed::new(&w, n, k, Some(&b));
        for (name, kernel) in kernels() {
            let plain = packed.forward_with(kernel, &x, m, Then::default());
            let got = packed.forward_with(kernel, &x, m, Then::from(Some(Act::Gelu)));
            for (g, p) in got.iter().zip(&plain) {
                let want = 0.5 * p * (1.0 + libm_free_erf(p / std::f32::consts::SQRT_2));
                assert!(
                    (g - want).abs() < 1e-5,
                    "{name}: gelu({p}) = {g}, want {want}"
                );
            }
        }
    }

    #[test]
    fn a_residual_is_added_after_the_activation_on_every_tile() {
        let (m, n, k) = (31, 45, 70);
        let x = numbers(m * k, 11);
        let w = numbers(n * k, 12);
        let residual = numbers(m * n, 13);
        let packed = Packed::new(&w, n, k, None);
        for (name, kernel) in kernels() {
            let act = packed.forward_with(kernel, &x, m, Then::from(Some(Act::QuickGelu)));
            let then = Then {
                act: Some(Act::QuickGelu),
                add: Some(&residual),
            };
            let got = packed.forward_with(kernel, &x, m, then);
            for ((g, a), r) in got.iter().zip(&act).zip(&residual) {
                assert_eq!(*g, a + r, "{name}");
            }
        }
    }

    /// erf by its Taylor series (enough for |x| < 3 in f64).
    fn libm_free_erf(x: f32) -> f32 {
        let x = x as f64;
        let (mut sum, mut term, mut k) = (0.0, x, 0.0);
        while term.abs() > 1e-17 {
            sum += term / (2.0 * k + 1.0);
            k += 1.0;
            term *= -x * x / k;
        }
        (sum * 2.0 / std::f64::consts::PI.sqrt()) as f32
    }

    #[test]
    fn empty_inputs_give_empty_or_bias_outputs() {
        let packed = Packed::new(&[], 3, 0, Some(&[1.0, 2.0, 3.0]));
        assert_eq!(
            packed.forward(&[], 2, Then::default()),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        let packed = Packed::new(&numbers(12, 7), 3, 4, None);
        assert!(packed.forward(&[], 0, Then::default()).is_empty());
    }
}
