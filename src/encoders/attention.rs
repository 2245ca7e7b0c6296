//! Multi-head attention's core on the CPU in one pass: from the rows of fused queries, keys and
//! values straight to the heads' outputs, a row per task on all cores, without the split into
//! heads, the transposes, the mask and softmax passes and the batched products candle would
//! run for it (each a new tensor and a pass over memory).

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::activation::exp;
use super::gemm::f32_slice;
use crate::index::dot;

/// `softmax(q·kᵀ + mask)·v` per head, for `qkv` `[batch, len, 3·dim]` (each row the queries,
/// already scaled, then the keys, then the values of all heads) and an additive `mask` that
/// broadcasts to `[batch, heads, len, len]`; `[batch, len, dim]`. In one pass where it can
/// ([`fused`]), else by candle's operations.
pub(crate) fn attend(qkv: &Tensor, heads: usize, mask: Option<&Tensor>) -> Result<Tensor> {
    match fused(qkv, heads, mask)? {
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
/// `[batch, 1, len, len]`; `None` for anything else.
fn fused(qkv: &Tensor, heads: usize, mask: Option<&Tensor>) -> Result<Option<Tensor>> {
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
    let op = Attend { heads, b, n };
    Ok(Some(
        qkv.contiguous()?
            .apply_op2_no_bwd(&mask.contiguous()?, &op)?,
    ))
}

struct Attend {
    heads: usize,
    b: usize,
    n: usize,
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
        let mut out = vec![0f32; b * n * dim];
        out.par_chunks_mut(dim).enumerate().for_each(|(row, out)| {
            let (i, r) = (row / n, row % n);
            let rows = Rows {
                keys: &qkv[i * n * 3 * dim..(i + 1) * n * 3 * dim],
                q: &qkv[row * 3 * dim..row * 3 * dim + dim],
                mask: &mask[i * mb + r * mr..i * mb + r * mr + n],
                heads,
            };
            attend_row(&rows, out);
        });
        Ok((CpuStorage::F32(out), Shape::from((b, n, dim))))
    }
}

/// What one query row attends with.
struct Rows<'a> {
    /// Every row of its image or text: queries, keys, values.
    keys: &'a [f32],
    q: &'a [f32],
    mask: &'a [f32],
    heads: usize,
}

fn attend_row(rows: &Rows, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { attend_row_avx2(rows, out) };
    }
    attend_row_with(rows, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn attend_row_avx2(rows: &Rows, out: &mut [f32]) {
    attend_row_with(rows, out)
}

/// One query row through every head, into `out` (`dim`, zeros).
#[inline(always)]
fn attend_row_with(rows: &Rows, out: &mut [f32]) {
    let dim = out.len();
    let (n, hd) = (rows.mask.len(), dim / rows.heads);
    let mut p = vec![0f32; n];
    for h in 0..rows.heads {
        let span = h * hd..(h + 1) * hd;
        let q = &rows.q[span.clone()];
        for (c, (p, m)) in p.iter_mut().zip(rows.mask).enumerate() {
            *p = dot(q, &rows.keys[c * 3 * dim + dim..][span.clone()]) + m;
        }
        softmax(&mut p);
        let o = &mut out[span.clone()];
        for (c, &w) in p.iter().enumerate() {
            let v = &rows.keys[c * 3 * dim + 2 * dim..][span.clone()];
            o.iter_mut().zip(v).for_each(|(o, v)| *o += w * v);
        }
    }
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
            for mask in [None, Some(&causal), Some(&pad)] {
                let got = fused(&qkv, heads, mask)
                    .unwrap()
                    .expect("the fused path applies");
                let want = with_candle(&qkv, heads, mask).unwrap();
                let diff = max_diff(&got, &want);
                assert!(diff < 5e-5, "{b}×{n}, {heads} heads of {hd}: {diff}");
            }
        }
    }

    #[test]
    fn a_mask_of_another_shape_leaves_it_to_candle() {
        let dev = Device::Cpu;
        let qkv = Tensor::zeros((2, 5, 12), DType::F32, &dev).unwrap();
        let odd = Tensor::zeros((2, 2, 5, 5), DType::F32, &dev).unwrap();
        assert!(fused(&qkv, 2, Some(&odd)).unwrap().is_none());
        // ... and `attend` still answers, through candle.
        assert_eq!(attend(&qkv, 2, Some(&odd)).unwrap().dims(), &[2, 5, 4]);
    }
}
