//! Vectors in 8 bits per element, for a first pass of exact scans: a quarter of the memory of
//! `f32`, products of 8-bit codes summed exactly (64 per instruction with VNNI), and a bound on
//! each row's error so that the rows that could be among the true nearest are known and
//! re-scored in `f32`.

use rayon::prelude::*;

use super::VectorSet;
use super::kernels::{dot_i8, prefetch};

/// Codes per line.
const LINE: usize = 64;
/// How many rows ahead of the one it scores a scan asks for: with the hardware's prefetch
/// alone, scans of sets larger than the caches ran 20–30% slower (README, Search).
const AHEAD: usize = 16;

/// 64 codes: rows are whole lines, so each starts on a cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([i8; LINE]);

/// Each row of a [`VectorSet`] as `scale × codes`, codes in −127..=127 (round to nearest of
/// the row over its largest element), with a bound on its error.
pub struct Int8Rows {
    dim: usize,
    /// Codes per row: `dim` rounded up to whole lines (the rest zeros).
    stride: usize,
    lines: Vec<Line>,
    scales: Vec<f32>,
    /// Per row, `|v − scale × codes|` plus room for rounding ([`error_bound`]).
    bounds: Vec<f32>,
    /// Per row, `|scale × codes|`.
    lens: Vec<f32>,
}

/// A query in 8-bit codes, for [`Int8Rows::dot`].
pub struct Int8Query {
    codes: Vec<i8>,
    scale: f32,
    /// `|q|`.
    len: f32,
    /// `|q − scale × codes|`, rounded up.
    residual: f32,
}

impl Int8Rows {
    pub fn of(set: &VectorSet) -> Int8Rows {
        let dim = set.dim;
        let stride = dim.div_ceil(LINE) * LINE;
        let per_row = stride / LINE;
        let mut lines = vec![Line([0; LINE]); set.len() * per_row];
        let mut scales = vec![0f32; set.len()];
        let mut bounds = vec![0f32; set.len()];
        let mut lens = vec![0f32; set.len()];
        if per_row > 0 {
            lines
                .par_chunks_mut(per_row)
                .zip(scales.par_iter_mut())
                .zip(bounds.par_iter_mut())
                .zip(lens.par_iter_mut())
                .enumerate()
                .with_min_len(1024)
                .for_each(|(r, (((row, scale), bound), len))| {
                    let q = quantise(set.row(r), codes_mut(row));
                    (*scale, *len) = (q.scale, q.len);
                    *bound = error_bound(dim, q.len, q.residual);
                });
        }
        Int8Rows {
            dim,
            stride,
            lines,
            scales,
            bounds,
            lens,
        }
    }

