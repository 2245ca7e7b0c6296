//! int8 linear layers on the CPU, `act(x·Wᵀ + b)`: the weight quantised once per output column
//! to ±127 and packed in blocks of 16 columns × 4 depths (64 bytes); each row of `x` centred on
//! the middle of its range and quantised with its own scale; products summed in i32; scales, the
//! centre's correction and the bias applied once per output. Two families of kernels:
//!
//! - **narrow** (AVX-512 VNNI, or AVX-VNNI where AVX-512 is absent, as on Intel's laptop and
//!   desktop cores since 2021): rows to ±127 in i8, weights stored plus 128 as u8, four products
//!   per lane summed by one `vpdpbusd` (64 per instruction, 32 with AVX-VNNI's 256 bits); the
//!   128s' share, 128 × the row's sum, taken off once per output.
//! - **wide** (AVX2, AVX-512BW without VNNI, portable): rows to ±2047 in i16, `vpmaddwd` of
//!   depth pairs (16 products per instruction on AVX2, 32 on AVX-512BW). AVX2
//!   has no 8-bit product that is both exact and fast (`vpmaddubsw` saturates at 16 bits unless
//!   weights or rows lose a bit), so it spends 16 bits on rows, which also agree with f32 better.
//!
//! Rows get at most as many levels as keep every i32 sum exact.

use std::ops::Range;

use candle_core::Result;
use rayon::prelude::*;

use super::activation::CHUNK_ELEMENTS;
use super::gemm::{Product, Shared, Then, by_tiles, cpu_weights, zeroed};

/// Columns per panel: 16 i32 sums, one AVX-512 register (two AVX2 ones).
const NR: usize = 16;
/// Rows per micro-tile: 12 accumulators, 2 weight registers and a broadcast fill AVX2's 16.
const MR: usize = 6;
/// Rows per tile.
const MC: usize = 144;
/// The weights' largest quantised magnitude.
const WMAX: i32 = 127;
/// Narrow kernels' weights are stored plus this, as u8.
const UNSIGNED: i32 = 128;

/// Four depths of a panel. Wide kernels: two [`Pair`]s. Narrow kernels: bytes `4l..4l + 4` are
/// column `l`'s four weights plus [`UNSIGNED`].
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Block([u8; 64]);

/// One depth pair of a panel: bytes `2l, 2l+1` are column `l`'s two weights for columns 0–7,
/// bytes `16 + 2l, 16 + 2l + 1` for columns 8–15.
#[repr(C, align(32))]
#[derive(Clone, Copy)]
struct Pair([i8; 32]);

/// A wide micro-kernel: the i32 sums of `MR` rows (`a`, one pointer per row; i16, `2·pairs`
/// long) with one panel of `pairs` [`Pair`]s, into `out` row by row.
type WideFn = unsafe fn(usize, &[*const i16; MR], *const Pair, &mut [[i32; NR]; MR]);
/// A narrow micro-kernel: as [`WideFn`] for i8 rows `4·blocks` long and `blocks` [`Block`]s;
/// sums wrap (the correction unwraps them).
type NarrowFn = unsafe fn(usize, &[*const i8; MR], *const Block, &mut [[i32; NR]; MR]);
/// As [`NarrowFn`] over two adjacent panels at once (the second `blocks` blocks after the
/// first), their sums into `out[0]` and `out[1]`: each broadcast row value feeds two products.
type Narrow2Fn = unsafe fn(usize, &[*const i8; MR], *const Block, &mut [[[i32; NR]; MR]; 2]);

#[derive(Clone, Copy)]
enum Kernel {
    Wide(WideFn),
    /// By the rows they sum: entry `h - 1` sums the first `h` rows at least (a tile's last
    /// rows need not be whole); the two-panel kernels likewise, where the CPU has them.
    Narrow([NarrowFn; MR], Option<[Narrow2Fn; MR]>),
}

impl Kernel {
    /// The rows' largest quantised magnitude, before the limit that keeps sums exact.
    fn levels(self) -> i32 {
        match self {
            Kernel::Wide(_) => 2047,
            Kernel::Narrow(..) => 127,
        }
    }
}

/// A linear layer's weight quantised and packed for its [`Product`], with its bias.
pub(crate) struct QPacked {
    k: usize,
    n: usize,
    /// The kernel the panels are packed for.
    kernel: Kernel,
    /// Depth blocks (the depth padded with zero weights).
    blocks: usize,
    /// Panel `j`, block `g`: `panels[j·blocks + g]`; zero past `n` and `k`.
    panels: Vec<Block>,
    /// Per column (padded to whole panels): the weight's scale, the sum of its quantised
    /// values, and the bias.
    scale: Vec<f32>,
    sum: Vec<f32>,
    bias: Vec<f32>,
    /// The rows' largest quantised magnitude for this depth.
    xmax: i32,
}

/// A quantised row value.
trait Level: Copy + Default + Send + Sync {
    /// From a number within range.
    fn of(v: i32) -> Self;
    fn value(self) -> i32;
}

impl Level for i16 {
    fn of(v: i32) -> Self {
        v as i16
    }
    fn value(self) -> i32 {
        self as i32
    }
}

impl Level for i8 {
    fn of(v: i32) -> Self {
        v as i8
    }
    fn value(self) -> i32 {
        self as i32
    }
}

