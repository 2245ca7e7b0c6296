//! Multi-head attention's core on the CPU in one pass: from the rows of fused queries, keys and
//! values straight to the heads' outputs, one image's (or text's) head per task on all cores,
//! without the split into heads, the transposes, the mask and softmax passes and the batched
//! products candle would run for it (each a new tensor and a pass over memory). Scores and
//! outputs are summed in registers a block of 16 keys or values at a time.

use std::ops::Range;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::activation::exp;
use super::gemm::{Shared, f32_slice, par_zeroed};

/// `softmax(q·kᵀ + mask)·v` per head, for `qkv` `[batch, len, 3·dim]` (each row the queries,
/// already scaled, then the keys, then the values of all heads) and an additive `mask` that
/// broadcasts to `[batch, heads, len, len]`; `[batch, len, dim]`. In one pass where it can
/// ([`fused`]), else by candle's operations.
pub(crate) fn attend(qkv: &Tensor, heads: usize, mask: Option<&Tensor>) -> Result<Tensor> {
    match fused(qkv, heads, mask, false)? {
        Some(o) => Ok(o),
        None => with_candle(qkv, heads, mask),
    }
}

/// Candle's operations one by one: off the CPU, and the reference of [`fused`].
fn with_candle(qkv: &Tensor, heads: usize, mask: Option<&Tensor>) -> Result<Tensor> {
    let (b, n, three) = qkv.dims3()?;
    let dim = three / 3;
    let split = |t: Tensor| -> Result<Tensor> {
        t.reshape((b, n, heads, dim / heads))?
            .transpose(1, 2)?
            .contiguous()
    };
    let q = split(qkv.narrow(2, 0, dim)?)?;
    let k = split(qkv.narrow(2, dim, dim)?)?;
    let v = split(qkv.narrow(2, 2 * dim, dim)?)?;
    let mut w = q.matmul(&k.t()?)?;
    if let Some(m) = mask {
        w = w.broadcast_add(m)?;
    }
    let w = candle_nn::ops::softmax_last_dim(&w)?;
    w.matmul(&v)?.transpose(1, 2)?.reshape((b, n, dim))
}

/// [`attend`] in one pass, on the CPU in f32 with a mask that broadcasts to
/// `[batch, 1, len, len]`; `None` for anything else. `plain`: without the CPU's vectors.
fn fused(qkv: &Tensor, heads: usize, mask: Option<&Tensor>, plain: bool) -> Result<Option<Tensor>> {
    let (b, n, three) = qkv.dims3()?;
    if !qkv.device().is_cpu() || qkv.dtype() != DType::F32 || three % (3 * heads) != 0 {
        return Ok(None);
    }
    let mask = match mask {
        None => Tensor::zeros((1, 1, 1, n), DType::F32, qkv.device())?,
        Some(m) => m.to_dtype(DType::F32)?,
    };
    let dims = mask.dims();
    let fits = dims.len() == 4
        && (dims[0] == 1 || dims[0] == b)
        && dims[1] == 1
        && (dims[2] == 1 || dims[2] == n)
        && dims[3] == n;
    if !fits {
        return Ok(None);
    }
    let op = Attend { heads, b, n, plain };
    Ok(Some(
        qkv.contiguous()?
            .apply_op2_no_bwd(&mask.contiguous()?, &op)?,
    ))
}

struct Attend {
    heads: usize,
    b: usize,
    n: usize,
    plain: bool,
}

impl CustomOp2 for Attend {
    fn name(&self) -> &'static str {
        "attend"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_slice(s1, l1, "attention")?;
        let mask = f32_slice(s2, l2, "attention's mask")?;
        let (b, n, heads) = (self.b, self.n, self.heads);
        let dim = qkv.len() / (3 * b * n).max(1);
        let md = l2.dims();
        // The mask's strides over batches and query rows (0 where it broadcasts).
        let (mb, mr) = (
            if md[0] == 1 { 0 } else { md[2] * n },
            if md[2] == 1 { 0 } else { n },
        );
        let hd = dim / heads.max(1);
        // Zeroed an image per thread: a head sums its columns past whole vectors in place.
        let mut out = par_zeroed(b * n * dim, n * dim, |_, _: &mut [f32]| {});
        let ptr = Shared(out.as_mut_ptr());
        // A task per image and head: its keys and values stay in cache for all its rows.
        (0..b * heads).into_par_iter().for_each(|t| {
            let (i, h) = (t / heads, t % heads);
            let head = Head {
                rows: &qkv[i * n * 3 * dim..(i + 1) * n * 3 * dim],
                mask: &mask[i * mb..],
                mask_stride: mr,
                span: h * hd..(h + 1) * hd,
                len: n,
                dim,
            };
            // SAFETY: image `i`'s rows, head `h`'s columns: no other task writes there.
            unsafe { attend_head(&head, ptr, i * n * dim, self.plain) };
        });
        Ok((CpuStorage::F32(out), Shape::from((b, n, dim))))
    }
}

