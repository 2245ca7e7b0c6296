//! CLIP image preprocessing as the reference image processor does it: RGB (transparency on
//! white), resize the shortest side with bicubic filtering, centre crop, rescale, normalise.

use std::path::Path;

use image::DynamicImage;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::photo::flatten_on_white;

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SizeSpec {
    Square(u32),
    Shortest { shortest_edge: u32 },
    Exact { height: u32, width: u32 },
}

fn yes() -> bool {
    true
}
fn default_rescale() -> f32 {
    1.0 / 255.0
}
fn bicubic_code() -> u8 {
    3
}

/// Pillow's resampling filters, by the codes the configs use.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    Bilinear,
    Bicubic,
}

impl Filter {
    fn from_code(code: u8) -> Option<Filter> {
        match code {
            2 => Some(Filter::Bilinear),
            3 => Some(Filter::Bicubic),
            _ => None,
        }
    }

    /// Half-width of the filter at scale 1.
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Bilinear => (1.0 - x.abs()).max(0.0),
            Filter::Bicubic => bicubic(x),
        }
    }
}

/// `preprocessor_config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct PreprocessorConfig {
    size: SizeSpec,
    crop_size: Option<SizeSpec>,
    #[serde(default = "yes")]
    do_resize: bool,
    #[serde(default = "yes")]
    do_center_crop: bool,
    #[serde(default = "yes")]
    do_rescale: bool,
    #[serde(default = "yes")]
    do_normalize: bool,
    #[serde(default = "default_rescale")]
    rescale_factor: f32,
    image_mean: [f32; 3],
    image_std: [f32; 3],
    /// Pillow's filter code: 2 bilinear, 3 bicubic.
    #[serde(default = "bicubic_code")]
    resample: u8,
}

#[derive(Debug, Clone)]
pub struct Preprocessor {
    cfg: PreprocessorConfig,
    filter: Filter,
    /// Output height and width.
    pub out: (u32, u32),
}

