//! This CPU's peak rate for the encoders' inner operations, measured on one core: f32 FMAs and,
//! with AVX-512 VNNI or AVX-VNNI, 8-bit dot products (`vpdpbusd`), twelve independent sums in
//! registers, no memory traffic. No engine's matrix products run faster here, so a pass's
//! operations per second over `threads` × this say how much any kernel could still gain.

use std::hint::black_box;
use std::time::Instant;

/// Per core: `f32_gflops` (multiply-adds counted as 2) and `int8_gmacs` (8-bit multiply-adds);
/// `null` where the CPU lacks the instructions.
pub fn per_core() -> serde_json::Value {
    #[cfg(target_arch = "x86_64")]
    {
        let rate = |ops_per_step: f64, f: &dyn Fn(usize)| {
            // Steps of 12 instructions; the best of three runs of a few hundredths of a second.
            let steps = 20_000_000;
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    f(steps);
                    ops_per_step * steps as f64 / t.elapsed().as_secs_f64() / 1e9
                })
                .fold(0.0, f64::max)
        };
        let round = |v: f64| (v * 10.0).round() / 10.0;
        let f32_gflops = if is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was just detected.
            Some(rate(12.0 * 32.0, &|n| unsafe { x86::fma512(n) }))
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            Some(rate(12.0 * 16.0, &|n| unsafe { x86::fma256(n) }))
        } else {
            None
        };
        let int8_gmacs =
            if is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni") {
                // SAFETY: the features were just detected.
                Some(rate(12.0 * 64.0, &|n| unsafe { x86::vnni512(n) }))
            } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni") {
                // SAFETY: the features were just detected.
                Some(rate(12.0 * 32.0, &|n| unsafe { x86::vnni256(n) }))
            } else {
                None
            };
        serde_json::json!({
            "f32_gflops": f32_gflops.map(round),
            "int8_gmacs": int8_gmacs.map(round),
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    serde_json::json!({ "f32_gflops": null, "int8_gmacs": null })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::black_box;
    use std::arch::x86_64::*;

    /// `steps` steps of an operation on twelve independent registers: `$op(acc, a, b)`.
    macro_rules! steps {
        ($name:ident, $features:literal, $start:expr, $a:expr, $b:expr, $op:ident) => {
            /// # Safety
            /// The CPU has the features this function enables.
            #[target_feature(enable = $features)]
            pub unsafe fn $name(steps: usize) {
                let (a, b) = ($a, $b);
                let mut acc = [$start; 12];
                for _ in 0..steps {
                    for x in &mut acc {
                        *x = $op(*x, a, b);
                    }
                }
                black_box(acc);
            }
        };
    }

    steps!(
        fma512,
        "avx512f",
        _mm512_set1_ps(black_box(0.5)),
        _mm512_set1_ps(black_box(1.0)),
        _mm512_set1_ps(black_box(0.0)),
        _mm512_fmadd_ps
    );
    steps!(
        fma256,
        "avx2,fma",
        _mm256_set1_ps(black_box(0.5)),
        _mm256_set1_ps(black_box(1.0)),
        _mm256_set1_ps(black_box(0.0)),
        _mm256_fmadd_ps
    );
    steps!(
        vnni512,
        "avx512f,avx512bw,avx512vnni",
        _mm512_setzero_si512(),
        _mm512_set1_epi32(black_box(0x0101_0101)),
        _mm512_set1_epi32(black_box(0x0202_0202)),
        _mm512_dpbusd_epi32
    );
    steps!(
        vnni256,
        "avx2,avxvnni",
        _mm256_setzero_si256(),
        _mm256_set1_epi32(black_box(0x0101_0101)),
        _mm256_set1_epi32(black_box(0x0202_0202)),
        _mm256_dpbusd_avx_epi32
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_peak_is_measured_where_the_cpu_has_the_instructions() {
        let peak = super::per_core();
        #[cfg(target_arch = "x86_64")]
        {
            let has = |f: &str| peak[f].as_f64().is_some_and(|v| v > 1.0);
            assert_eq!(
                has("f32_gflops"),
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
                "{peak}"
            );
            assert_eq!(
                has("int8_gmacs"),
                (is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni"))
                    || (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni")),
                "{peak}"
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        assert!(peak["f32_gflops"].is_null());
    }
}