/// One head of one image or text.
struct Head<'a> {
    /// Its rows: each the queries, keys and values of all heads.
    rows: &'a [f32],
    /// The additive mask from its first query row on, `mask_stride` apart (0: one for all).
    mask: &'a [f32],
    mask_stride: usize,
    /// The head's part of a row's queries, keys or values.
    span: Range<usize>,
    /// Rows, and the width of the queries (as of the keys, the values and the output).
    len: usize,
    dim: usize,
}

/// # Safety
/// From `out + at` lies the image's `[len, dim]` output, whose `head.span` columns only this
/// call writes.
unsafe fn attend_head(head: &Head, out: Shared, at: usize, plain: bool) {
    let out = unsafe { out.0.add(at) };
    #[cfg(target_arch = "x86_64")]
    if !plain && is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was just detected.
        return unsafe { attend_head_avx512(head, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if !plain && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { attend_head_avx2(head, out) };
    }
    // x86 without FMA would make `mul_add` a slow library call.
    unsafe { attend_head_with::<{ !cfg!(target_arch = "x86_64") }>(head, out) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn attend_head_avx512(head: &Head, out: *mut f32) {
    unsafe { attend_head_with::<true>(head, out) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_head_avx2(head: &Head, out: *mut f32) {
    unsafe { attend_head_with::<true>(head, out) }
}

/// Lanes of a block: one AVX-512 register, two of AVX2.
const LANES: usize = 16;

/// Every query row of one head. The keys are transposed once, so that a row's scores are
/// made a block of keys at a time (a query value times a row of keys, accumulated in
/// registers); its output likewise a block of the head's width at a time. No closures: they
/// would not inherit the caller's target features.
///
/// # Safety
/// As [`attend_head`], `out` already at the image's output.
#[inline(always)]
unsafe fn attend_head_with<const FUSED: bool>(head: &Head, out: *mut f32) {
    let (n, dim, hd) = (head.len, head.dim, head.span.len());
    // Keys transposed, `keys[d·width + c]`, zero past the last key.
    let width = n.next_multiple_of(LANES);
    let mut keys = vec![0f32; hd * width];
    for c in 0..n {
        for (d, &k) in head.part(c, 1).iter().enumerate() {
            keys[d * width + c] = k;
        }
    }
    // Values row by row, together: read in place, rows `3·dim` apart fall into few cache sets.
    let mut values = Vec::with_capacity(n * hd);
    for c in 0..n {
        values.extend_from_slice(head.part(c, 2));
    }
    let mut p = vec![0f32; width];
    let whole = hd - hd % LANES;
    for r in 0..n {
        let q = head.part(r, 0);
        let mut at = 0;
        while at < width {
            let blocks = ((width - at) / LANES).min(4);
            match blocks {
                4 => block::<4, FUSED>(q, &keys, width, at, &mut p),
                3 => block::<3, FUSED>(q, &keys, width, at, &mut p),
                2 => block::<2, FUSED>(q, &keys, width, at, &mut p),
                _ => block::<1, FUSED>(q, &keys, width, at, &mut p),
            }
            at += blocks * LANES;
        }
        let p = &mut p[..n];
        let mask = &head.mask[r * head.mask_stride..][..n];
        for (p, m) in p.iter_mut().zip(mask) {
            *p += m;
        }
        softmax(p);
        // SAFETY: row `r`, the head's columns (the caller's promise).
        let o = unsafe { std::slice::from_raw_parts_mut(out.add(r * dim + head.span.start), hd) };
        let mut at = 0;
        while at < whole {
            let blocks = ((whole - at) / LANES).min(4);
            match blocks {
                4 => block::<4, FUSED>(p, &values, hd, at, o),
                3 => block::<3, FUSED>(p, &values, hd, at, o),
                2 => block::<2, FUSED>(p, &values, hd, at, o),
                _ => block::<1, FUSED>(p, &values, hd, at, o),
            }
            at += blocks * LANES;
        }
        for (&w, v) in p.iter().zip(values.chunks_exact(hd)) {
            for (o, &v) in o[whole..].iter_mut().zip(&v[whole..]) {
                *o = madd::<FUSED>(w, v, *o);
            }
        }
    }
}

impl Head<'_> {
    /// Row `row`'s queries (`which` 0), keys (1) or values (2) of this head.
    #[inline(always)]
    fn part(&self, row: usize, which: usize) -> &[f32] {
        &self.rows[row * 3 * self.dim + which * self.dim..][self.span.clone()]
    }
}

/// `dst[at..at + B·16] = Σ_i w[i]·rows[i·width + at..]`: a block of a row's scores (`w` the
/// query, `rows` the transposed keys) or of its output (`w` the weights, `rows` the values).
#[inline(always)]
fn block<const B: usize, const FUSED: bool>(
    w: &[f32],
    rows: &[f32],
    width: usize,
    at: usize,
    dst: &mut [f32],
) {
    let sums = two_chains::<B, FUSED>(w, rows, width, at);
    dst[at..at + B * LANES].copy_from_slice(sums.as_flattened());
}

/// `Σ_i w[i]·rows[i·stride + from..][..B·16]` in `2·B` registers: even and odd `i` in
/// separate sums, to hide the FMA's latency.
#[inline(always)]
fn two_chains<const B: usize, const FUSED: bool>(
    w: &[f32],
    rows: &[f32],
    stride: usize,
    from: usize,
) -> [[f32; LANES]; B] {
    let mut even = [[0f32; LANES]; B];
    let mut odd = [[0f32; LANES]; B];
    let mut pairs = w.chunks_exact(2);
    for (i, pair) in (&mut pairs).enumerate() {
        let at = 2 * i * stride + from;
        add::<B, FUSED>(&mut even, pair[0], &rows[at..at + B * LANES]);
        add::<B, FUSED>(
            &mut odd,
            pair[1],
            &rows[at + stride..at + stride + B * LANES],
        );
    }
    if let [last] = pairs.remainder() {
        let at = (w.len() - 1) * stride + from;
        add::<B, FUSED>(&mut even, *last, &rows[at..at + B * LANES]);
    }
    for (e, o) in even.iter_mut().zip(&odd) {
        for (e, o) in e.iter_mut().zip(o) {
            *e += o;
        }
    }
    even
}

/// `acc += w·row`.
#[inline(always)]
fn add<const B: usize, const FUSED: bool>(acc: &mut [[f32; LANES]; B], w: f32, row: &[f32]) {
    for (acc, r) in acc.iter_mut().zip(row.chunks_exact(LANES)) {
        for (a, &r) in acc.iter_mut().zip(r) {
            *a = madd::<FUSED>(w, r, *a);
        }
    }
}

/// `a·b + c`, in one rounding (FMA) when `FUSED`.
#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// In place; a row of only −∞ becomes zeros rather than NaN. Maxima and sums are kept per
/// lane of 8 so that the loops vectorise.
#[inline(always)]
fn softmax(p: &mut [f32]) {
    let mut top = [f32::NEG_INFINITY; 8];
    let mut chunks = p.chunks_exact(8);
    for c in &mut chunks {
        for (t, &x) in top.iter_mut().zip(c) {
            *t = if x > *t { x } else { *t };
        }
    }
    let top = chunks
        .remainder()
        .iter()
        .chain(&top)
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    if top == f32::NEG_INFINITY {
        p.fill(0.0);
        return;
    }
    let mut sums = [0f32; 8];
    let mut chunks = p.chunks_exact_mut(8);
    for c in &mut chunks {
        for (s, x) in sums.iter_mut().zip(c) {
            *x = exp(*x - top);
            *s += *x;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp(*x - top);
        sum += *x;
    }
    let inv = 1.0 / sum;
    p.iter_mut().for_each(|x| *x *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::activation::tests::max_diff;
    use candle_core::Device;

    #[test]
    fn fused_attention_matches_candle_with_every_kind_of_mask() {
        let dev = Device::Cpu;
        for &(b, n, heads, hd) in &[(1, 1, 1, 4), (2, 7, 3, 5), (3, 50, 12, 64), (2, 17, 2, 24)] {
            let dim = heads * hd;
            let qkv = Tensor::randn(0f32, 1.0, (b, n, 3 * dim), &dev).unwrap();
            let causal: Vec<f32> = (0..n * n)
                .map(|i| {
                    if i % n > i / n {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
                .collect();
            let causal = Tensor::from_vec(causal, (1, 1, n, n), &dev).unwrap();
            // Padding: the last key of every other row is masked, as BERT masks padding.
            let pad: Vec<f32> = (0..b * n)
                .map(|i| {
                    if i / n % 2 == 1 && i % n == n - 1 && n > 1 {
                        f32::MIN
                    } else {
                        0.0
                    }
                })
                .collect();
            let pad = Tensor::from_vec(pad, (b, 1, 1, n), &dev).unwrap();
            for (mask, plain) in [None, Some(&causal), Some(&pad)]
                .into_iter()
                .flat_map(|m| [(m, false), (m, true)])
            {
                let got = fused(&qkv, heads, mask, plain)
                    .unwrap()
                    .expect("the fused path applies");
                let want = with_candle(&qkv, heads, mask).unwrap();
                let diff = max_diff(&got, &want);
                assert!(
                    diff < 5e-5,
                    "{b}×{n}, {heads} heads of {hd}, plain {plain}: {diff}"
                );
            }
        }
    }

    #[test]
    fn a_mask_of_another_shape_leaves_it_to_candle() {
        let dev = Device::Cpu;
        let qkv = Tensor::zeros((2, 5, 12), DType::F32, &dev).unwrap();
        let odd = Tensor::zeros((2, 2, 5, 5), DType::F32, &dev).unwrap();
        assert!(fused(&qkv, 2, Some(&odd), false).unwrap().is_none());
        // ... and `attend` still answers, through candle.
        assert_eq!(attend(&qkv, 2, Some(&odd)).unwrap().dims(), &[2, 5, 4]);
    }
}