/// Rows of `x` quantised: `x ≈ offset + scale·q`; `fix` is what the kernel's sums carry beyond
/// `q·w` (narrow: the stored weights' 128 times the row's sum).
struct Rows<T> {
    q: Vec<T>,
    width: usize,
    scale: Vec<f32>,
    offset: Vec<f32>,
    fix: Vec<i32>,
}

impl QPacked {
    /// From `w` `[n, k]` row-major (a linear layer's `[out, in]`) and its bias of `n`, for the
    /// best kernel this CPU runs.
    pub(crate) fn new(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> QPacked {
        QPacked::for_kernel(w, n, k, bias, kernel())
    }

    fn for_kernel(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>, kernel: Kernel) -> QPacked {
        assert_eq!(w.len(), n * k, "weight of {n}×{k}");
        let blocks = k.div_ceil(4);
        let count = n.div_ceil(NR);
        let zero = match kernel {
            Kernel::Wide(_) => 0,
            Kernel::Narrow(..) => UNSIGNED as u8,
        };
        let mut panels = vec![Block([zero; 64]); count * blocks];
        let mut scale = vec![1f32; count * NR];
        let mut sum = vec![0i32; count * NR];
        for (col, weights) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            let top = weights.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if top > 0.0 { top / WMAX as f32 } else { 1.0 };
            // A damaged weight (NaN or infinite) gives NaN outputs, as in f32, not a zero.
            let finite = top.is_finite() && weights.iter().all(|v| v.is_finite());
            scale[col] = if finite { s } else { f32::NAN };
            let (j, lane) = (col / NR, col % NR);
            for (p, &v) in weights.iter().enumerate() {
                let q = (v / s).round().clamp(-WMAX as f32, WMAX as f32) as i32;
                let (g, d) = (p / 4, p % 4);
                let (at, byte) = match kernel {
                    Kernel::Wide(_) => (32 * (d / 2) + 16 * (lane / 8) + 2 * (lane % 8) + d % 2, q),
                    Kernel::Narrow(..) => (4 * lane + d, q + UNSIGNED),
                };
                panels[j * blocks + g].0[at] = byte as u8;
                sum[col] += q;
            }
        }
        let mut b = bias.map_or_else(Vec::new, |b| {
            assert_eq!(b.len(), n, "bias of {n}");
            b.to_vec()
        });
        b.resize(count * NR, 0.0);
        // Every sum of `k` products (before the narrow kernels' offset) stays within i32.
        let xmax = (i32::MAX as usize / (k.max(1) * WMAX as usize))
            .clamp(1, kernel.levels() as usize) as i32;
        QPacked {
            k,
            n,
            kernel,
            blocks,
            panels,
            scale,
            sum: sum.into_iter().map(|s| s as f32).collect(),
            bias: b,
            xmax,
        }
    }

    /// From a linear layer on the CPU in f32; `None` for any other.
    pub(crate) fn from_linear(l: &candle_nn::Linear) -> Result<Option<QPacked>> {
        Ok(cpu_weights(l)?.map(|(w, n, k, b)| QPacked::new(&w, n, k, b.as_deref())))
    }

    fn quantise<T: Level>(&self, x: &[f32], m: usize) -> Rows<T> {
        let (k, width) = (self.k, 4 * self.blocks);
        let top = self.xmax as f32;
        let narrow = matches!(self.kernel, Kernel::Narrow(..));
        let mut q = Vec::with_capacity(m * width);
        let mut scale = vec![1f32; m];
        let mut offset = vec![0f32; m];
        let mut fix = vec![0i32; m];
        // Each row zeroed by the thread that quantises it, not all of them by one thread first;
        // runs of rows at least `CHUNK_ELEMENTS` long, so that a text's few rows stay on this
        // thread rather than wake another for microseconds of work.
        q.spare_capacity_mut()[..m * width]
            .par_chunks_mut(width.max(1))
            .zip(scale.par_iter_mut().zip(offset.par_iter_mut()))
            .zip(fix.par_iter_mut())
            .enumerate()
            .with_min_len((CHUNK_ELEMENTS / k.max(1)).max(1))
            .for_each(|(i, ((q, (scale, offset)), fix))| {
                let row = &x[i * k..(i + 1) * k];
                (*scale, *offset, *fix) = quantise_row(zeroed(q), row, top, narrow);
            });
        // SAFETY: the rows cover all `m · width` values, each zeroed above.
        unsafe { q.set_len(m * width) };
        Rows {
            q,
            width,
            scale,
            offset,
            fix,
        }
    }

