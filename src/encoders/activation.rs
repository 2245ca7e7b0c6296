//! Transformer activations, and on the CPU a fused step that adds a linear layer's bias and
//! applies its activation in place, in one multi-threaded pass. Candle runs each of those as a
//! separate single-threaded pass with a new tensor each (three for quick-GELU), which took more
//! time than the attention matrix products.

use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Tensor};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `x·σ(1.702x)`, OpenAI's CLIP.
    QuickGelu,
    /// Exact GELU, `x·Φ(x)`.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
}

impl Act {
    /// From a `hidden_act` name in a Hugging Face `config.json`.
    pub fn parse(name: &str) -> Result<Act> {
        match name {
            "quick_gelu" => Ok(Act::QuickGelu),
            "gelu" => Ok(Act::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Act::GeluTanh),
            other => candle_core::bail!("unsupported activation {other:?} in config.json"),
        }
    }

    /// Candle's own operations: the reference, and the path off the CPU.
    fn apply_tensor(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Act::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
            Act::Gelu => xs.gelu_erf(),
            Act::GeluTanh => xs.gelu(),
        }
    }

    #[inline(always)]
    fn apply_scalar(self, x: f32) -> f32 {
        match self {
            Act::QuickGelu => x / (1.0 + exp(-1.702 * x)),
            Act::Gelu => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
            Act::GeluTanh => {
                // 0.5·x·(1 + tanh(y)) = x·σ(2y)
                let y = 0.797_884_6 * (x + 0.044_715 * x * x * x);
                x / (1.0 + exp(-2.0 * y))
            }
        }
    }
}

/// `act(xs + bias)`, with `bias` broadcast over `xs`'s last dimension; either may be absent.
/// On the CPU (f32, contiguous) `xs` is overwritten, so pass a tensor nothing else holds (a
/// fresh matrix product).
pub fn bias_act(xs: Tensor, bias: Option<&Tensor>, act: Option<Act>) -> Result<Tensor> {
    if bias.is_none() && act.is_none() {
        return Ok(xs);
    }
    let fusable = xs.device().is_cpu()
        && xs.dtype() == DType::F32
        && xs.is_contiguous()
        && bias.is_none_or(|b| b.dtype() == DType::F32 && b.is_contiguous() && b.rank() == 1);
    if fusable {
        let bias = match bias {
            Some(b) => b.clone(),
            None => Tensor::zeros(xs.dim(candle_core::D::Minus1)?, DType::F32, xs.device())?,
        };
        xs.inplace_op2(&bias, &BiasAct(act))?;
        return Ok(xs);
    }
    let xs = match bias {
        Some(b) => xs.broadcast_add(b)?,
        None => xs,
    };
    match act {
        Some(a) => a.apply_tensor(&xs),
        None => Ok(xs),
    }
}

struct BiasAct(Option<Act>);

/// Values per rayon task in a pass over rows: large enough that scheduling costs nothing next
/// to the work (here and in the layer norm).
pub(super) const CHUNK_ELEMENTS: usize = 16 * 1024;

impl InplaceOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (CpuStorage::F32(xs), CpuStorage::F32(bias)) = (s1, s2) else {
            candle_core::bail!("bias-act needs f32 tensors");
        };
        let (Some((xa, xb)), Some((ba, bb))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("bias-act needs contiguous tensors");
        };
        let xs = &mut xs[xa..xb];
        let bias = &bias[ba..bb];
        let n = bias.len();
        if n == 0 || !xs.len().is_multiple_of(n) {
            candle_core::bail!("bias of {n} does not divide a tensor of {}", xs.len());
        }
        let rows = (CHUNK_ELEMENTS / n).max(1);
        let act = self.0;
        xs.par_chunks_mut(rows * n).for_each(|chunk| {
            for row in chunk.chunks_exact_mut(n) {
                match act {
                    None => row.iter_mut().zip(bias).for_each(|(x, b)| *x += b),
                    Some(a) => apply_row(row, bias, a),
                }
            }
        });
        Ok(())
    }
}

