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

    /// Pixel values, channels first (3 × height × width).
    pub fn apply(&self, img: &DynamicImage) -> Vec<f32> {
        let rgb = flatten_on_white(img);
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
        let resized = resize_rgb(rgb.into_raw(), w, h, rw, rh, self.filter);
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
        for c in 0..3 {
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
                let row = &resized[sy as usize * rw * 3..(sy as usize + 1) * rw * 3];
                out.extend(std::iter::repeat_n(pad, x0));
                if x1 > x0 {
                    let from = (x0 as i64 + left) as usize;
                    let inside = &row[from * 3..(from + x1 - x0) * 3];
                    out.extend(inside.iter().skip(c).step_by(3).map(|&v| norm(v as f32)));
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
/// horizontal and the vertical pass). Hand-written because the reference preprocessing is Pillow's: a general
/// resizer (fast_image_resize) treats the borders differently, by up to 22 levels on noisy
/// photos, which is past the parity tolerance.
fn resize_rgb(src: Vec<u8>, w: u32, h: u32, nw: u32, nh: u32, filter: Filter) -> Vec<u8> {
    let (w, h, nw, nh) = (w as usize, h as usize, nw as usize, nh as usize);
    if w == 0 || h == 0 {
        // Nothing to sample: black, as the passes below would give.
        return vec![0; nw * nh * 3];
    }
    // Sums in i32 as Pillow's: 22-bit weights keep them within range.
    const HALF: i32 = 1 << (PRECISION_BITS - 1);
    let horizontal = if nw != w {
        let (bounds, weights, k) = coefficients(w, nw, filter);
        let mut out = Vec::with_capacity(nw * h * 3);
        for row in src.chunks_exact(w * 3).take(h) {
            for (x, &(start, len)) in bounds.iter().enumerate() {
                let kw = &weights[x * k..x * k + len];
                let mut acc = [HALF; 3];
                for (px, &wgt) in row[start * 3..(start + len) * 3].chunks_exact(3).zip(kw) {
                    for (a, &p) in acc.iter_mut().zip(px) {
                        *a += p as i32 * wgt;
                    }
                }
                out.extend(acc.map(clip8));
            }
        }
        out
    } else {
        src
    };
    if nh == h {
        return horizontal;
    }
    // A whole output row at a time, tap by tap, so that the loop runs in vectors.
    let (bounds, weights, k) = coefficients(h, nh, filter);
    let width = nw * 3;
    let mut out = Vec::with_capacity(width * nh);
    let mut acc = vec![HALF; width];
    for (y, &(start, len)) in bounds.iter().enumerate() {
        acc.fill(HALF);
        for (i, &wgt) in weights[y * k..y * k + len].iter().enumerate() {
            let row = &horizontal[(start + i) * width..(start + i + 1) * width];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += p as i32 * wgt;
            }
        }
        out.extend(acc.iter().map(|&a| clip8(a)));
    }
    out
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

/// Per output pixel: the first input pixel and how many contribute, and fixed-point weights
/// (`k` per output pixel).
fn coefficients(
    in_size: usize,
    out_size: usize,
    filter: Filter,
) -> (Vec<(usize, usize)>, Vec<i32>, usize) {
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
    (bounds, weights, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pillow's two passes written plainly, one output value at a time (the reference of
    /// [`resize_rgb`]).
    fn resize_plain(src: &[u8], w: usize, h: usize, nw: usize, nh: usize, f: Filter) -> Vec<u8> {
        let (bounds, weights, k) = coefficients(w, nw, f);
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
        let (bounds, weights, k) = coefficients(h, nh, f);
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
            let resized = resize_rgb(img.into_raw(), w, h, rw, rh, Filter::Bicubic);
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
                            resized[(sy as usize * rw as usize + sx as usize) * 3 + c] as f32
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
                let got = resize_rgb(src.clone(), w as u32, h as u32, nw as u32, nh as u32, f);
                assert!(got == want, "{w}×{h} → {nw}×{nh}, {f:?}");
            }
        }
    }
}