    /// Rows `rows` × panels `tile` of the output, each micro-tile's sums by
    /// `sums_of(height, rows, panel, sums)`: `height` rows (the rest of `rows` repeat the last)
    /// with one panel; or, where `pair_of` is given, by it for two adjacent panels at once (the
    /// second `self.blocks` blocks after the first).
    ///
    /// # Safety
    /// `out` is `[m, n]` with `m ≥ rows.end`, no other thread touches this tile, and `sums_of`
    /// and `pair_of` read no more than `height` rows of `x` and their panels.
    unsafe fn tile<T>(
        &self,
        x: &Rows<T>,
        rows: Range<usize>,
        tile: Range<usize>,
        out: Shared,
        then: Then,
        (sums_of, pair_of): (
            impl Fn(usize, &[*const T; MR], *const Block, &mut [[i32; NR]; MR]),
            Option<impl Fn(usize, &[*const T; MR], *const Block, &mut [[[i32; NR]; MR]; 2])>,
        ),
    ) {
        let n = self.n;
        let dequantise = dequantiser();
        let mut sums = [[[0i32; NR]; MR]; 2];
        // Outputs of panel `j`'s columns at rows `r..r + height` from their sums.
        let put = |sums: &[[i32; NR]; MR], r: usize, height: usize, j: usize| {
            let c0 = j * NR;
            let at = r..r + height;
            let row = [&x.scale[at.clone()], &x.offset[at.clone()]];
            let at = c0..c0 + NR;
            let col = [
                &self.scale[at.clone()],
                &self.sum[at.clone()],
                &self.bias[at],
            ];
            // SAFETY: the tile's rows `r..r + height` hold columns `c0..c0 + cols`.
            unsafe {
                let dst = out.0.add(r * n + c0);
                let cols = NR.min(n - c0);
                dequantise(sums, row, &x.fix[r..r + height], col, dst, n, cols);
            }
        };
        let mut j = tile.start;
        while j < tile.end {
            let b = self.panels[j * self.blocks..].as_ptr();
            let pair = pair_of.as_ref().filter(|_| j + 1 < tile.end);
            for r in rows.clone().step_by(MR) {
                let height = MR.min(rows.end - r);
                // Missing rows repeat the last one; any results for them are dropped.
                let a = std::array::from_fn(|i| x.q[(r + i.min(height - 1)) * x.width..].as_ptr());
                match pair {
                    Some(pair_of) => {
                        pair_of(height, &a, b, &mut sums);
                        put(&sums[0], r, height, j);
                        put(&sums[1], r, height, j + 1);
                    }
                    None => {
                        sums_of(height, &a, b, &mut sums[0]);
                        put(&sums[0], r, height, j);
                    }
                }
            }
            j += 1 + pair.is_some() as usize;
        }
        unsafe { then.finish(out, n, rows, tile.start * NR..(tile.end * NR).min(n)) };
    }
}

/// Outputs from a micro-tile's sums: for each of the rows (`[scales, offsets]` and `fixes`, as
/// many as the tile has) and the panel's 16 columns (`[scales, sums, biases]`), `scale ·
/// (row scale · (sum - fix) + row offset · column sum) + bias`, the first `cols` of them into
/// `dst`'s rows, `ldc` apart.
type Dequantise =
    unsafe fn(&[[i32; NR]; MR], [&[f32]; 2], &[i32], [&[f32]; 3], *mut f32, usize, usize);

/// The [`Dequantise`] this CPU runs; every kernel's sums go through the same one.
fn dequantiser() -> Dequantise {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        return avx512::dequantise;
    }
    dequantise_each
}

/// [`Dequantise`] one output at a time.
///
/// # Safety
/// `dst` holds `cols` values at each row.
unsafe fn dequantise_each(
    sums: &[[i32; NR]; MR],
    [xs, xo]: [&[f32]; 2],
    fix: &[i32],
    [scale, sum, bias]: [&[f32]; 3],
    dst: *mut f32,
    ldc: usize,
    cols: usize,
) {
    for (i, ((s, (&xs, &xo)), &fix)) in sums.iter().zip(xs.iter().zip(xo)).zip(fix).enumerate() {
        let dst = unsafe { std::slice::from_raw_parts_mut(dst.add(i * ldc), cols) };
        for ((d, &s), ((&scale, &sum), &bias)) in
            dst.iter_mut().zip(s).zip(scale.iter().zip(sum).zip(bias))
        {
            *d = scale * (xs * s.wrapping_sub(fix) as f32 + xo * sum) + bias;
        }
    }
}

/// `row ≈ offset + scale·q` with `q` within ±`top` (`q` may be longer: left zero), as
/// `(scale, offset, fix)`; `fix` is 128 × the sum of `q` for `narrow` kernels, else 0.
fn quantise_row<T: Level>(q: &mut [T], row: &[f32], top: f32, narrow: bool) -> (f32, f32, i32) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512bw") {
        // SAFETY: the feature was detected.
        return unsafe { avx512::quantise_row(q, row, top, narrow) };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the features were detected.
        return unsafe { avx2::quantise_row(q, row, top, narrow) };
    }
    quantise_each(q, row, top, narrow, extremes(row))
}

/// The least and greatest of `row` and 0, and whether it holds a NaN.
fn extremes(row: &[f32]) -> (f32, f32, bool) {
    row.iter().fold((0f32, 0f32, false), |(lo, hi, nan), &v| {
        (lo.min(v), hi.max(v), nan | v.is_nan())
    })
}

/// [`quantise_row`] given `row`'s [`extremes`].
#[inline(always)]
fn quantise_each<T: Level>(
    q: &mut [T],
    row: &[f32],
    top: f32,
    narrow: bool,
    (lo, hi, nan): (f32, f32, bool),
) -> (f32, f32, i32) {
    let mid = 0.5 * (lo + hi);
    let s = if hi > lo { 0.5 * (hi - lo) / top } else { 1.0 };
    let inv = 1.0 / s;
    for (q, &v) in q.iter_mut().zip(row) {
        // `max` and `min` turn NaN into a bound, so the conversion is always in range.
        let v = ((v - mid) * inv).round_ties_even().max(-top).min(top);
        // SAFETY: `v` is finite and within ±`top` ≤ the type's range.
        *q = T::of(unsafe { v.to_int_unchecked::<i32>() });
    }
    let fix = if narrow {
        UNSIGNED.wrapping_mul(q.iter().map(|v| v.value()).sum::<i32>())
    } else {
        0
    };
    // A NaN or infinite input gives NaN outputs, as in f32, not a number.
    let finite = hi - lo < f32::INFINITY && !nan;
    (if finite { s } else { f32::NAN }, mid, fix)
}