/// `act` over `xs` in place, in AVX-512's or AVX2's vectors where the CPU has them.
pub(crate) fn act_in_place(xs: &mut [f32], act: Act) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was just detected.
        return unsafe { act_avx512(xs, act) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { act_avx2(xs, act) };
    }
    act_each(xs, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn act_avx2(xs: &mut [f32], act: Act) {
    act_each(xs, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn act_avx512(xs: &mut [f32], act: Act) {
    act_each(xs, act)
}

#[inline(always)]
fn act_each(xs: &mut [f32], act: Act) {
    macro_rules! each {
        ($a:expr) => {
            xs.iter_mut().for_each(|x| *x = $a.apply_scalar(*x))
        };
    }
    match act {
        Act::QuickGelu => each!(Act::QuickGelu),
        Act::Gelu => each!(Act::Gelu),
        Act::GeluTanh => each!(Act::GeluTanh),
    }
}

/// One row, with the activation chosen outside the loop so that each loop vectorises.
fn apply_row(row: &mut [f32], bias: &[f32], act: Act) {
    macro_rules! each {
        ($a:expr) => {
            row.iter_mut()
                .zip(bias)
                .for_each(|(x, b)| *x = $a.apply_scalar(*x + b))
        };
    }
    match act {
        Act::QuickGelu => each!(Act::QuickGelu),
        Act::Gelu => each!(Act::Gelu),
        Act::GeluTanh => each!(Act::GeluTanh),
    }
}

/// `eˣ` within about 2 ulp, branch-free so that loops over it vectorise (libm's `expf` is a
/// call per element). Saturates to 0 and to `f32::MAX`-ish outside ±87.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and removing 1.5·2²³ rounds to the nearest integer without a call to `roundf`.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    // `t`'s bits are `ROUND`'s (the low 9 of them zero) plus n.
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // e^r on [-ln2/2, ln2/2] (Cephes' expf polynomial).
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let er = p * r * r + r + 1.0;
    // 2ⁿ from `t`'s bits: a float-to-integer `as` would saturate lane by lane and not
    // vectorise. n + 127 is within 1..=254 for x within the clamp.
    let scale = f32::from_bits(t.to_bits().wrapping_add(127) << 23);
    er * scale
}

/// The error function, to about 1.5·10⁻⁷ (Abramowitz and Stegun 7.1.26).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use candle_core::Device;

    /// The largest absolute difference between two tensors of one shape.
    pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn exp_and_erf_match_libm() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.043;
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 3e-7, "exp({x}): {} vs {}", exp(x), x.exp());
        }
        for i in -600..=600 {
            let x = i as f32 * 0.01;
            let want = libm_erf(x as f64) as f32;
            assert!(
                (erf(x) - want).abs() < 3e-7,
                "erf({x}): {} vs {want}",
                erf(x)
            );
        }
        assert_eq!(exp(-200.0), exp(-87.0));
        assert!(exp(200.0).is_finite());
    }

    /// erf in f64: its Taylor series near 0, erfc's continued fraction further out.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() < 2.5 {
            let mut sum = 0.0;
            let mut term = x;
            let mut k = 0.0;
            while term.abs() > 1e-17 {
                sum += term / (2.0 * k + 1.0);
                k += 1.0;
                term *= -x * x / k;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = e^{-a²}/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
            let a = x.abs();
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / f;
            (1.0 - erfc).copysign(x)
        }
    }

    #[test]
    fn fused_step_matches_candle_for_every_activation() {
        let dev = Device::Cpu;
        let xs = (Tensor::randn(0f32, 3.0, (3, 37, 96), &dev).unwrap())
            .contiguous()
            .unwrap();
        let bias = Tensor::randn(0f32, 1.0, 96, &dev).unwrap();
        for act in [Act::QuickGelu, Act::Gelu, Act::GeluTanh] {
            let want = act.apply_tensor(&xs.broadcast_add(&bias).unwrap()).unwrap();
            let got = bias_act(xs.copy().unwrap(), Some(&bias), Some(act)).unwrap();
            assert!(max_diff(&got, &want) < 2e-5, "{act:?}");
        }
        let got = bias_act(xs.copy().unwrap(), Some(&bias), None).unwrap();
        assert_eq!(max_diff(&got, &xs.broadcast_add(&bias).unwrap()), 0.0);
        let got = bias_act(xs.copy().unwrap(), None, Some(Act::Gelu)).unwrap();
        assert!(max_diff(&got, &xs.gelu_erf().unwrap()) < 2e-5);
    }

    #[test]
    fn non_contiguous_input_takes_candle_path() {
        let dev = Device::Cpu;
        let xs = Tensor::randn(0f32, 1.0, (8, 6), &dev).unwrap().t().unwrap();
        let bias = Tensor::randn(0f32, 1.0, 8, &dev).unwrap();
        let want = Act::Gelu
            .apply_tensor(&xs.broadcast_add(&bias).unwrap())
            .unwrap();
        let got = bias_act(xs, Some(&bias), Some(Act::Gelu)).unwrap();
        assert!(max_diff(&got, &want) < 2e-5);
    }
}
