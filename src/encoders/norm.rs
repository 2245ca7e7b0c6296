//! Layer normalisation. On the CPU each row's mean and variance are summed in lanes, so that
//! the loops vectorise (candle's sums each row one value at a time), in two passes over the
//! row (the variance from the deviations, not from the mean square), rows spread over the pool.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::{Init, LayerNorm, VarBuilder};

use super::activation::CHUNK_ELEMENTS;
use super::gemm::{f32_slice, par_zeroed};

/// `(x - mean) / √(variance + eps) · weight + bias` over the last dimension.
pub(crate) struct Norm {
    /// Candle's: the path off the CPU, and for inputs that are not contiguous.
    candle: LayerNorm,
    /// The weight and bias when they live on the CPU in f32.
    host: Option<(Vec<f32>, Vec<f32>)>,
}

/// The `weight` and `bias` of a layer norm of `dim` under `vb`, as candle's `layer_norm` (also
/// its initial values, for weights drawn at random: ones and zeros).
pub(crate) fn layer_norm(dim: usize, eps: f64, vb: VarBuilder) -> Result<Norm> {
    let weight = vb.get_with_hints(dim, "weight", Init::Const(1.0))?;
    let bias = vb.get_with_hints(dim, "bias", Init::Const(0.0))?;
    Norm::new(weight, bias, eps)
}

impl Norm {
    pub(crate) fn new(weight: Tensor, bias: Tensor, eps: f64) -> Result<Norm> {
        let host = if weight.device().is_cpu() && weight.dtype() == DType::F32 {
            Some((weight.to_vec1::<f32>()?, bias.to_vec1::<f32>()?))
        } else {
            None
        };
        Ok(Norm {
            candle: LayerNorm::new(weight, bias, eps),
            host,
        })
    }
}

impl Module for Norm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match &self.host {
            Some((weight, bias))
                if xs.device().is_cpu() && xs.dtype() == DType::F32 && xs.is_contiguous() =>
            {
                xs.apply_op1_no_bwd(&Rows {
                    weight,
                    bias,
                    eps: self.candle.eps() as f32,
                })
            }
            _ => self.candle.forward(xs),
        }
    }
}

struct Rows<'a> {
    weight: &'a [f32],
    bias: &'a [f32],
    eps: f32,
}

impl CustomOp1 for Rows<'_> {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let xs = f32_slice(s, l, "layer norm")?;
        let n = self.weight.len();
        if n == 0 || l.dims().last() != Some(&n) || self.bias.len() != n {
            candle_core::bail!("layer norm of {n} for a tensor of {:?}", l.dims());
        }
        let run = (CHUNK_ELEMENTS / n).max(1) * n;
        let out = par_zeroed(xs.len(), run, |i, out| {
            for (o, x) in out.chunks_exact_mut(n).zip(xs[i * run..].chunks_exact(n)) {
                normalise(o, x, self);
            }
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// One row, in AVX-512's or AVX2's vectors where the CPU has them.
fn normalise(out: &mut [f32], x: &[f32], p: &Rows) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was just detected.
        return unsafe { normalise_avx512(out, x, p) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { normalise_avx2(out, x, p) };
    }
    normalise_each(out, x, p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn normalise_avx512(out: &mut [f32], x: &[f32], p: &Rows) {
    normalise_each(out, x, p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn normalise_avx2(out: &mut [f32], x: &[f32], p: &Rows) {
    normalise_each(out, x, p)
}

/// Lanes of the partial sums: one AVX-512 register.
const LANES: usize = 16;

#[inline(always)]
fn normalise_each(out: &mut [f32], x: &[f32], p: &Rows) {
    let n = x.len() as f32;
    let mean = lane_sum(x, |v| v) / n;
    let var = lane_sum(x, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + p.eps).sqrt();
    for ((o, &v), (&w, &b)) in out.iter_mut().zip(x).zip(p.weight.iter().zip(p.bias)) {
        *o = (v - mean) * inv * w + b;
    }
}

/// `Σ f(v)` over `x`, in [`LANES`] partial sums.
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut sums = [0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (s, &v) in sums.iter_mut().zip(c) {
            *s += f(v);
        }
    }
    let rest: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    sums.iter().sum::<f32>() + rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// In f64, one row at a time.
    fn reference(x: &[f32], n: usize, w: &[f32], b: &[f32], eps: f64) -> Vec<f32> {
        x.chunks(n)
            .flat_map(|row| {
                let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
                let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
                let inv = 1.0 / (var + eps).sqrt();
                row.iter().zip(w.iter().zip(b)).map(move |(&v, (&w, &b))| {
                    ((v as f64 - mean) * inv * w as f64 + b as f64) as f32
                })
            })
            .collect()
    }

    #[test]
    fn rows_of_odd_widths_match_a_plain_f64_norm() {
        let dev = Device::Cpu;
        for &(rows, n) in &[(1, 1), (3, 7), (5, 17), (2, 33), (50, 768), (1000, 24)] {
            // A large offset: a variance from the mean square would lose it.
            let x = (Tensor::randn(0f32, 2.0, (rows, n), &dev).unwrap() + 100.0).unwrap();
            let w = Tensor::randn(1f32, 0.5, n, &dev).unwrap();
            let b = Tensor::randn(0f32, 0.5, n, &dev).unwrap();
            let norm = Norm::new(w.clone(), b.clone(), 1e-5).unwrap();
            let got = norm.forward(&x).unwrap().flatten_all().unwrap();
            let want = reference(
                &x.flatten_all().unwrap().to_vec1().unwrap(),
                n,
                &w.to_vec1().unwrap(),
                &b.to_vec1().unwrap(),
                1e-5,
            );
            for (i, (g, w)) in got.to_vec1::<f32>().unwrap().iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 5e-5, "{rows}×{n} [{i}]: {g} vs {w}");
            }
        }
    }

    #[test]
    fn weights_drawn_at_random_start_as_candles_do() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (4, 24), &dev).unwrap();
        let (a, b) = (candle_nn::VarMap::new(), candle_nn::VarMap::new());
        let vb = |m: &candle_nn::VarMap| VarBuilder::from_varmap(m, DType::F32, &dev);
        let ours = layer_norm(24, 1e-5, vb(&a)).unwrap().forward(&x).unwrap();
        let theirs = candle_nn::layer_norm(24, 1e-5, vb(&b))
            .unwrap()
            .forward(&x)
            .unwrap();
        let diff = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }

    #[test]
    fn a_strided_input_gives_what_candle_gives() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (24, 6), &dev)
            .unwrap()
            .t()
            .unwrap();
        let w = Tensor::randn(1f32, 0.5, 24, &dev).unwrap();
        let b = Tensor::randn(0f32, 0.5, 24, &dev).unwrap();
        let norm = Norm::new(w.clone(), b.clone(), 1e-5).unwrap();
        let got = norm.forward(&x).unwrap();
        let want = norm.forward(&x.contiguous().unwrap()).unwrap();
        let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
    }
}
