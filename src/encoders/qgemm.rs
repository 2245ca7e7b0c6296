//! int8 linear layers on the CPU, `act(x·Wᵀ + b)`: the weight quantised once per output column
//! to ±127 and packed 16 columns × 2 depths to a register; each row of `x` centred on the middle
//! of its range and quantised to 16-bit integers with its own scale; products summed in i32 by
//! `vpmaddwd` (AVX2: 16 products per instruction, twice f32's FMA; AVX-512: 32, or fused with
//! the sum by VNNI's `vpdpwssd`); scales, the centre's correction and the bias applied once per
//! output.
//!
//! Rows get as many levels as keep every i32 sum exact (at most ±2047): AVX2 has no 8-bit
//! product that is both exact and fast (`vpmaddubsw` saturates at 16 bits unless weights or
//! rows lose a bit, and its sign fix-ups cost more than they save), and finer rows make int8
//! agree with f32 better.

use std::ops::Range;

use candle_core::Result;
use rayon::prelude::*;

use super::gemm::{Product, Shared, Then, by_tiles, cpu_weights};

/// Columns per panel: two registers of 8 i32 sums, each over 2 depths.
const NR: usize = 16;
/// Rows per micro-tile: 12 accumulators, 2 weight registers and a broadcast fill AVX2's 16.
const MR: usize = 6;
/// Rows per tile.
const MC: usize = 144;
/// The weights' largest quantised magnitude.
const WMAX: i32 = 127;
/// The rows' largest quantised magnitude, before the limit that keeps sums exact.
const XMAX: i32 = 2047;

/// One depth pair of a panel: bytes `2l, 2l+1` are column `l`'s two weights for columns 0–7,
/// bytes `16 + 2l, 16 + 2l + 1` for columns 8–15.
#[repr(C, align(32))]
#[derive(Clone, Copy)]
struct Pair([i8; 32]);

/// A linear layer's weight quantised and packed for its [`Product`], with its bias.
pub(crate) struct QPacked {
    k: usize,
    n: usize,
    /// Depth pairs (the depth padded with a zero weight).
    pairs: usize,
    /// Panel `j`, depth pair `g`: `panels[j·pairs + g]`; zero past `n` and `k`.
    panels: Vec<Pair>,
    /// Per column (padded to whole panels): the weight's scale, the sum of its quantised
    /// values, and the bias.
    scale: Vec<f32>,
    sum: Vec<i32>,
    bias: Vec<f32>,
    /// The rows' largest quantised magnitude for this depth.
    xmax: i32,
}

/// A micro-kernel: the i32 sums of `MR` rows of i16 (`a`, one pointer per row, each
/// `2·pairs` long) with one panel (`pairs` pairs), into `out` row by row.
type Kernel = unsafe fn(usize, &[*const i16; MR], *const Pair, &mut [[i32; NR]; MR]);

/// Rows of `x` quantised: `x ≈ offset + scale·q`.
struct Rows {
    q: Vec<i16>,
    scale: Vec<f32>,
    offset: Vec<f32>,
}

impl QPacked {
    /// From `w` `[n, k]` row-major (a linear layer's `[out, in]`) and its bias of `n`.
    pub(crate) fn new(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> QPacked {
        assert_eq!(w.len(), n * k, "weight of {n}×{k}");
        let pairs = k.div_ceil(2);
        let count = n.div_ceil(NR);
        let mut panels = vec![Pair([0; 32]); count * pairs];
        let mut scale = vec![1f32; count * NR];
        let mut sum = vec![0i32; count * NR];
        for (col, weights) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            let top = weights.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if top > 0.0 { top / WMAX as f32 } else { 1.0 };
            // A damaged weight (NaN or infinite) gives NaN outputs, as in f32, not a zero.
            let finite = top.is_finite() && weights.iter().all(|v| v.is_finite());
            scale[col] = if finite { s } else { f32::NAN };
            let (j, lane) = (col / NR, col % NR);
            let at = 16 * (lane / 8) + 2 * (lane % 8);
            for (p, &v) in weights.iter().enumerate() {
                let q = (v / s).round().clamp(-WMAX as f32, WMAX as f32) as i8;
                panels[j * pairs + p / 2].0[at + p % 2] = q;
                sum[col] += q as i32;
            }
        }
        let mut b = bias.map_or_else(Vec::new, |b| {
            assert_eq!(b.len(), n, "bias of {n}");
            b.to_vec()
        });
        b.resize(count * NR, 0.0);
        // Every sum of `k` products stays within i32.
        let xmax = (i32::MAX as usize / (k.max(1) * WMAX as usize)).clamp(1, XMAX as usize) as i32;
        QPacked {
            k,
            n,
            pairs,
            panels,
            scale,
            sum,
            bias: b,
            xmax,
        }
    }

    /// From a linear layer on the CPU in f32; `None` for any other.
    pub(crate) fn from_linear(l: &candle_nn::Linear) -> Result<Option<QPacked>> {
        Ok(cpu_weights(l)?.map(|(w, n, k, b)| QPacked::new(&w, n, k, b.as_deref())))
    }