impl Preprocessor {
    pub fn load(path: &Path) -> Result<Preprocessor> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let value = serde_json::from_str(&text).map_err(|e| {
            Error::Model(format!(
                "{}: not a usable preprocessing config: {e}",
                path.display()
            ))
        })?;
        Preprocessor::from_value(value, path)
    }

    /// From the reference processor's configuration, as JSON; `path` names it in errors.
    pub fn from_value(value: serde_json::Value, path: &Path) -> Result<Preprocessor> {
        let cfg: PreprocessorConfig = serde_json::from_value(value).map_err(|e| {
            Error::Model(format!(
                "{}: not a usable preprocessing config: {e}",
                path.display()
            ))
        })?;
        let filter = Filter::from_code(cfg.resample).ok_or_else(|| {
            Error::Model(format!(
                "{}: resampling filter {} is not supported (2, bilinear, and 3, bicubic, are)",
                path.display(),
                cfg.resample
            ))
        })?;
        Ok(Preprocessor::new(cfg, filter))
    }

    fn new(cfg: PreprocessorConfig, filter: Filter) -> Preprocessor {
        let out = match (&cfg.crop_size, cfg.do_center_crop) {
            (Some(c), true) => hw(c),
            _ => hw(&cfg.size),
        };
        Preprocessor { cfg, filter, out }
    }

    /// The longest side the photo is resized to before the crop; 0 when it is not resized
    /// (the crop then reads the photo's own pixels). See [`crate::photo::decode_for_model`].
    pub fn resize_side(&self) -> u32 {
        match (self.cfg.do_resize, &self.cfg.size) {
            (false, _) => 0,
            (true, SizeSpec::Square(s) | SizeSpec::Shortest { shortest_edge: s }) => *s,
            (true, SizeSpec::Exact { height, width }) => *height.max(width),
        }
    }

    /// Pixel values, channels first (3 × height × width).
    pub fn apply(&self, img: &DynamicImage) -> Vec<f32> {
        let flat;
        let rgb = match img {
            DynamicImage::ImageRgb8(rgb) => rgb,
            _ => {
                flat = flatten_on_white(img);
                &flat
            }
        };
        let (w, h) = rgb.dimensions();
        let (rw, rh) = if self.cfg.do_resize {
            match self.cfg.size {
                SizeSpec::Square(s) | SizeSpec::Shortest { shortest_edge: s } => {
                    // As the reference: the short side becomes s, the long side int(s * long / short).
                    if w <= h {
                        (s, ((s as u64 * h as u64) / w.max(1) as u64).max(1) as u32)
                    } else {
                        (((s as u64 * w as u64) / h.max(1) as u64).max(1) as u32, s)
                    }
                }
                SizeSpec::Exact { height, width } => (width, height),
            }
        } else {
            (w, h)
        };
        let resized = resize_planes(rgb.as_raw(), w, h, rw, rh, self.filter);
        let (oh, ow) = self.out;
        let top = (rh as i64 - oh as i64).div_euclid(2);
        let left = (rw as i64 - ow as i64).div_euclid(2);
        let (scale, mean, std) = (
            if self.cfg.do_rescale {
                self.cfg.rescale_factor
            } else {
                1.0
            },
            if self.cfg.do_normalize {
                self.cfg.image_mean
            } else {
                [0.0; 3]
            },
            if self.cfg.do_normalize {
                self.cfg.image_std
            } else {
                [1.0; 3]
            },
        );
        let (ow, rw) = (ow as usize, rw as usize);
        let mut out = Vec::with_capacity(3 * oh as usize * ow);
        let plane_len = rw * rh as usize;
        for c in 0..3 {
            let plane = &resized[c * plane_len..(c + 1) * plane_len];
            let norm = |v: f32| (v * scale - mean[c]) / std[c];
            // Outside the image (a crop larger than it) the reference pads with zeros.
            let pad = norm(0.0);
            // The crop's columns that fall inside the image.
            let x0 = (-left).clamp(0, ow as i64) as usize;
            let x1 = (rw as i64 - left).clamp(x0 as i64, ow as i64) as usize;
            for y in 0..oh as i64 {
                let sy = y + top;
                if sy < 0 || sy >= rh as i64 {
                    out.extend(std::iter::repeat_n(pad, ow));
                    continue;
                }
                let row = &plane[sy as usize * rw..(sy as usize + 1) * rw];
                out.extend(std::iter::repeat_n(pad, x0));
                if x1 > x0 {
                    let from = (x0 as i64 + left) as usize;
                    out.extend(row[from..from + x1 - x0].iter().map(|&v| norm(v as f32)));
                }
                out.extend(std::iter::repeat_n(pad, ow - x1));
            }
        }
        out
    }
}

fn hw(s: &SizeSpec) -> (u32, u32) {
    match *s {
        SizeSpec::Square(v) | SizeSpec::Shortest { shortest_edge: v } => (v, v),
        SizeSpec::Exact { height, width } => (height, width),
    }
}

/// Resampling exactly as Pillow does it (bicubic with a = -0.5, or bilinear; support widened
/// by the scale when shrinking, 22-bit fixed-point weights, an 8-bit image between the
/// horizontal and the vertical pass), from interleaved RGB to one plane per channel
/// (3 × `nh` × `nw`, as the model reads them). Hand-written because the reference preprocessing
/// is Pillow's: a general resizer (fast_image_resize) treats the borders differently, by up to
/// 22 levels on noisy photos, which is past the parity tolerance. The sums are exact integers,
/// so the vector passes give the plain passes' values whatever order they add in.
fn resize_planes(src: &[u8], w: u32, h: u32, nw: u32, nh: u32, filter: Filter) -> Vec<u8> {
    let (w, h, nw, nh) = (w as usize, h as usize, nw as usize, nh as usize);
    if w == 0 || h == 0 || nw == 0 || nh == 0 {
        // Nothing to sample (black, as the passes below would give) or nothing to make.
        return vec![0; nw * nh * 3];
    }
    let horizontal = if nw != w {
        let taps = Taps::new(w, nw, filter);
        let mut out = vec![0u8; nw * h * 3];
        horizontal_pass(src, w, h, &taps, &mut out);
        out
    } else {
        let mut out = vec![0u8; w * h * 3];
        let (r, gb) = out.split_at_mut(w * h);
        let (g, b) = gb.split_at_mut(w * h);
        for (((px, r), g), b) in src.chunks_exact(3).zip(r).zip(g).zip(b) {
            (*r, *g, *b) = (px[0], px[1], px[2]);
        }
        out
    };
    if nh == h {
        return horizontal;
    }
    let taps = Taps::new(h, nh, filter);
    let mut out = vec![0u8; nw * nh * 3];
    for (from, to) in horizontal
        .chunks_exact(nw * h)
        .zip(out.chunks_exact_mut(nw * nh))
    {
        vertical_pass(from, nw, &taps, to);
    }
    out
}