impl Product for QPacked {
    fn sizes(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    fn forward(&self, x: &[f32], m: usize, then: Then) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert_eq!(x.len(), m * k, "input of {m}×{k}");
        let blocks = self.blocks;
        // SAFETY (both): each tile writes all its outputs; `by_tiles` hands out disjoint tiles of
        // the output; rows and panels are as long as the kernel reads.
        match self.kernel {
            Kernel::Wide(kernel) => {
                let rows = self.quantise::<i16>(x, m);
                unsafe {
                    by_tiles(m, n, NR, MC, MR, |r, tile, ptr| {
                        let sums_of = |_, a: &_, b: *const Block, sums: &mut _| {
                            kernel(2 * blocks, a, b.cast(), sums)
                        };
                        let no_pairs: Option<fn(usize, &_, _, &mut _)> = None;
                        self.tile(&rows, r, tile, ptr, then, (sums_of, no_pairs))
                    })
                }
            }
            Kernel::Narrow(kernels, pairs) => {
                let rows = self.quantise::<i8>(x, m);
                unsafe {
                    by_tiles(m, n, NR, MC, MR, |r, tile, ptr| {
                        let sums_of =
                            |h: usize, a: &_, b, sums: &mut _| kernels[h - 1](blocks, a, b, sums);
                        let pair_of = pairs.map(|pairs| {
                            move |h: usize, a: &_, b, sums: &mut _| pairs[h - 1](blocks, a, b, sums)
                        });
                        self.tile(&rows, r, tile, ptr, then, (sums_of, pair_of))
                    })
                }
            }
        }
    }
}

/// The best micro-kernel this CPU runs.
fn kernel() -> Kernel {
    best().1
}

/// The name of the int8 kernel this CPU runs (for benchmarks' reports).
pub(crate) fn kernel_name() -> &'static str {
    best().0
}

fn best() -> (&'static str, Kernel) {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = avx512::kernel() {
        return k;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2::vnni_available() {
        return ("avx-vnni 8-bit", Kernel::Narrow(avx2::NARROW, None));
    }
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        return ("avx2 16-bit", Kernel::Wide(avx2::kernel));
    }
    ("portable 16-bit", Kernel::Wide(portable))
}

/// Plain Rust, for CPUs without AVX2.
///
/// # Safety
/// Each `a[i]` has `2·pairs` values and `b` has `pairs` pairs.
unsafe fn portable(pairs: usize, a: &[*const i16; MR], b: *const Pair, out: &mut [[i32; NR]; MR]) {
    let b = unsafe { std::slice::from_raw_parts(b, pairs) };
    for (row, &ai) in out.iter_mut().zip(a) {
        let ai = unsafe { std::slice::from_raw_parts(ai, 2 * pairs) };
        *row = [0; NR];
        for (duo, w) in ai.chunks_exact(2).zip(b) {
            for (l, sum) in row.iter_mut().enumerate() {
                let at = 16 * (l / 8) + 2 * (l % 8);
                *sum += duo[0] as i32 * w.0[at] as i32 + duo[1] as i32 * w.0[at + 1] as i32;
            }
        }
    }
}