    fn quantise(&self, x: &[f32], m: usize) -> Rows {
        let (k, width) = (self.k, 2 * self.pairs);
        let top = self.xmax as f32;
        let mut q = vec![0i16; m * width];
        let mut scale = vec![1f32; m];
        let mut offset = vec![0f32; m];
        q.par_chunks_mut(width.max(1))
            .zip(scale.par_iter_mut().zip(offset.par_iter_mut()))
            .enumerate()
            .for_each(|(i, (q, (scale, offset)))| {
                let row = &x[i * k..(i + 1) * k];
                let (lo, hi) = row
                    .iter()
                    .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                let mid = 0.5 * (lo + hi);
                let s = if hi > lo { 0.5 * (hi - lo) / top } else { 1.0 };
                round_into(q, row, mid, 1.0 / s, top);
                // A NaN or infinite input gives NaN outputs, as in f32, not a number.
                let finite = hi - lo < f32::INFINITY && row.iter().all(|v| v.is_finite());
                (*scale, *offset) = (if finite { s } else { f32::NAN }, mid);
            });
        Rows { q, scale, offset }
    }

    fn forward_with(&self, kernel: Kernel, x: &[f32], m: usize, then: Then) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert_eq!(x.len(), m * k, "input of {m}×{k}");
        let mut out = vec![0f32; m * n];
        if m == 0 || n == 0 {
            return out;
        }
        let rows = self.quantise(x, m);
        by_tiles(&mut out, m, n.div_ceil(NR), MC, |r, tile, ptr| {
            // SAFETY: `by_tiles` hands out disjoint tiles of `out`.
            unsafe { self.tile(kernel, &rows, r, tile, ptr, then) }
        });
        out
    }

    /// Rows `rows` × panels `tile` of the output.
    ///
    /// # Safety
    /// `out` is `[m, n]` with `m ≥ rows.end`, and no other thread touches this tile.
    unsafe fn tile(
        &self,
        kernel: Kernel,
        x: &Rows,
        rows: Range<usize>,
        tile: Range<usize>,
        out: Shared,
        then: Then,
    ) {
        let (n, pairs) = (self.n, self.pairs);
        let width = 2 * pairs;
        let mut sums = [[0i32; NR]; MR];
        for j in tile.clone() {
            let b = self.panels[j * pairs..].as_ptr();
            let c0 = j * NR;
            let cols = NR.min(n - c0);
            for r in rows.clone().step_by(MR) {
                let height = MR.min(rows.end - r);
                // Missing rows repeat the last one; their results are dropped.
                let a = std::array::from_fn(|i| x.q[(r + i.min(height - 1)) * width..].as_ptr());
                unsafe { kernel(pairs, &a, b, &mut sums) };
                for (i, s) in sums.iter().enumerate().take(height) {
                    let (xs, xo) = (x.scale[r + i], x.offset[r + i]);
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(out.0.add((r + i) * n + c0), cols)
                    };
                    let at = c0..c0 + cols;
                    let per_col = self.scale[at.clone()].iter().zip(&self.sum[at.clone()]);
                    for ((d, &s), ((&scale, &sum), &bias)) in
                        dst.iter_mut().zip(s).zip(per_col.zip(&self.bias[at]))
                    {
                        *d = scale * (xs * s as f32 + xo * sum as f32) + bias;
                    }
                }
            }
        }
        unsafe { then.finish(out, n, rows, tile.start * NR..(tile.end * NR).min(n)) };
    }
}

/// `q = round((row − mid)·inv)` within ±`top`; `q` may be longer (left zero).
fn round_into(q: &mut [i16], row: &[f32], mid: f32, inv: f32, top: f32) {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the features were detected.
        return unsafe { avx2::round_into(q, row, mid, inv, top) };
    }
    round_each(q, row, mid, inv, top)
}

#[inline(always)]
fn round_each(q: &mut [i16], row: &[f32], mid: f32, inv: f32, top: f32) {
    for (q, &v) in q.iter_mut().zip(row) {
        *q = ((v - mid) * inv).round_ties_even().clamp(-top, top) as i16;
    }
}

impl Product for QPacked {
    fn sizes(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    fn forward(&self, x: &[f32], m: usize, then: Then) -> Vec<f32> {
        self.forward_with(kernel(), x, m, then)
    }
}

/// The best micro-kernel this CPU runs.
fn kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = avx512::kernel() {
        return k;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        return avx2::kernel;
    }
    portable
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

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::sync::LazyLock;

    use super::{MR, NR, Pair};

    static AVAILABLE: LazyLock<bool> = LazyLock::new(|| is_x86_feature_detected!("avx2"));