/// Sums start here so that the shift rounds to nearest, as Pillow's; they are in i32 as
/// Pillow's, which 22-bit weights keep within range.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// The horizontal pass: each row of `src` (interleaved RGB, `w` wide) into the three planes of
/// `out` (`taps.bounds.len()` wide).
fn horizontal_pass(src: &[u8], w: usize, h: usize, taps: &Taps, out: &mut [u8]) {
    #[allow(unused_mut)]
    let mut plain_from = 0;
    #[cfg(target_arch = "x86_64")]
    {
        let rows = vector_rows(src.len(), w, h, taps);
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; the first `rows` rows' reads lie within `src`.
            unsafe { x86::horizontal_avx512(src, w, h, rows, taps, out) };
            plain_from = rows;
        } else if is_x86_feature_detected!("avx2") {
            // SAFETY: as above, with AVX2.
            unsafe { x86::horizontal_avx2(src, w, h, rows, taps, out) };
            plain_from = rows;
        }
    }
    horizontal_plain(src, w, h, plain_from..h, taps, out)
}

/// How many rows, from the first, the vector passes may take: they read whole 32-bit words, up
/// to a few taps past a row's last pixel (weighted zero), which must stay inside `src`.
#[cfg(target_arch = "x86_64")]
fn vector_rows(src_len: usize, w: usize, h: usize, taps: &Taps) -> usize {
    let last = taps.bounds.last().map_or(0, |b| b.0);
    match src_len.checked_sub(3 * (last + taps.k) + 4) {
        Some(room) if src_len < i32::MAX as usize => (room / (3 * w) + 1).min(h),
        _ => 0,
    }
}

/// [`horizontal_pass`] one value at a time, for `rows`.
fn horizontal_plain(
    src: &[u8],
    w: usize,
    h: usize,
    rows: std::ops::Range<usize>,
    taps: &Taps,
    out: &mut [u8],
) {
    let nw = taps.bounds.len();
    let plane = nw * h;
    for y in rows {
        let row = &src[y * w * 3..(y + 1) * w * 3];
        for (x, &(start, len)) in taps.bounds.iter().enumerate() {
            let kw = &taps.weights[x * taps.k..x * taps.k + len];
            let mut acc = [HALF; 3];
            for (px, &wgt) in row[start * 3..(start + len) * 3].chunks_exact(3).zip(kw) {
                for (a, &p) in acc.iter_mut().zip(px) {
                    *a += p as i32 * wgt;
                }
            }
            for (c, a) in acc.into_iter().enumerate() {
                out[c * plane + y * nw + x] = clip8(a);
            }
        }
    }
}

/// The vertical pass over one plane (`width` wide): a whole output row at a time, tap by tap,
/// so that the loop runs in vectors.
fn vertical_pass(src: &[u8], width: usize, taps: &Taps, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { x86::vertical_avx512(src, width, taps, out) };
        }
        if is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { x86::vertical_avx2(src, width, taps, out) };
        }
    }
    vertical_rows(src, width, taps, out)
}