/// The narrow kernels' definition in plain Rust, for their tests.
///
/// # Safety
/// Each `a[i]` has `4·blocks` values and `b` has `blocks` blocks.
#[cfg(test)]
unsafe fn portable_narrow(
    blocks: usize,
    a: &[*const i8; MR],
    b: *const Block,
    out: &mut [[i32; NR]; MR],
) {
    let b = unsafe { std::slice::from_raw_parts(b, blocks) };
    for (row, &ai) in out.iter_mut().zip(a) {
        let ai = unsafe { std::slice::from_raw_parts(ai, 4 * blocks) };
        *row = [0; NR];
        for (quad, w) in ai.chunks_exact(4).zip(b) {
            for (l, sum) in row.iter_mut().enumerate() {
                for (d, &v) in quad.iter().enumerate() {
                    *sum = sum.wrapping_add(v as i32 * w.0[4 * l + d] as i32);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::sync::LazyLock;

    use super::{Block, Level, MR, NR, NarrowFn, Pair};
    use crate::encoders::gemm::by_rows;

    static AVAILABLE: LazyLock<bool> = LazyLock::new(|| is_x86_feature_detected!("avx2"));
    static VNNI: LazyLock<bool> =
        LazyLock::new(|| *AVAILABLE && is_x86_feature_detected!("avxvnni"));

    pub(super) fn available() -> bool {
        *AVAILABLE
    }

    /// Whether the CPU has AVX-VNNI (256-bit `vpdpbusd`) beside AVX2.
    pub(super) fn vnni_available() -> bool {
        *VNNI
    }

    /// The AVX-VNNI kernels, by rows.
    pub(super) const NARROW: [NarrowFn; MR] = by_rows!(vnni);

    /// `R` rows × 16 columns with AVX-VNNI's `vpdpbusd`: per row and block, the row's four i8
    /// values broadcast against the block's two halves (columns 0–7 and 8–15, 4 u8 weights
    /// each), four products per lane summed into its i32; two registers per row, twelve sums in
    /// flight at six rows (with the two weights and the broadcast, 15 of the 16 registers).
    ///
    /// # Safety
    /// As [`super::portable_narrow`] for the first `R` rows, on a CPU with AVX2 and AVX-VNNI.
    #[target_feature(enable = "avx2,avxvnni")]
    unsafe fn vnni<const R: usize>(
        blocks: usize,
        a: &[*const i8; MR],
        b: *const Block,
        out: &mut [[i32; NR]; MR],
    ) {
        unsafe {
            let mut acc = [[_mm256_setzero_si256(); 2]; R];
            for g in 0..blocks {
                let w = b.add(g).cast::<__m256i>();
                let (lo, hi) = (_mm256_load_si256(w), _mm256_load_si256(w.add(1)));
                for (row, &ai) in acc.iter_mut().zip(a) {
                    let v = _mm256_set1_epi32(ai.add(4 * g).cast::<i32>().read_unaligned());
                    row[0] = _mm256_dpbusd_avx_epi32(row[0], lo, v);
                    row[1] = _mm256_dpbusd_avx_epi32(row[1], hi, v);
                }
            }
            store(out, &acc);
        }
    }

    /// Each row's two registers of sums into its 16 columns of `out`.
    #[target_feature(enable = "avx2")]
    fn store(out: &mut [[i32; NR]; MR], acc: &[[__m256i; 2]]) {
        for (row, sums) in out.iter_mut().zip(acc) {
            // SAFETY: each row of `out` holds 16 i32s, the two registers' lanes.
            unsafe {
                _mm256_storeu_si256(row.as_mut_ptr().cast(), sums[0]);
                _mm256_storeu_si256(row.as_mut_ptr().add(8).cast(), sums[1]);
            }
        }
    }

    /// 6 rows × 16 columns in 12 registers of i32 sums.
    ///
    /// # Safety
    /// As [`super::portable`], on a CPU with AVX2.
    pub(super) unsafe fn kernel(
        pairs: usize,
        a: &[*const i16; MR],
        b: *const Pair,
        out: &mut [[i32; NR]; MR],
    ) {
        unsafe { run(pairs, a, b, out) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn run(pairs: usize, a: &[*const i16; MR], b: *const Pair, out: &mut [[i32; NR]; MR]) {
        unsafe {
            let mut acc = [[_mm256_setzero_si256(); 2]; MR];
            for g in 0..pairs {
                let w = b.add(g).cast::<__m128i>();
                let lo = _mm256_cvtepi8_epi16(_mm_load_si128(w));
                let hi = _mm256_cvtepi8_epi16(_mm_load_si128(w.add(1)));
                for (row, &ai) in acc.iter_mut().zip(a) {
                    let v = _mm256_set1_epi32(ai.add(2 * g).cast::<i32>().read_unaligned());
                    row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(v, lo));
                    row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(v, hi));
                }
            }
            store(out, &acc);
        }
    }

    /// [`super::quantise_row`] in AVX2's vectors.
    ///
    /// # Safety
    /// On a CPU with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quantise_row<T: Level>(
        q: &mut [T],
        row: &[f32],
        top: f32,
        narrow: bool,
    ) -> (f32, f32, i32) {
        super::quantise_each(q, row, top, narrow, extremes(row))
    }

    /// [`super::extremes`], eight lanes at a time.
    #[target_feature(enable = "avx2")]
    pub(super) fn extremes(row: &[f32]) -> (f32, f32, bool) {
        let (mut lo, mut hi, mut nan) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        let mut chunks = row.chunks_exact(8);
        for c in &mut chunks {
            // SAFETY: `c` holds 8 values.
            let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            // A NaN `v` leaves the extremes as they were (the second operand is kept).
            lo = _mm256_min_ps(v, lo);
            hi = _mm256_max_ps(v, hi);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
        }
        let (mut l, mut h) = ([0f32; 8], [0f32; 8]);
        // SAFETY: both arrays hold 8 values.
        unsafe {
            _mm256_storeu_ps(l.as_mut_ptr(), lo);
            _mm256_storeu_ps(h.as_mut_ptr(), hi);
        }
        let lanes = (
            l.iter().fold(0f32, |a, &v| a.min(v)),
            h.iter().fold(0f32, |a, &v| a.max(v)),
            _mm256_movemask_ps(nan) != 0,
        );
        chunks.remainder().iter().fold(lanes, |(lo, hi, nan), &v| {
            (lo.min(v), hi.max(v), nan | v.is_nan())
        })
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Block, Kernel, Level, MR, NR, Narrow2Fn, NarrowFn, Pair};
    use crate::encoders::gemm::by_rows;

    /// [`super::quantise_row`] in AVX-512's vectors (the same operations, so the same numbers).
    ///
    /// # Safety
    /// On a CPU with AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn quantise_row<T: Level>(
        q: &mut [T],
        row: &[f32],
        top: f32,
        narrow: bool,
    ) -> (f32, f32, i32) {
        super::quantise_each(q, row, top, narrow, super::avx2::extremes(row))
    }

    /// [`super::dequantise_each`] 16 columns at a time (the same operations in the same order,
    /// so the same numbers).
    ///
    /// # Safety
    /// As [`super::dequantise_each`], on a CPU with AVX-512F; the column slices hold 16 values.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dequantise(
        sums: &[[i32; NR]; MR],
        [xs, xo]: [&[f32]; 2],
        fix: &[i32],
        [scale, sum, bias]: [&[f32]; 3],
        dst: *mut f32,
        ldc: usize,
        cols: usize,
    ) {
        assert!(scale.len() >= NR && sum.len() >= NR && bias.len() >= NR);
        let mask = u16::MAX >> (NR - cols);
        unsafe {
            let (scale, sum, bias) = (
                _mm512_loadu_ps(scale.as_ptr()),
                _mm512_loadu_ps(sum.as_ptr()),
                _mm512_loadu_ps(bias.as_ptr()),
            );
            for (i, ((s, (&xs, &xo)), &fix)) in
                sums.iter().zip(xs.iter().zip(xo)).zip(fix).enumerate()
            {
                let s = _mm512_sub_epi32(
                    _mm512_loadu_si512(s.as_ptr().cast()),
                    _mm512_set1_epi32(fix),
                );
                let rows = _mm512_mul_ps(_mm512_set1_ps(xs), _mm512_cvtepi32_ps(s));
                let v = _mm512_add_ps(rows, _mm512_mul_ps(_mm512_set1_ps(xo), sum));
                let v = _mm512_add_ps(_mm512_mul_ps(scale, v), bias);
                _mm512_mask_storeu_ps(dst.add(i * ldc), mask, v);
            }
        }
    }

    /// The narrow VNNI kernel where the CPU has it, else the wide AVX-512BW one, else none.
    pub(super) fn kernel() -> Option<(&'static str, Kernel)> {
        if !is_x86_feature_detected!("avx512bw") {
            return None;
        }
        Some(if is_x86_feature_detected!("avx512vnni") {
            ("avx-512 vnni 8-bit", Kernel::Narrow(NARROW, Some(NARROW2)))
        } else {
            ("avx-512bw 16-bit", Kernel::Wide(bw))
        })
    }

    /// 6 rows × 16 columns, a register of i32 sums per row: a depth pair's 32 weights widened
    /// to one register of i16, multiplied and pair-summed with `vpmaddwd`, then added.
    ///
    /// # Safety
    /// As [`super::portable`], on a CPU with AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn bw(
        pairs: usize,
        a: &[*const i16; MR],
        b: *const Pair,
        out: &mut [[i32; NR]; MR],
    ) {
        unsafe {
            let mut acc = [_mm512_setzero_si512(); MR];
            for g in 0..pairs {
                let w = _mm512_cvtepi8_epi16(_mm256_load_si256(b.add(g).cast()));
                for (sum, &ai) in acc.iter_mut().zip(a) {
                    let v = _mm512_set1_epi32(ai.add(2 * g).cast::<i32>().read_unaligned());
                    *sum = _mm512_add_epi32(*sum, _mm512_madd_epi16(v, w));
                }
            }
            for (row, sum) in out.iter_mut().zip(&acc) {
                _mm512_storeu_si512(row.as_mut_ptr().cast(), *sum);
            }
        }
    }

    /// The VNNI kernels, by rows.
    pub(super) const NARROW: [NarrowFn; MR] = by_rows!(vnni);
    /// The two-panel VNNI kernels, by rows.
    pub(super) const NARROW2: [Narrow2Fn; MR] = by_rows!(vnni2);

    /// `R` rows × 32 columns (two adjacent panels) with VNNI's `vpdpbusd`: per row and block,
    /// the row's four i8 values broadcast once against both panels' blocks; a register per row
    /// and panel, twelve sums in flight at six rows. (One panel at a time, a weight load and a
    /// broadcast per product is more loads than the core issues beside its products.)
    ///
    /// # Safety
    /// As [`super::portable_narrow`] for the first `R` rows and each panel (the second
    /// `blocks` blocks after `b`), on a CPU with AVX-512BW and AVX-512 VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni2<const R: usize>(
        blocks: usize,
        a: &[*const i8; MR],
        b: *const Block,
        out: &mut [[[i32; NR]; MR]; 2],
    ) {
        unsafe {
            let mut first = [_mm512_setzero_si512(); R];
            let mut second = [_mm512_setzero_si512(); R];
            let next = b.add(blocks);
            for g in 0..blocks {
                let w0 = _mm512_load_si512(b.add(g).cast());
                let w1 = _mm512_load_si512(next.add(g).cast());
                for ((s0, s1), &ai) in first.iter_mut().zip(&mut second).zip(a) {
                    let v = _mm512_set1_epi32(ai.add(4 * g).cast::<i32>().read_unaligned());
                    *s0 = _mm512_dpbusd_epi32(*s0, w0, v);
                    *s1 = _mm512_dpbusd_epi32(*s1, w1, v);
                }
            }
            for (panel, sums) in out.iter_mut().zip([first, second]) {
                for (row, s) in panel.iter_mut().zip(&sums) {
                    _mm512_storeu_si512(row.as_mut_ptr().cast(), *s);
                }
            }
        }
    }

    /// `R` rows × 16 columns with VNNI's `vpdpbusd`: per row and block, the row's four i8
    /// values broadcast against the block's 16 × 4 u8 weights, four products per lane summed
    /// into its i32; two registers per row (even and odd blocks) to hide the latency.
    ///
    /// # Safety
    /// As [`super::portable_narrow`] for the first `R` rows, on a CPU with AVX-512BW and
    /// AVX-512 VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni<const R: usize>(
        blocks: usize,
        a: &[*const i8; MR],
        b: *const Block,
        out: &mut [[i32; NR]; MR],
    ) {
        unsafe {
            let mut even = [_mm512_setzero_si512(); R];
            let mut odd = [_mm512_setzero_si512(); R];
            macro_rules! step {
                ($acc:ident, $g:expr) => {
                    let w = _mm512_load_si512(b.add($g).cast());
                    for (sum, &ai) in $acc.iter_mut().zip(a) {
                        let v = _mm512_set1_epi32(ai.add(4 * $g).cast::<i32>().read_unaligned());
                        *sum = _mm512_dpbusd_epi32(*sum, w, v);
                    }
                };
            }
            let mut g = 0;
            while g + 1 < blocks {
                step!(even, g);
                step!(odd, g + 1);
                g += 2;
            }
            if g < blocks {
                step!(even, g);
            }
            for (row, (e, o)) in out.iter_mut().zip(even.iter().zip(&odd)) {
                _mm512_storeu_si512(row.as_mut_ptr().cast(), _mm512_add_epi32(*e, *o));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::activation::{Act, act_in_place};
    use crate::encoders::gemm::tests::numbers;

    /// Every kernel this CPU runs, the plain ones first in each family.
    fn kernels() -> Vec<(&'static str, Kernel)> {
        let mut all: Vec<(&'static str, Kernel)> = vec![
            ("portable", Kernel::Wide(portable)),
            (
                "portable narrow",
                Kernel::Narrow([portable_narrow; MR], None),
            ),
        ];
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            all.push(("avx2", Kernel::Wide(avx2::kernel)));
        }
        #[cfg(target_arch = "x86_64")]
        if avx2::vnni_available() {
            all.push(("avxvnni", Kernel::Narrow(avx2::NARROW, None)));
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512bw") {
            all.push(("avx512bw", Kernel::Wide(avx512::bw)));
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni") {
            all.push(("avx512vnni", Kernel::Narrow(avx512::NARROW, None)));
            all.push((
                "avx512vnni two panels",
                Kernel::Narrow(avx512::NARROW, Some(avx512::NARROW2)),
            ));
        }
        all
    }

    /// The kernels of a family agree exactly with its plain one (integer sums), and each
    /// product is within its quantisation's error of the f32 one, at odd sizes.
    #[test]
    fn every_kernel_matches_the_plain_product_at_odd_sizes() {
        let sizes = [
            (1, 1, 1),
            (1, 8, 5),
            (3, 17, 4),
            (4, 16, 64),
            (7, 33, 257),
            (13, 40, 600),
            (150, 19, 3072),
            (11, 24, 40),
            (20, 200, 300),
        ];
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for &(m, n, k) in &sizes {
            // Skewed rows (as after GELU) and one large weight per column, the hard cases.
            let x: Vec<f32> = numbers(m * k, 1 + m as u64)
                .iter()
                .map(|v| v.max(-0.2) * 3.0)
                .collect();
            let mut w = numbers(n * k, 2 + n as u64);
            w.iter_mut().step_by(k.max(2) - 1).for_each(|v| *v *= 4.0);
            let b = numbers(n, 3);
            let mut plain: [Option<Vec<f32>>; 2] = [None, None];
            for &(name, kernel) in &kernels() {
                let packed = QPacked::for_kernel(&w, n, k, Some(&b), kernel);
                let got = packed.forward(&x, m, Then::default());
                let family = matches!(kernel, Kernel::Narrow(..)) as usize;
                match &plain[family] {
                    Some(want) => assert_eq!(&got, want, "{name} disagrees at {m}×{n}×{k}"),
                    None => plain[family] = Some(got.clone()),
                }
                // On one thread too, where every tile is several panels wide (pairs of panels).
                let single = one_thread.install(|| packed.forward(&x, m, Then::default()));
                assert_eq!(single, got, "{name} on one thread at {m}×{n}×{k}");
                let row_step = 1.0 / (2.0 * kernel.levels() as f32);
                for i in 0..m {
                    for j in 0..n {
                        let exact: f32 =
                            (0..k).map(|p| x[i * k + p] * w[j * k + p]).sum::<f32>() + b[j];
                        let row_top = x[i * k..(i + 1) * k]
                            .iter()
                            .fold(0f32, |a, v| a.max(v.abs()));
                        let col_top = w[j * k..(j + 1) * k]
                            .iter()
                            .fold(0f32, |a, v| a.max(v.abs()));
                        // Each product's error is below half a step of each side.
                        let tol =
                            2.0 * (k as f32).sqrt() * row_top * col_top * (1.0 / 254.0 + row_step);
                        let got = got[i * n + j];
                        assert!(
                            (got - exact).abs() <= tol,
                            "{name} {m}×{n}×{k} [{i},{j}]: {got} vs {exact}"
                        );
                    }
                }
            }
        }
    }

    /// Each dequantisation this CPU runs writes the plain one's numbers, and only the columns
    /// it is given.
    #[test]
    fn every_dequantisation_matches_the_plain_one() {
        let mut all: Vec<(&str, Dequantise)> = vec![];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            all.push(("avx512", avx512::dequantise));
        }
        let ldc = 21;
        let v = numbers(MR * NR + 5 * NR, 11);
        let mut sums = [[0i32; NR]; MR];
        for (i, s) in sums.iter_mut().flatten().enumerate() {
            // Large sums too, and some that wrap past the correction.
            *s = (v[i] * 2e9) as i32;
        }
        let col = [&v[..NR], &v[NR..2 * NR], &v[2 * NR..3 * NR]];
        let fix: Vec<i32> = v[3 * NR..3 * NR + MR]
            .iter()
            .map(|f| (f * 2e9) as i32)
            .collect();
        let row = [&v[4 * NR..4 * NR + MR], &v[5 * NR..5 * NR + MR]];
        for (name, dequantise) in all {
            for height in 1..=MR {
                for cols in 1..=NR {
                    let (mut want, mut got) = (vec![7.0f32; MR * ldc], vec![7.0f32; MR * ldc]);
                    let rows = [&row[0][..height], &row[1][..height]];
                    unsafe {
                        let fix = &fix[..height];
                        dequantise_each(&sums, rows, fix, col, want.as_mut_ptr(), ldc, cols);
                        dequantise(&sums, rows, fix, col, got.as_mut_ptr(), ldc, cols);
                    }
                    assert_eq!(got, want, "{name}: {height} rows, {cols} columns");
                    let written = want.iter().filter(|&&w| w != 7.0).count();
                    assert_eq!(written, height * cols, "{name}: {height} × {cols}");
                }
            }
        }
    }

    /// Each quantisation this CPU runs gives the plain one's levels, scale, offset and fix, for
    /// rows of every length around a vector's, with a NaN, and both widths of level.
    #[test]
    fn every_quantisation_matches_the_plain_one() {
        fn check<T: Level + PartialEq + std::fmt::Debug>(row: &[f32], top: f32, narrow: bool) {
            let mut want = vec![T::default(); row.len() + 3];
            let plain = quantise_each(&mut want, row, top, narrow, extremes(row));
            let mut got = vec![T::default(); row.len() + 3];
            let fast = quantise_row(&mut got, row, top, narrow);
            let n = row.len();
            assert_eq!(got, want, "{n} values, top {top}");
            // Bit for bit: a NaN scale must stay NaN.
            let bits = |(s, o, f): (f32, f32, i32)| (s.to_bits(), o.to_bits(), f);
            assert_eq!(bits(fast), bits(plain), "{n} values, top {top}");
        }
        for len in (1..=40).chain([767, 768, 3072]) {
            let mut row = numbers(len, len as u64);
            row.iter_mut().for_each(|v| *v = 3.0 * *v + 0.5);
            check::<i8>(&row, 127.0, true);
            check::<i8>(&row, 60.0, false);
            check::<i16>(&row, 1000.0, false);
            row[len / 2] = f32::NAN;
            check::<i8>(&row, 127.0, true);
        }
    }

    #[test]
    fn a_long_depth_keeps_its_sums_within_i32() {
        let k = 100_000;
        let x: Vec<f32> = (0..2 * k).map(|p| if p < k { 1.0 } else { -1.0 }).collect();
        for (name, kernel) in kernels() {
            let packed = QPacked::for_kernel(&vec![1.0; k], 1, k, None, kernel);
            let got = packed.forward(&x, 2, Then::default());
            assert!(
                (got[0] - k as f32).abs() < 1.0 && (got[1] + k as f32).abs() < 1.0,
                "{name}: {got:?}"
            );
        }
    }

    #[test]
    fn nan_or_infinite_inputs_and_weights_give_nan_as_f32_does() {
        let (m, n, k) = (3, 4, 8);
        let mut x = numbers(m * k, 8);
        x[k + 2] = f32::NAN;
        x[2 * k + 5] = f32::INFINITY;
        let mut w = numbers(n * k, 9);
        w[2 * k + 1] = f32::NAN;
        for (name, kernel) in kernels() {
            let out = QPacked::for_kernel(&w, n, k, None, kernel).forward(&x, m, Then::default());
            for (i, row) in out.chunks(n).enumerate() {
                for (j, v) in row.iter().enumerate() {
                    assert_eq!(v.is_nan(), i > 0 || j == 2, "{name} [{i},{j}] = {v}");
                }
            }
        }
    }

    #[test]
    fn the_activation_is_applied_and_zero_rows_stay_exact() {
        let (m, n, k) = (9, 20, 100);
        let mut x = numbers(m * k, 4);
        x[..k].fill(0.0);
        let w = numbers(n * k, 5);
        let b = numbers(n, 6);
        for (name, kernel) in kernels() {
            let packed = QPacked::for_kernel(&w, n, k, Some(&b), kernel);
            let plain = packed.forward(&x, m, Then::default());
            assert_eq!(&plain[..n], &b[..], "{name}: a zero row gives the bias");
            let mut want = plain.clone();
            act_in_place(&mut want, Act::QuickGelu);
            assert_eq!(
                packed.forward(&x, m, Then::from(Some(Act::QuickGelu))),
                want,
                "{name}"
            );
        }
    }
}
