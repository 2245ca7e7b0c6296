//! Dot products of embeddings, in full and half precision, with the widest vector unit the CPU
//! has (AVX-512, or AVX2 with FMA), picked at run time: release builds target baseline x86-64,
//! so the compiler alone would use 128-bit SSE2. Each has a portable fallback.

use half::f16;

/// Dot product; vectors are L2-normalised, so this is the cosine similarity.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { simd::dot_avx512(a, b) };
        }
        if avx2() {
            // SAFETY: the CPU has AVX2, FMA and F16C (`avx2`).
            return unsafe { simd::dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// Dot product for any CPU: eight independent sums let the compiler use SIMD lanes.
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Dot product of two half-precision vectors, summed in `f32`.
#[inline]
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { simd::dot_f16_avx512(a, b) };
        }
        if avx2() {
            // SAFETY: the CPU has AVX2, FMA and F16C (`avx2`).
            return unsafe { simd::dot_f16_avx2(a, b) };
        }
    }
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y.to_f32()).sum()
}

/// Dot product of a full-precision query with a half-precision vector, summed in `f32`.
#[inline]
pub fn dot_f32_f16(a: &[f32], b: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { simd::dot_f32_f16_avx512(a, b) };
        }
        if avx2() {
            // SAFETY: the CPU has AVX2, FMA and F16C (`avx2`).
            return unsafe { simd::dot_f32_f16_avx2(a, b) };
        }
    }
    a.iter().zip(b).map(|(x, y)| x * y.to_f32()).sum()
}

/// Dot product of two vectors of 8-bit codes in −127..=127, exact in `i32` (for up to
/// 2¹⁷ elements).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if vnni() {
            // SAFETY: the CPU has AVX-512F, BW and VNNI (`vnni`).
            return unsafe { simd::dot_i8_vnni(a, b) };
        }
        if avx2() {
            // SAFETY: the CPU has AVX2, FMA and F16C (`avx2`).
            return unsafe { simd::dot_i8_avx2(a, b) };
        }
    }
    dot_i8_portable(a, b)
}

fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// Asks the CPU to start loading `bytes` bytes at `p` into its caches (a hint: never faults).
#[inline]
pub fn prefetch<T>(p: *const T, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        for line in (0..bytes).step_by(64) {
            // SAFETY: prefetching is a hint that never faults, whatever the address.
            unsafe { _mm_prefetch(p.cast::<i8>().wrapping_add(line), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, bytes);
}

#[cfg(target_arch = "x86_64")]
fn vnni() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
}

#[cfg(target_arch = "x86_64")]
pub(super) mod simd {
    use half::f16;
    use std::arch::x86_64::*;

    /// The loop of every kernel: `la` and `lb` widen `lanes` elements at a pointer to `f32`s;
    /// four accumulators hide the FMA latency.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn dot_with<A: Copy + Into<f32>, B: Copy + Into<f32>, V: Copy>(
        a: &[A],
        b: &[B],
        lanes: usize,
        zero: V,
        la: impl Fn(*const A) -> V,
        lb: impl Fn(*const B) -> V,
        fma: impl Fn(V, V, V) -> V,
        sum: impl Fn(V) -> f32,
    ) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
        let mut i = 0;
        // Every load reads `lanes` elements at `i` with i + lanes <= n, within both slices.
        let at = |i: usize| (pa.wrapping_add(i), pb.wrapping_add(i));
        while i + 4 * lanes <= n {
            let (x0, y0) = at(i);
            let (x1, y1) = at(i + lanes);
            let (x2, y2) = at(i + 2 * lanes);
            let (x3, y3) = at(i + 3 * lanes);
            s0 = fma(la(x0), lb(y0), s0);
            s1 = fma(la(x1), lb(y1), s1);
            s2 = fma(la(x2), lb(y2), s2);
            s3 = fma(la(x3), lb(y3), s3);
            i += 4 * lanes;
        }
        while i + lanes <= n {
            let (x, y) = at(i);
            s0 = fma(la(x), lb(y), s0);
            i += lanes;
        }
        let mut s = sum(s0) + sum(s1) + sum(s2) + sum(s3);
        for j in i..n {
            s += a[j].into() * b[j].into();
        }
        s
    }

    // SAFETY of the loads below: `dot_with` passes pointers with `lanes` elements readable.
    // They are closures so that they inherit their kernel's target features and inline.

    macro_rules! loads {
        (16) => {
            (
                |p: *const f32| unsafe { _mm512_loadu_ps(p) },
                |p: *const f16| unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) },
            )
        };
        (8) => {
            (
                |p: *const f32| unsafe { _mm256_loadu_ps(p) },
                |p: *const f16| unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) },
            )
        };
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn sum256(v: __m256) -> f32 {
        let q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
        _mm_cvtss_f32(q)
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let (zero, fma) = (_mm512_setzero_ps(), |a, b, c| _mm512_fmadd_ps(a, b, c));
        let (f32x16, _) = loads!(16);
        dot_with(a, b, 16, zero, f32x16, f32x16, fma, |v| {
            _mm512_reduce_add_ps(v)
        })
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_f16_avx512(a: &[f16], b: &[f16]) -> f32 {
        let (zero, fma) = (_mm512_setzero_ps(), |a, b, c| _mm512_fmadd_ps(a, b, c));
        let (_, f16x16) = loads!(16);
        dot_with(a, b, 16, zero, f16x16, f16x16, fma, |v| {
            _mm512_reduce_add_ps(v)
        })
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_f32_f16_avx512(a: &[f32], b: &[f16]) -> f32 {
        let (zero, fma) = (_mm512_setzero_ps(), |a, b, c| _mm512_fmadd_ps(a, b, c));
        let (f32x16, f16x16) = loads!(16);
        dot_with(a, b, 16, zero, f32x16, f16x16, fma, |v| {
            _mm512_reduce_add_ps(v)
        })
    }

    /// `Σ aᵢbᵢ` as `Σ (aᵢ + 128) bᵢ − 128 Σ bᵢ`: `vpdpbusd` multiplies unsigned by signed
    /// bytes, four products per lane (64 per instruction), summed exactly in i32.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn dot_i8_vnni(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let (flip, ones) = (_mm512_set1_epi8(i8::MIN), _mm512_set1_epi8(1));
        let (mut ab, mut sb) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let mut i = 0;
        while i + 64 <= n {
            // SAFETY: 64 bytes at `i`, with i + 64 <= n, are within both slices.
            let (x, y) = unsafe {
                (
                    _mm512_loadu_si512(a.as_ptr().add(i).cast()),
                    _mm512_loadu_si512(b.as_ptr().add(i).cast()),
                )
            };
            // x xor 0x80 is x + 128 as an unsigned byte.
            ab = _mm512_dpbusd_epi32(ab, _mm512_xor_si512(x, flip), y);
            sb = _mm512_dpbusd_epi32(sb, ones, y);
            i += 64;
        }
        let mut s = _mm512_reduce_add_epi32(ab) - 128 * _mm512_reduce_add_epi32(sb);
        for j in i..n {
            s += i32::from(a[j]) * i32::from(b[j]);
        }
        s
    }

    /// `Σ |aᵢ| (bᵢ sign aᵢ)`: `vpmaddubsw` multiplies unsigned by signed bytes and adds pairs
    /// in i16, which cannot saturate with both in −127..=127 (at most 2 × 127²).
    #[target_feature(enable = "avx2")]
    pub unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: 32 bytes at `i`, with i + 32 <= n, are within both slices.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i).cast()),
                    _mm256_loadu_si256(b.as_ptr().add(i).cast()),
                )
            };
            let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
            i += 32;
        }
        let q = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256(acc, 1),
        );
        let q = _mm_add_epi32(q, _mm_shuffle_epi32(q, 0b01_00_11_10));
        let q = _mm_add_epi32(q, _mm_shuffle_epi32(q, 0b10_11_00_01));
        let mut s = _mm_cvtsi128_si32(q);
        for j in i..n {
            s += i32::from(a[j]) * i32::from(b[j]);
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let (zero, fma) = (_mm256_setzero_ps(), |a, b, c| _mm256_fmadd_ps(a, b, c));
        let (f32x8, _) = loads!(8);
        dot_with(a, b, 8, zero, f32x8, f32x8, fma, |v| sum256(v))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_f16_avx2(a: &[f16], b: &[f16]) -> f32 {
        let (zero, fma) = (_mm256_setzero_ps(), |a, b, c| _mm256_fmadd_ps(a, b, c));
        let (_, f16x8) = loads!(8);
        dot_with(a, b, 8, zero, f16x8, f16x8, fma, |v| sum256(v))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_f32_f16_avx2(a: &[f32], b: &[f16]) -> f32 {
        let (zero, fma) = (_mm256_setzero_ps(), |a, b, c| _mm256_fmadd_ps(a, b, c));
        let (f32x8, f16x8) = loads!(8);
        dot_with(a, b, 8, zero, f32x8, f16x8, fma, |v| sum256(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half_of(v: &[f32]) -> Vec<f16> {
        v.iter().map(|&x| f16::from_f32(x)).collect()
    }

    #[test]
    fn every_dot_product_kernel_agrees_with_a_plain_sum() {
        // Lengths around the vector widths (8, 16, 32) and the real ones (384, 512, 768).
        for n in [
            0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 384, 511, 512, 768,
        ] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let b: Vec<f32> = (0..n)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0)
                .collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let tol = 1e-5 * (1.0 + n as f64);
            let mut got = vec![
                ("dispatched", dot(&a, &b)),
                ("portable", dot_portable(&a, &b)),
            ];
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    got.push(("avx512", unsafe { simd::dot_avx512(&a, &b) }));
                }
                if avx2() {
                    got.push(("avx2", unsafe { simd::dot_avx2(&a, &b) }));
                }
            }
            let (ha, hb) = (half_of(&a), half_of(&b));
            let want_half: f64 = ha
                .iter()
                .zip(&hb)
                .map(|(x, y)| x.to_f64() * y.to_f64())
                .sum();
            let want_mixed: f64 = a.iter().zip(&hb).map(|(x, y)| *x as f64 * y.to_f64()).sum();
            got.push(("half, dispatched", dot_f16(&ha, &hb)));
            got.push(("mixed, dispatched", dot_f32_f16(&a, &hb)));
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    got.push(("half, avx512", unsafe { simd::dot_f16_avx512(&ha, &hb) }));
                    got.push(("mixed, avx512", unsafe {
                        simd::dot_f32_f16_avx512(&a, &hb)
                    }));
                }
                if avx2() {
                    got.push(("half, avx2", unsafe { simd::dot_f16_avx2(&ha, &hb) }));
                    got.push(("mixed, avx2", unsafe { simd::dot_f32_f16_avx2(&a, &hb) }));
                }
            }
            for (name, g) in got {
                let want = match name.split(',').next() {
                    Some("half") => want_half,
                    Some("mixed") => want_mixed,
                    _ => want,
                };
                assert!(
                    (g as f64 - want).abs() < tol,
                    "{name}, n={n}: {g} vs {want}"
                );
            }
        }
    }

    #[test]
    fn every_8_bit_kernel_gives_the_exact_sum() {
        // Around the widths (32, 64), the real ones, and every code at its extremes.
        for n in [0, 1, 31, 32, 33, 63, 64, 65, 127, 384, 511, 512, 768] {
            let mixed = |i: usize| {
                let code = |m: usize| ((i * m % 255) as i32 - 127) as i8;
                (code(37), code(53))
            };
            let extremes = |i: usize| (127, if i.is_multiple_of(2) { 127 } else { -127 });
            let lowest = |_: usize| (-127, -127);
            let patterns: [&dyn Fn(usize) -> (i8, i8); 3] = [&mixed, &extremes, &lowest];
            for p in &patterns {
                let (a, b): (Vec<i8>, Vec<i8>) = (0..n).map(p).unzip();
                let want = dot_i8_portable(&a, &b);
                let plain: i64 = a.iter().zip(&b).map(|(&x, &y)| x as i64 * y as i64).sum();
                assert_eq!(want as i64, plain);
                assert_eq!(dot_i8(&a, &b), want, "dispatched, n={n}");
                #[cfg(target_arch = "x86_64")]
                {
                    if vnni() {
                        assert_eq!(unsafe { simd::dot_i8_vnni(&a, &b) }, want, "vnni, n={n}");
                    }
                    if avx2() {
                        assert_eq!(unsafe { simd::dot_i8_avx2(&a, &b) }, want, "avx2, n={n}");
                    }
                }
            }
        }
    }
}