#[inline(always)]
fn vertical_rows(src: &[u8], width: usize, taps: &Taps, out: &mut [u8]) {
    let mut acc = vec![HALF; width];
    for (y, &(start, len)) in taps.bounds.iter().enumerate() {
        acc.fill(HALF);
        for (i, &wgt) in taps.weights[y * taps.k..y * taps.k + len]
            .iter()
            .enumerate()
        {
            let row = &src[(start + i) * width..(start + i + 1) * width];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += p as i32 * wgt;
            }
        }
        for (o, &a) in out[y * width..(y + 1) * width].iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{HALF, PRECISION_BITS, Taps};

    /// Per block of `lanes` output columns and per tap: the byte offset of each column's
    /// first pixel (3 · start) and each column's weight for that tap (zero past its taps and
    /// for columns past the last). Panics unless the first `rows` rows' gathers stay inside
    /// `src` with offsets in i32, and `out` holds the three planes.
    fn blocks(
        (src, w, h, rows): (&[u8], usize, usize, usize),
        taps: &Taps,
        out: &[u8],
        lanes: usize,
    ) -> (Vec<i32>, Vec<i32>) {
        let nw = taps.bounds.len();
        assert!(rows <= super::vector_rows(src.len(), w, h, taps));
        assert!(src.len() < i32::MAX as usize && out.len() >= 3 * nw * h);
        let n = nw.div_ceil(lanes);
        let mut starts = vec![0i32; n * lanes];
        let mut weights = vec![0i32; n * taps.k * lanes];
        for (x, start) in starts.iter_mut().enumerate() {
            let (b, lane) = (x / lanes, x % lanes);
            *start = (3 * taps.bounds[x.min(nw - 1)].0) as i32;
            if x < nw {
                for i in 0..taps.k {
                    weights[(b * taps.k + i) * lanes + lane] = taps.weights[x * taps.k + i];
                }
            }
        }
        (starts, weights)
    }

    /// Asks for row `y + 1`'s cache lines: gathers are poorly prefetched by the hardware.
    #[inline(always)]
    fn prefetch_next_row(src: &[u8], w: usize, y: usize) {
        if (y + 2) * w * 3 <= src.len() {
            for line in (0..w * 3).step_by(64) {
                // SAFETY: a hint; the address lies within row `y + 1`, inside `src`.
                unsafe {
                    _mm_prefetch::<_MM_HINT_T0>(src.as_ptr().add((y + 1) * w * 3 + line).cast())
                };
            }
        }
    }

    /// [`super::horizontal_plain`] for the first `rows` rows, 16 columns at a time: each tap
    /// gathers a pixel (as a 32-bit word, its three bytes and the next) for every column.
    ///
    /// # Safety
    /// On a CPU with AVX-512F (the bounds of `src` and `out` are checked, by [`blocks`]).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn horizontal_avx512(
        src: &[u8],
        w: usize,
        h: usize,
        rows: usize,
        taps: &Taps,
        out: &mut [u8],
    ) {
        const L: usize = 16;
        let nw = taps.bounds.len();
        let (starts, weights) = blocks((src, w, h, rows), taps, out, L);
        let plane = nw * h;
        let (byte, zero) = (_mm512_set1_epi32(0xff), _mm512_setzero_si512());
        let mut tail = [[0u8; L]; 3];
        for y in 0..rows {
            prefetch_next_row(src, w, y);
            let row = _mm512_set1_epi32((y * w * 3) as i32);
            for (b, x0) in (0..nw).step_by(L).enumerate() {
                // SAFETY (loads): `starts` holds a vector per block, `weights` one per block
                // and tap; every gathered word lies within `src` (as `blocks` asserted).
                let mut at = _mm512_add_epi32(row, unsafe {
                    _mm512_loadu_si512(starts.as_ptr().add(b * L).cast())
                });
                let mut acc = [_mm512_set1_epi32(HALF); 3];
                for i in 0..taps.k {
                    let wv = unsafe {
                        _mm512_loadu_si512(weights.as_ptr().add((b * taps.k + i) * L).cast())
                    };
                    let px = unsafe { _mm512_i32gather_epi32::<1>(at, src.as_ptr().cast()) };
                    acc[0] = _mm512_add_epi32(
                        acc[0],
                        _mm512_mullo_epi32(_mm512_and_si512(px, byte), wv),
                    );
                    let g = _mm512_and_si512(_mm512_srli_epi32::<8>(px), byte);
                    acc[1] = _mm512_add_epi32(acc[1], _mm512_mullo_epi32(g, wv));
                    let bl = _mm512_and_si512(_mm512_srli_epi32::<16>(px), byte);
                    acc[2] = _mm512_add_epi32(acc[2], _mm512_mullo_epi32(bl, wv));
                    at = _mm512_add_epi32(at, _mm512_set1_epi32(3));
                }
                let n = (nw - x0).min(L);
                for (c, a) in acc.into_iter().enumerate() {
                    let shifted = _mm512_srai_epi32::<PRECISION_BITS>(a);
                    // Negative sums to 0 here, those past 255 to 255 by the saturating narrowing.
                    let v = _mm512_cvtusepi32_epi8(_mm512_max_epi32(shifted, zero));
                    let dst = &mut out[c * plane + y * nw + x0..][..n];
                    if n == L {
                        // SAFETY: `dst` holds 16 bytes.
                        unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), v) };
                    } else {
                        // SAFETY: `tail[c]` holds 16 bytes.
                        unsafe { _mm_storeu_si128(tail[c].as_mut_ptr().cast(), v) };
                        dst.copy_from_slice(&tail[c][..n]);
                    }
                }
            }
        }
    }

    /// As [`horizontal_avx512`], 8 columns at a time.
    ///
    /// # Safety
    /// As [`horizontal_avx512`], on a CPU with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn horizontal_avx2(
        src: &[u8],
        w: usize,
        h: usize,
        rows: usize,
        taps: &Taps,
        out: &mut [u8],
    ) {
        const L: usize = 8;
        let nw = taps.bounds.len();
        let (starts, weights) = blocks((src, w, h, rows), taps, out, L);
        let plane = nw * h;
        let byte = _mm256_set1_epi32(0xff);
        let (lo, hi) = (_mm256_setzero_si256(), _mm256_set1_epi32(255));
        let mut sums = [0i32; L];
        for y in 0..rows {
            prefetch_next_row(src, w, y);
            let row = _mm256_set1_epi32((y * w * 3) as i32);
            for (b, x0) in (0..nw).step_by(L).enumerate() {
                // SAFETY: as in `horizontal_avx512`.
                let mut at = _mm256_add_epi32(row, unsafe {
                    _mm256_loadu_si256(starts.as_ptr().add(b * L).cast())
                });
                let mut acc = [_mm256_set1_epi32(HALF); 3];
                for i in 0..taps.k {
                    let wv = unsafe {
                        _mm256_loadu_si256(weights.as_ptr().add((b * taps.k + i) * L).cast())
                    };
                    let px = unsafe { _mm256_i32gather_epi32::<1>(src.as_ptr().cast(), at) };
                    acc[0] = _mm256_add_epi32(
                        acc[0],
                        _mm256_mullo_epi32(_mm256_and_si256(px, byte), wv),
                    );
                    let g = _mm256_and_si256(_mm256_srli_epi32::<8>(px), byte);
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_mullo_epi32(g, wv));
                    let bl = _mm256_and_si256(_mm256_srli_epi32::<16>(px), byte);
                    acc[2] = _mm256_add_epi32(acc[2], _mm256_mullo_epi32(bl, wv));
                    at = _mm256_add_epi32(at, _mm256_set1_epi32(3));
                }
                let n = (nw - x0).min(L);
                for (c, a) in acc.into_iter().enumerate() {
                    let shifted = _mm256_srai_epi32::<{ PRECISION_BITS as i32 }>(a);
                    let v = _mm256_min_epi32(_mm256_max_epi32(shifted, lo), hi);
                    // SAFETY: `sums` holds 8 values.
                    unsafe { _mm256_storeu_si256(sums.as_mut_ptr().cast(), v) };
                    let dst = &mut out[c * plane + y * nw + x0..][..n];
                    for (d, &s) in dst.iter_mut().zip(&sums) {
                        *d = s as u8;
                    }
                }
            }
        }
    }

    /// # Safety
    /// On a CPU with AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn vertical_avx512(src: &[u8], width: usize, taps: &Taps, out: &mut [u8]) {
        super::vertical_rows(src, width, taps, out)
    }

    /// # Safety
    /// On a CPU with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn vertical_avx2(src: &[u8], width: usize, taps: &Taps, out: &mut [u8]) {
        super::vertical_rows(src, width, taps, out)
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// One pass's filter: per output pixel the first input pixel and how many contribute, and
/// fixed-point weights (`k` per output pixel, zero past its count).
struct Taps {
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    k: usize,
}