    pub fn len(&self) -> usize {
        self.scales.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// `q` in codes for [`Int8Rows::dot`].
    pub fn query(&self, q: &[f32]) -> Int8Query {
        let q = &q[..q.len().min(self.dim)];
        let mut codes = vec![0i8; self.stride];
        let c = quantise(q, &mut codes);
        Int8Query {
            codes,
            scale: c.scale,
            len: (q.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt() * (1.0 + 1e-6))
                as f32,
            residual: c.residual,
        }
    }

    /// Row `r`'s approximate dot product with the query, and how far at most it is from
    /// [`super::dot`] of the query with the row. With `q̂` and `v̂` the codes times their
    /// scales, `q·v − q̂·v̂ = q·(v − v̂) + (q − q̂)·v̂`, at most `|q| |v − v̂| + |q − q̂| |v̂|` by
    /// Cauchy–Schwarz; the codes' sum is exact, and the two scalings round it by far less
    /// than the relative 10⁻⁶ added.
    pub fn dot(&self, q: &Int8Query, r: usize) -> (f32, f32) {
        let at = r * self.stride;
        let all = codes(&self.lines);
        // Scans read rows in order: the row `AHEAD` on starts loading now (past the end, a
        // hint that does nothing).
        prefetch(
            all.as_ptr().wrapping_add(at + AHEAD * self.stride),
            self.stride,
        );
        let codes = &all[at..at + self.stride];
        let approx = q.scale * self.scales[r] * dot_i8(&q.codes, codes) as f32;
        let len = self.lens[r];
        let err = q.len * self.bounds[r] + (q.residual + 1e-6 * q.len) * len + 1e-7;
        (approx, err)
    }
}

/// `|v − v̂|` for a row whose codes times its scale have length `len`, plus the rounding of
/// [`super::dot`]'s `f32` sum of `dim` terms (within `dim` machine epsilons of the sum of the
/// terms' sizes, which is at most `|q| |v|` ≤ `|q| (len + residual)`), counted twice.
fn error_bound(dim: usize, len: f32, residual: f32) -> f32 {
    residual + 2.0 * (len + residual) * dim as f32 * f32::EPSILON
}

/// A vector as `scale × codes`.
struct Quantised {
    scale: f32,
    /// `|scale × codes|`.
    len: f32,
    /// `|v − scale × codes|`, rounded up (`f32::MAX` when not finite).
    residual: f32,
}

/// Codes of `v` into `out` (as long as `v` or longer; the rest zeros): each element over the
/// largest's 127th, rounded to nearest.
fn quantise(v: &[f32], out: &mut [i8]) -> Quantised {
    // Adding and taking away 1.5 · 2²³ rounds any |x| < 2²² to the nearest integer (ties to
    // even) in the FPU's own rounding, with no library call, so the loop vectorises.
    const ROUND: f32 = 12_582_912.0;
    out.fill(0);
    let top = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if top.is_finite() { top / 127.0 } else { 0.0 };
    let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    for (c, x) in out.iter_mut().zip(v) {
        *c = ((x * inv + ROUND) - ROUND).clamp(-127.0, 127.0) as i8;
    }
    // What the codes keep and miss, summed in f64 in four independent lanes.
    let (mut res, mut len) = ([0f64; 4], [0f64; 4]);
    for (cs, xs) in out.chunks(4).zip(v.chunks(4)) {
        for (lane, (&c, &x)) in cs.iter().zip(xs).enumerate() {
            let kept = f64::from(scale) * f64::from(c);
            res[lane] += (f64::from(x) - kept).powi(2);
            len[lane] += kept.powi(2);
        }
    }
    let (res, len): (f64, f64) = (res.iter().sum(), len.iter().sum());
    let up = |x: f64| (x.sqrt() * (1.0 + 1e-6) + 1e-9) as f32;
    Quantised {
        scale,
        len: up(len),
        residual: if res.is_finite() { up(res) } else { f32::MAX },
    }
}

fn codes(lines: &[Line]) -> &[i8] {
    // SAFETY: `Line` is `repr(C)` over `[i8; LINE]` and exactly that size (64 bytes, no
    // padding), so the lines are `lines.len() * LINE` initialised `i8`s.
    unsafe { std::slice::from_raw_parts(lines.as_ptr().cast(), lines.len() * LINE) }
}

fn codes_mut(lines: &mut [Line]) -> &mut [i8] {
    // SAFETY: as in `codes`; the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast(), lines.len() * LINE) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::dot;

    #[test]
    fn every_approximate_dot_product_is_within_its_bound() {
        let mut s = 7u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        // Odd sizes, a row with one large element, a zero row.
        for dim in [1, 5, 63, 64, 65, 384, 512] {
            let mut set = VectorSet::new(dim);
            for i in 0..200 {
                let mut v: Vec<f32> = (0..dim).map(|_| rnd()).collect();
                if i == 1 {
                    v[dim / 2] = 40.0;
                }
                if i == 2 {
                    v.fill(0.0);
                }
                set.push(i, &v).unwrap();
            }
            let rows = Int8Rows::of(&set);
            assert_eq!(rows.len(), 200);
            for _ in 0..20 {
                let q: Vec<f32> = (0..dim).map(|_| 3.0 * rnd()).collect();
                let q_len = dot(&q, &q).sqrt();
                let codes = rows.query(&q);
                let mut loosest = 0f32;
                for r in 0..set.len() {
                    let exact = dot(set.row(r), &q);
                    let (approx, err) = rows.dot(&codes, r);
                    assert!((approx - exact).abs() <= err, "dim {dim}, row {r}");
                    let v_len = dot(set.row(r), set.row(r)).sqrt();
                    if r != 1 {
                        loosest = loosest.max(err / (1e-3 + v_len) / q_len);
                    }
                }
                // A useful bound: for 8-bit rounding of rows without an outlier, a few
                // hundredths of |q| |v|.
                assert!(loosest < 0.05, "dim {dim}: {loosest}");
            }
        }
    }
}