    pub(super) fn available() -> bool {
        *AVAILABLE
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
            for (row, sums) in out.iter_mut().zip(&acc) {
                _mm256_storeu_si256(row.as_mut_ptr().cast(), sums[0]);
                _mm256_storeu_si256(row.as_mut_ptr().add(8).cast(), sums[1]);
            }
        }
    }

    /// [`super::round_each`] with AVX2's rounding.
    ///
    /// # Safety
    /// On a CPU with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn round_into(q: &mut [i16], row: &[f32], mid: f32, inv: f32, top: f32) {
        super::round_each(q, row, mid, inv, top)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Kernel, MR, NR, Pair};

    /// The VNNI kernel where the CPU has it, else the AVX-512BW one, else none.
    pub(super) fn kernel() -> Option<Kernel> {
        if !is_x86_feature_detected!("avx512bw") {
            return None;
        }
        Some(if is_x86_feature_detected!("avx512vnni") {
            vnni
        } else {
            bw
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

    /// As [`bw`] with VNNI's `vpdpwssd` (multiply, pair-sum and add in one instruction), two
    /// registers per row (even and odd pairs) to hide its latency.
    ///
    /// # Safety
    /// As [`super::portable`], on a CPU with AVX-512BW and AVX-512 VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn vnni(
        pairs: usize,
        a: &[*const i16; MR],
        b: *const Pair,
        out: &mut [[i32; NR]; MR],
    ) {
        unsafe {
            let mut even = [_mm512_setzero_si512(); MR];
            let mut odd = [_mm512_setzero_si512(); MR];
            macro_rules! step {
                ($acc:ident, $g:expr) => {
                    let w = _mm512_cvtepi8_epi16(_mm256_load_si256(b.add($g).cast()));
                    for (sum, &ai) in $acc.iter_mut().zip(a) {
                        let v = _mm512_set1_epi32(ai.add(2 * $g).cast::<i32>().read_unaligned());
                        *sum = _mm512_dpwssd_epi32(*sum, v, w);
                    }
                };
            }
            let mut g = 0;
            while g + 1 < pairs {
                step!(even, g);
                step!(odd, g + 1);
                g += 2;
            }
            if g < pairs {
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

    fn kernels() -> Vec<(&'static str, Kernel)> {
        let mut all: Vec<(&'static str, Kernel)> = vec![("portable", portable)];
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            all.push(("avx2", avx2::kernel));
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512bw") {
            all.push(("avx512bw", avx512::bw));
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni") {
            all.push(("avx512vnni", avx512::vnni));
        }
        all
    }

    /// The kernels agree exactly with each other (integer sums), and the product is within
    /// the quantisation's error of the f32 one, at odd sizes.
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
        ];
        for &(m, n, k) in &sizes {
            // Skewed rows (as after GELU) and one large weight per column, the hard cases.
            let x: Vec<f32> = numbers(m * k, 1 + m as u64)
                .iter()
                .map(|v| v.max(-0.2) * 3.0)
                .collect();
            let mut w = numbers(n * k, 2 + n as u64);
            w.iter_mut().step_by(k.max(2) - 1).for_each(|v| *v *= 4.0);
            let b = numbers(n, 3);
            let packed = QPacked::new(&w, n, k, Some(&b));
            let results: Vec<Vec<f32>> = kernels()
                .iter()
                .map(|&(_, kernel)| packed.forward_with(kernel, &x, m, Then::default()))
                .collect();
            for other in &results[1..] {
                assert_eq!(other, &results[0], "kernels disagree at {m}×{n}×{k}");
            }
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
                        2.0 * (k as f32).sqrt() * row_top * col_top * (1.0 / 254.0 + 1.0 / 4094.0);
                    let got = results[0][i * n + j];
                    assert!(
                        (got - exact).abs() <= tol,
                        "{m}×{n}×{k} [{i},{j}]: {got} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_long_depth_keeps_its_sums_within_i32() {
        let k = 100_000;
        let x: Vec<f32> = (0..2 * k).map(|p| if p < k { 1.0 } else { -1.0 }).collect();
        let packed = QPacked::new(&vec![1.0; k], 1, k, None);
        let got = packed.forward(&x, 2, Then::default());
        assert!(
            (got[0] - k as f32).abs() < 1.0 && (got[1] + k as f32).abs() < 1.0,
            "{got:?}"
        );
    }

    #[test]
    fn nan_or_infinite_inputs_and_weights_give_nan_as_f32_does() {
        let (m, n, k) = (3, 4, 8);
        let mut x = numbers(m * k, 8);
        x[k + 2] = f32::NAN;
        x[2 * k + 5] = f32::INFINITY;
        let mut w = numbers(n * k, 9);
        w[2 * k + 1] = f32::NAN;
        let out = QPacked::new(&w, n, k, None).forward(&x, m, Then::default());
        for (i, row) in out.chunks(n).enumerate() {
            for (j, v) in row.iter().enumerate() {
                assert_eq!(v.is_nan(), i > 0 || j == 2, "[{i},{j}] = {v}");
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
        let packed = QPacked::new(&w, n, k, Some(&b));
        let plain = packed.forward(&x, m, Then::default());
        assert_eq!(&plain[..n], &b[..], "a zero row gives the bias");
        let mut want = plain.clone();
        act_in_place(&mut want, Act::QuickGelu);
        assert_eq!(
            packed.forward(&x, m, Then::from(Some(Act::QuickGelu))),
            want
        );
    }
}