impl Taps {
    fn new(in_size: usize, out_size: usize, filter: Filter) -> Taps {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let support = filter.support() * filter_scale;
        let k = support.ceil() as usize * 2 + 1;
        let mut bounds = Vec::with_capacity(out_size);
        let mut weights = vec![0i32; out_size * k];
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = (((center + support + 0.5) as i64).min(in_size as i64) as usize)
                .saturating_sub(xmin)
                .min(k);
            let mut ws: Vec<f64> = (0..xmax)
                .map(|x| filter.weight((x as f64 + xmin as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = ws.iter().sum();
            if total != 0.0 {
                ws.iter_mut().for_each(|w| *w /= total);
            }
            for (i, w) in ws.iter().enumerate() {
                let v = w * (1u64 << PRECISION_BITS) as f64;
                weights[xx * k + i] = if v < 0.0 {
                    (v - 0.5) as i32
                } else {
                    (v + 0.5) as i32
                };
            }
            bounds.push((xmin, xmax));
        }
        Taps { bounds, weights, k }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pillow's two passes written plainly, one output value at a time (the reference of
    /// [`resize_planes`], which gives the same values as planes).
    fn resize_plain(src: &[u8], w: usize, h: usize, nw: usize, nh: usize, f: Filter) -> Vec<u8> {
        let Taps { bounds, weights, k } = Taps::new(w, nw, f);
        let mut horizontal = vec![0u8; nw * h * 3];
        for y in 0..h {
            for x in 0..nw {
                let (start, len) = bounds[x];
                for c in 0..3 {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for i in 0..len {
                        acc += src[(y * w + start + i) * 3 + c] as i64 * weights[x * k + i] as i64;
                    }
                    horizontal[(y * nw + x) * 3 + c] = (acc >> PRECISION_BITS).clamp(0, 255) as u8;
                }
            }
        }
        let Taps { bounds, weights, k } = Taps::new(h, nh, f);
        let mut out = vec![0u8; nw * nh * 3];
        for y in 0..nh {
            let (start, len) = bounds[y];
            for x in 0..nw * 3 {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for i in 0..len {
                    acc += horizontal[(start + i) * nw * 3 + x] as i64 * weights[y * k + i] as i64;
                }
                out[y * nw * 3 + x] = (acc >> PRECISION_BITS).clamp(0, 255) as u8;
            }
        }
        out
    }

    /// Crops larger and smaller than the resized photo, each value against a plain crop and
    /// normalisation (zeros outside the photo, as the reference pads).
    #[test]
    fn crop_and_normalisation_match_a_plain_loop() {
        for (size, crop, (w, h)) in [
            (224, 224, (364, 512)),
            (32, 48, (40, 30)),
            (20, 12, (9, 31)),
        ] {
            let cfg = serde_json::json!({
                "size": {"shortest_edge": size}, "crop_size": crop,
                "image_mean": [0.4, 0.5, 0.6], "image_std": [0.2, 0.3, 0.25],
            });
            let p = Preprocessor::from_value(cfg, Path::new("test")).unwrap();
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x * 7 + y) as u8, (y * 5) as u8, (x * y) as u8])
            });
            let got = p.apply(&DynamicImage::ImageRgb8(img.clone()));
            // The resize alone, then the plain crop.
            let (rw, rh) = if w <= h {
                (size, size * h / w)
            } else {
                (size * w / h, size)
            };
            let (iw, ih, rw, rh) = (w as usize, h as usize, rw as usize, rh as usize);
            let resized = resize_plain(img.as_raw(), iw, ih, rw, rh, Filter::Bicubic);
            let (top, left) = (
                (rh as i64 - crop).div_euclid(2),
                (rw as i64 - crop).div_euclid(2),
            );
            let (mean, std) = ([0.4f32, 0.5, 0.6], [0.2f32, 0.3, 0.25]);
            let mut want = Vec::new();
            for c in 0..3 {
                for y in 0..crop {
                    for x in 0..crop {
                        let (sy, sx) = (y + top, x + left);
                        let inside = sy >= 0 && sy < rh as i64 && sx >= 0 && sx < rw as i64;
                        let v = if inside {
                            resized[(sy as usize * rw + sx as usize) * 3 + c] as f32
                        } else {
                            0.0
                        };
                        want.push((v * (1.0 / 255.0) - mean[c]) / std[c]);
                    }
                }
            }
            assert_eq!(got.len(), want.len());
            let first = got.iter().zip(&want).position(|(g, w)| g != w);
            assert!(
                first.is_none(),
                "{w}×{h} to {size}, crop {crop}: at {first:?}"
            );
        }
    }

    /// Interleaved RGB as one plane per channel.
    fn planes(rgb: &[u8]) -> Vec<u8> {
        (0..3)
            .flat_map(|c| rgb.iter().skip(c).step_by(3).copied())
            .collect()
    }

    /// Each instruction set's horizontal pass that this CPU has, against the plain one.
    #[test]
    fn every_horizontal_pass_matches_the_plain_one() {
        let mut s = 99u32;
        for &(w, h, nw) in &[
            (413, 7, 224),
            (30, 5, 17),
            (8, 3, 7),
            (700, 2, 9),
            (3, 4, 5),
        ] {
            for f in [Filter::Bicubic, Filter::Bilinear] {
                let taps = Taps::new(w, nw, f);
                let src: Vec<u8> = (0..w * h * 3)
                    .map(|_| {
                        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (s >> 24) as u8
                    })
                    .collect();
                let mut want = vec![0u8; nw * h * 3];
                horizontal_plain(&src, w, h, 0..h, &taps, &mut want);
                #[cfg(target_arch = "x86_64")]
                for (name, has) in [
                    ("avx512", is_x86_feature_detected!("avx512f")),
                    ("avx2", is_x86_feature_detected!("avx2")),
                ] {
                    if !has {
                        continue;
                    }
                    // The rows the vector pass may take; the rest stay as the plain pass left them.
                    let rows = vector_rows(src.len(), w, h, &taps);
                    assert!(rows + 2 >= h, "{w}×{h}: only {rows} rows in vectors");
                    let mut got = want.clone();
                    for plane in got.chunks_exact_mut(nw * h) {
                        plane[..nw * rows].fill(7);
                    }
                    // SAFETY: the CPU has the instructions; the rows' reads lie within `src`.
                    unsafe {
                        match name {
                            "avx512" => x86::horizontal_avx512(&src, w, h, rows, &taps, &mut got),
                            _ => x86::horizontal_avx2(&src, w, h, rows, &taps, &mut got),
                        }
                    }
                    assert!(got == want, "{name}: {w}×{h} → {nw}, {f:?}");
                }
            }
        }
    }

    #[test]
    fn a_target_of_zero_width_or_height_is_empty() {
        for (nw, nh) in [(0, 3), (3, 0), (0, 0)] {
            assert!(resize_planes(&[9; 60], 5, 4, nw, nh, Filter::Bicubic).is_empty());
        }
    }

    #[test]
    fn resizing_gives_the_plain_passes_values_exactly() {
        let mut s = 12345u32;
        for &(w, h, nw, nh) in &[
            (364, 512, 224, 315),
            (37, 23, 224, 139),
            (300, 300, 224, 224),
            (5, 801, 7, 3),
            (224, 224, 224, 224),
            (1, 1, 3, 2),
            (0, 4, 3, 2),
            (4, 0, 3, 2),
            // Column counts around the vector passes' 8 and 16 lanes, one pass alone, and a
            // large reduction (many taps).
            (50, 4, 17, 4),
            (40, 3, 16, 2),
            (9, 9, 8, 9),
            (31, 30, 33, 29),
            (1000, 9, 61, 5),
        ] {
            // Noise with hard edges: the filters' negative lobes overshoot past 0 and 255.
            let src: Vec<u8> = (0..w * h * 3)
                .map(|i| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    if i % 7 == 0 { 255 } else { (s >> 24) as u8 }
                })
                .collect();
            for f in [Filter::Bicubic, Filter::Bilinear] {
                let want = if (nw, nh) == (w, h) {
                    src.clone()
                } else {
                    resize_plain(&src, w, h, nw, nh, f)
                };
                let want = planes(&want);
                let got = resize_planes(&src, w as u32, h as u32, nw as u32, nh as u32, f);
                assert!(got == want, "{w}×{h} → {nw}×{nh}, {f:?}");
            }
        }
    }
}
