//! Reading photos safely: format sniffing, a pixel limit checked from the header, decoding,
//! EXIF orientation, content hashing and thumbnails.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::domain::SkipKind;

/// Thumbnails have their long side at most this many pixels.
pub const THUMBNAIL_SIZE: u32 = 320;
/// The default pixel limit: 100 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;
/// Files larger than this are not read at all.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// How much memory the photos being decoded at once may take, all threads together (1 GiB).
pub const DEFAULT_DECODE_MEMORY: u64 = 1 << 30;

/// Bytes shared by every decode in the process: a decode waits until its share is free, so a
/// folder of huge 16-bit PNGs decodes a few at a time instead of all at once. A photo larger
/// than the whole budget decodes alone.
pub struct DecodeBudget {
    capacity: std::sync::atomic::AtomicU64,
    /// (bytes in use, the most ever in use)
    state: std::sync::Mutex<(u64, u64)>,
    freed: std::sync::Condvar,
}

/// A share of a [`DecodeBudget`], given back when dropped.
pub struct DecodePermit<'a> {
    budget: &'a DecodeBudget,
    bytes: u64,
}

impl DecodeBudget {
    pub const fn new(capacity: u64) -> DecodeBudget {
        DecodeBudget {
            capacity: std::sync::atomic::AtomicU64::new(capacity),
            state: std::sync::Mutex::new((0, 0)),
            freed: std::sync::Condvar::new(),
        }
    }

    pub fn set_capacity(&self, bytes: u64) {
        self.capacity
            .store(bytes.max(1), std::sync::atomic::Ordering::Relaxed);
        self.freed.notify_all();
    }

    /// Waits until `bytes` (at most the whole budget) are free, and takes them.
    pub fn acquire(&self, bytes: u64) -> DecodePermit<'_> {
        let cap = self.capacity.load(std::sync::atomic::Ordering::Relaxed);
        let want = bytes.min(cap);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while st.0 > 0 && st.0 + want > cap {
            st = self.freed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.0 += want;
        st.1 = st.1.max(st.0);
        DecodePermit {
            budget: self,
            bytes: want,
        }
    }

    /// The most bytes ever held at once.
    pub fn peak(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

impl Drop for DecodePermit<'_> {
    fn drop(&mut self) {
        let mut st = self.budget.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 -= self.bytes;
        drop(st);
        self.budget.freed.notify_all();
    }
}

/// The budget every decode of this process draws from.
pub static DECODE_BUDGET: DecodeBudget = DecodeBudget::new(DEFAULT_DECODE_MEMORY);

/// File extensions that are scanned as photos (lower case).
pub const PHOTO_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"];

pub fn has_photo_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| PHOTO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// Why a photo could not be used. `kind()` is the stable code stored with import errors.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("cannot read the file: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("not an image: the content is not a recognised image format")]
    NotAnImage,
    #[error("the image is {width}×{height} ({mp:.1} megapixels), over the limit of {limit_mp:.1} megapixels", mp = (*width as f64 * *height as f64) / 1e6, limit_mp = *limit as f64 / 1e6)]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the file is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge { size: u64, limit: u64 },
    #[error("the image is truncated: the file ends before the image data does")]
    Truncated,
    #[error("the image is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot write the thumbnail: {0}")]
    Thumbnail(String),
}

impl PhotoError {
    pub fn kind(&self) -> SkipKind {
        match self {
            PhotoError::Unreadable(_) => SkipKind::UnreadableFile,
            PhotoError::NotAnImage => SkipKind::NotAnImage,
            PhotoError::TooManyPixels { .. } => SkipKind::TooManyPixels,
            PhotoError::FileTooLarge { .. } => SkipKind::FileTooLarge,
            PhotoError::Truncated => SkipKind::TruncatedImage,
            PhotoError::Corrupt(_) => SkipKind::CorruptImage,
            PhotoError::Thumbnail(_) => SkipKind::ThumbnailFailed,
        }
    }
}

/// Reads a whole photo file, refusing files over [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<Vec<u8>, PhotoError> {
    let meta = std::fs::metadata(path).map_err(PhotoError::Unreadable)?;
    if !meta.is_file() {
        // A device or a pipe would never end, or block.
        return Err(PhotoError::Unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a device, pipe, socket or folder)",
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(PhotoError::FileTooLarge {
            size: meta.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    std::fs::read(path).map_err(PhotoError::Unreadable)
}

pub fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Decodes a photo and turns it upright by its EXIF orientation. The pixel count is checked
/// from the header before any pixel data is decoded. For hashes and checks: JPEGs go through
/// `image`'s fast decoder.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, PhotoError> {
    decode_with(bytes, max_pixels, Purpose::Any).map(|(img, _)| img)
}

/// The photo's [`thumbnail`], and the photo's own upright size, with the checks of
/// [`decode`]. A JPEG at least 4 times [`THUMBNAIL_SIZE`] on its long side is decoded at 1/2,
/// 1/4 or 1/8 of its size by libjpeg-turbo's inverse DCT, keeping that side at least twice
/// [`THUMBNAIL_SIZE`], and reduced from there by a triangle filter (`image`'s fast area
/// average shifts fine detail by a fraction of a pixel at such small ratios): under half the
/// time of a full decode and reduction, for 1600 × 2000 photos as for a phone's 12 megapixels.
/// Smaller photos are decoded whole, as before.
pub fn decode_thumbnail(
    bytes: &[u8],
    max_pixels: u64,
) -> Result<(DynamicImage, (u32, u32)), PhotoError> {
    let (img, size) = decode_with(bytes, max_pixels, Purpose::Thumbnail)?;
    let thumb = if (img.width(), img.height()) == size {
        thumbnail(&img)
    } else {
        img.resize(
            THUMBNAIL_SIZE,
            THUMBNAIL_SIZE,
            image::imageops::FilterType::Triangle,
        )
    };
    Ok((thumb, size))
}

/// As [`decode`], for model input: JPEGs go through libjpeg-turbo, the decoder of the
/// reference CLIP preprocessing (Pillow), so the model sees the reference's pixels.
/// `model_side` is the longest side the model's preprocessing resizes to
/// (`ClipEncoder::decode_side`; 0 decodes in full): a JPEG whose short side is at least
/// [`HALF_SCALE_MARGIN`] times that even at half size is decoded at half size by its inverse
/// DCT (Pillow's `draft`), which halves decoding and quarters resizing for phone-sized photos.
/// The model input then differs from the full decode's by about as much as re-saving the JPEG
/// does.
pub fn decode_for_model(
    bytes: &[u8],
    max_pixels: u64,
    model_side: u32,
) -> Result<DynamicImage, PhotoError> {
    decode_with(bytes, max_pixels, Purpose::Model(model_side)).map(|(img, _)| img)
}

/// How many times the model's side a JPEG's short side must still be at half size for
/// [`decode_for_model`] to decode it at half size. At 3, a 2268 × 1512 camera photo's input
/// to a 224-pixel model moved by 0.15 levels of 255 on average (2.1 at most), against 0.14
/// (1.0) for the same photo re-saved at JPEG quality 90; quarter-size decodes moved it by up to
/// 6 and 8 levels, so only half size is used (measured with the earlier decoder, jpeg-decoder;
/// libjpeg-turbo moves the test's textured photo by 0.26 (2.1) where it moved it by 0.19 (2.0)).
pub const HALF_SCALE_MARGIN: u32 = 3;

#[derive(Clone, Copy)]
enum Purpose {
    Any,
    Thumbnail,
    /// The model's side, as [`decode_for_model`].
    Model(u32),
}

impl Purpose {
    /// By how much a JPEG of this size is reduced in its inverse DCT: 1, 2, 4 or 8.
    fn jpeg_reduction(self, width: u32, height: u32) -> u16 {
        match self {
            Purpose::Any => 1,
            Purpose::Thumbnail => [8, 4, 2]
                .into_iter()
                .find(|&f| width.max(height) / u32::from(f) >= 2 * THUMBNAIL_SIZE)
                .unwrap_or(1),
            Purpose::Model(side) => {
                if side > 0 && width.min(height) / 2 >= HALF_SCALE_MARGIN * side {
                    2
                } else {
                    1
                }
            }
        }
    }
}

/// The upright image, and the photo's own upright size (the image's, unless reduced).
fn decode_with(
    bytes: &[u8],
    max_pixels: u64,
    purpose: Purpose,
) -> Result<(DynamicImage, (u32, u32)), PhotoError> {
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(PhotoError::Unreadable)
    };
    let format = reader()?.format().ok_or(PhotoError::NotAnImage)?;
    let (width, height) = reader()?.into_dimensions().map_err(classify)?;
    if width as u64 * height as u64 > max_pixels {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            limit: max_pixels,
        });
    }
    if format == image::ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(PhotoError::Truncated);
    }
    // The decoded pixels, and as much again for a copy (turning it upright, converting it).
    let bytes_per_pixel = reader()?
        .into_decoder()
        .map_err(classify)?
        .color_type()
        .bytes_per_pixel() as u64;
    let _permit = DECODE_BUDGET.acquire(2 * width as u64 * height as u64 * bytes_per_pixel);
    let mut r = reader()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(16).max(64 << 20));
    r.limits(limits);
    let mut decoder = r.into_decoder().map_err(classify)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let reduction = purpose.jpeg_reduction(width, height);
    let libjpeg_like = matches!(purpose, Purpose::Model(_)) || reduction > 1;
    let decoded = if format == image::ImageFormat::Jpeg && libjpeg_like {
        decode_jpeg(bytes, max_pixels, reduction)
    } else {
        None
    };
    let mut img = match decoded {
        Some(img) => img,
        None => DynamicImage::from_decoder(decoder).map_err(classify)?,
    };
    img.apply_orientation(orientation);
    use image::metadata::Orientation as O;
    let upright = match orientation {
        O::Rotate90 | O::Rotate270 | O::Rotate90FlipH | O::Rotate270FlipH => (height, width),
        _ => (width, height),
    };
    Ok((img, upright))
}

/// JPEGs go through libjpeg-turbo, the decoder of the reference CLIP preprocessing (Pillow),
/// with its defaults (accurate integer IDCT, smooth chroma upsampling), so the model sees the
/// reference's pixels. Reduced `reduction` times in the inverse DCT (1: not). `None` for colour
/// spaces other than RGB and grey (CMYK), and when libjpeg-turbo reports any problem, even one
/// it can decode past: `image`'s decoder then decodes the photo whole, or says what is wrong.
fn decode_jpeg(bytes: &[u8], max_pixels: u64, reduction: u16) -> Option<DynamicImage> {
    use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};
    let mut d = Decompressor::new().ok()?;
    let header = d.read_header(bytes).ok()?;
    // Its own reading of the header is held to the limit too.
    if header.width as u64 * header.height as u64 > max_pixels {
        return None;
    }
    let (format, channels) = match header.colorspace {
        Colorspace::YCbCr | Colorspace::RGB => (PixelFormat::RGB, 3),
        Colorspace::Gray => (PixelFormat::GRAY, 1),
        _ => return None,
    };
    if reduction > 1 && !header.is_lossless {
        d.set_scaling_factor(ScalingFactor::new(1, usize::from(reduction)))
            .ok()?;
    }
    let size = header.scaled(d.scaling_factor());
    let mut pixels = vec![0u8; size.width.checked_mul(size.height)?.checked_mul(channels)?];
    let out = Image {
        pixels: &mut pixels[..],
        width: size.width,
        pitch: size.width * channels,
        height: size.height,
        format,
    };
    d.decompress(bytes, out).ok()?;
    let (w, h) = (
        u32::try_from(size.width).ok()?,
        u32::try_from(size.height).ok()?,
    );
    Some(if channels == 3 {
        DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pixels)?)
    } else {
        DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, pixels)?)
    })
}

/// The JPEG decoder fills a cut-off file with grey rather than failing, so look for the
/// end-of-image marker near the end (cameras may append a little data after it).
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(64 * 1024)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn classify(e: image::ImageError) -> PhotoError {
    use image::ImageError as E;
    match e {
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => PhotoError::Truncated,
        E::IoError(io) => PhotoError::Corrupt(io.to_string()),
        E::Unsupported(u) => PhotoError::Corrupt(format!("unsupported image: {u}")),
        E::Limits(l) => PhotoError::Corrupt(format!("image exceeds decoding limits: {l}")),
        other => {
            let msg = other.to_string();
            let lower = msg.to_ascii_lowercase();
            if lower.contains("eof") || lower.contains("end of file") || lower.contains("truncat") {
                PhotoError::Truncated
            } else {
                PhotoError::Corrupt(msg)
            }
        }
    }
}

/// RGB pixels with any transparency composited on white.
pub fn flatten_on_white(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = src[3] as u32;
        for c in 0..3 {
            dst[c] = ((src[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

/// The photo with its long side at most [`THUMBNAIL_SIZE`].
pub fn thumbnail(img: &DynamicImage) -> DynamicImage {
    if img.width().max(img.height()) > THUMBNAIL_SIZE {
        img.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    } else {
        img.clone()
    }
}

/// Writes a JPEG of `thumb` (made by [`thumbnail`]) atomically: a killed process leaves
/// either no file or a whole one.
pub fn write_thumbnail(thumb: &DynamicImage, dest: &Path) -> Result<(), PhotoError> {
    let rgb = flatten_on_white(thumb);
    let err = |e: &dyn std::fmt::Display| PhotoError::Thumbnail(format!("{}: {e}", dest.display()));
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| err(&e))?;
    }
    let tmp = crate::files::temp_beside(dest);
    let mut buf = Vec::with_capacity(32 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85)
        .encode_image(&rgb)
        .map_err(|e| err(&e))?;
    std::fs::write(&tmp, &buf).map_err(|e| err(&e))?;
    std::fs::rename(&tmp, dest).map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decode_budget_never_lends_more_than_it_has_and_a_large_photo_runs_alone() {
        let budget = DecodeBudget::new(100);
        std::thread::scope(|s| {
            for i in 0..8u64 {
                let budget = &budget;
                s.spawn(move || {
                    // 30, 60 and one of 250 (over the whole budget).
                    let want = if i == 7 { 250 } else { 30 * (1 + i % 2) };
                    let _p = budget.acquire(want);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                });
            }
        });
        assert!(budget.peak() <= 100, "peak {}", budget.peak());
        assert!(
            budget.peak() >= 60,
            "lent in parallel: peak {}",
            budget.peak()
        );
        assert_eq!(budget.state.lock().unwrap().0, 0, "all given back");
    }

    #[test]
    fn the_same_thumbnail_written_by_many_threads_at_once_never_fails() {
        // Two photos with the same content share a thumbnail; an import reads them in parallel.
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("ab").join("abcdef.jpg");
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            64,
            64,
            image::Rgb([9, 80, 200]),
        ));
        for _ in 0..20 {
            let failures: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| write_thumbnail(&img, &dest)))
                    .collect();
                handles
                    .into_iter()
                    .filter_map(|h| h.join().unwrap().err().map(|e| e.to_string()))
                    .collect()
            });
            assert!(failures.is_empty(), "{failures:?}");
        }
        assert!(decode(&std::fs::read(&dest).unwrap(), 1 << 20).is_ok());
        let left: Vec<_> = std::fs::read_dir(dest.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 3) as u8, 90]));
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
            .encode_image(&img)
            .unwrap();
        buf
    }

    /// A photo-like JPEG: soft shading, fine stripes and noise (a pattern of no period).
    fn textured_jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 23;
            let v =
                |base: f32, f: f32| (base + 40.0 * (fx * f).sin() * (fy * f * 0.7).cos()) as u32;
            image::Rgb([
                (v(100.0 + fx / w as f32 * 80.0, 0.05) + noise).min(255) as u8,
                (v(90.0 + fy / h as f32 * 90.0, 0.31) + noise).min(255) as u8,
                (v(120.0, 0.9) + noise).min(255) as u8,
            ])
        });
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
            .encode_image(&img)
            .unwrap();
        buf
    }

    #[test]
    fn a_jpeg_far_larger_than_the_model_input_is_decoded_at_half_size() {
        let bytes = textured_jpeg(1400, 1360);
        let dims = |side| {
            let img = decode_for_model(&bytes, DEFAULT_MAX_PIXELS, side).unwrap();
            (img.width(), img.height())
        };
        // Half size keeps 680 pixels on the short side: at least 3 times 224, not 3 times 230.
        assert_eq!(dims(224), (700, 680));
        assert_eq!(dims(230), (1400, 1360));
        assert_eq!(dims(0), (1400, 1360));
        // Other formats are decoded in full.
        let mut png = Vec::new();
        image::load_from_memory(&bytes)
            .unwrap()
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let img = decode_for_model(&png, DEFAULT_MAX_PIXELS, 224).unwrap();
        assert_eq!((img.width(), img.height()), (1400, 1360));
    }

    /// `jpeg` with an EXIF orientation (6: turn 90° clockwise to view) after its start marker.
    fn with_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
        let mut app1 = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0".to_vec();
        app1.extend([orientation, 0, 0, 0, 0, 0, 0]);
        let len = (app1.len() + 2) as u16;
        let mut out = jpeg[..2].to_vec();
        out.extend([0xFF, 0xE1]);
        out.extend(len.to_be_bytes());
        out.extend(app1);
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn a_thumbnail_of_a_large_jpeg_comes_from_a_reduced_decode_and_keeps_the_photos_size() {
        // 2600 / 4 = 650 and 1500 / 2 = 750 still cover twice a 320-pixel thumbnail.
        for ((w, h), thumb) in [((2600, 1400), (320, 172)), ((1500, 1000), (320, 213))] {
            let bytes = textured_jpeg(w, h);
            let (small, size) = decode_thumbnail(&bytes, DEFAULT_MAX_PIXELS).unwrap();
            assert_eq!(((small.width(), small.height()), size), (thumb, (w, h)));
            // As close to a careful reduction of the whole photo (Lanczos, 3 lobes) as the
            // thumbnail of the whole photo is, in mean levels of 255 (4.4 against 1.6 when the
            // reduced decode went through `thumbnail`'s area average).
            let whole = decode(&bytes, DEFAULT_MAX_PIXELS).unwrap();
            let careful =
                whole.resize_exact(thumb.0, thumb.1, image::imageops::FilterType::Lanczos3);
            let off = |img: &DynamicImage| {
                let (a, b) = (img.to_rgb8(), careful.to_rgb8());
                let sum: f32 = a
                    .as_raw()
                    .iter()
                    .zip(b.as_raw())
                    .map(|(&x, &y)| (x as f32 - y as f32).abs())
                    .sum();
                sum / a.as_raw().len() as f32
            };
            let whole_thumb = thumbnail(&whole);
            assert_ne!(small.to_rgb8().as_raw(), whole_thumb.to_rgb8().as_raw());
            let (reduced, full) = (off(&small), off(&whole_thumb));
            assert!(
                reduced <= full + 1.0,
                "{w}×{h}: {reduced} levels off, against {full}"
            );
        }
        // Turned upright by its EXIF orientation, the photo's size too.
        let turned = with_orientation(&textured_jpeg(2600, 1400), 6);
        let (small, size) = decode_thumbnail(&turned, DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!(
            ((small.width(), small.height()), size),
            ((172, 320), (1400, 2600))
        );
        // Under 4 times the thumbnail's size, the photo is decoded whole: the same thumbnail.
        let bytes = textured_jpeg(1200, 1000);
        let (small, size) = decode_thumbnail(&bytes, DEFAULT_MAX_PIXELS).unwrap();
        let whole = thumbnail(&decode(&bytes, DEFAULT_MAX_PIXELS).unwrap());
        assert_eq!(size, (1200, 1000));
        assert_eq!(small.to_rgb8().as_raw(), whole.to_rgb8().as_raw());
    }

    #[test]
    fn a_half_size_decode_barely_moves_the_model_input() {
        // CLIP's preprocessing (ViT-B/32's configuration).
        let pre = crate::encoders::preprocess::Preprocessor::from_value(
            serde_json::json!({
                "size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224},
                "do_resize": true, "do_center_crop": true, "do_normalize": true,
                "image_mean": [0.481_454_66, 0.457_827_5, 0.408_210_73],
                "image_std": [0.268_629_54, 0.261_302_6, 0.275_777_1], "resample": 3
            }),
            Path::new("test"),
        )
        .unwrap();
        let bytes = textured_jpeg(1500, 2000);
        let input = |side| pre.apply(&decode_for_model(&bytes, DEFAULT_MAX_PIXELS, side).unwrap());
        let (full, half) = (input(0), input(224));
        // In levels of 255: the normalised difference times the channels' std, about 0.27.
        let levels: Vec<f32> = full
            .iter()
            .zip(&half)
            .map(|(a, b)| (a - b).abs() * 0.27 * 255.0)
            .collect();
        let mean = levels.iter().sum::<f32>() / levels.len() as f32;
        let max = levels.iter().cloned().fold(0.0, f32::max);
        assert!(mean > 0.0, "the half-size decode was used");
        assert!(mean < 0.5 && max < 4.0, "mean {mean}, max {max} levels");
    }

    #[test]
    fn a_damaged_jpeg_gives_an_error_or_an_image_of_its_size_never_a_crash() {
        // libjpeg-turbo is C: damaged scan data must come back as an error or as an image of
        // the header's size (libjpeg-turbo reports the damage, and `image`'s decoder, more
        // lenient, decodes the whole photo instead).
        let good = textured_jpeg(1400, 1400);
        let scan = good.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap() + 16;
        let mut seed = 0x9E37_79B9_u32;
        let mut images = 0;
        for i in 0..40 {
            let mut bad = good.clone();
            for _ in 0..1 + i % 4 {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let at = scan + seed as usize % (bad.len() - scan - 4);
                bad[at] ^= (seed >> 24) as u8 | 1;
            }
            for side in [0, 224] {
                match decode_for_model(&bad, DEFAULT_MAX_PIXELS, side) {
                    Ok(img) => {
                        images += 1;
                        // Half size from libjpeg-turbo, whole from `image`'s decoder.
                        let size = (img.width(), img.height());
                        assert!(size == (1400, 1400) || (side > 0 && size == (700, 700)));
                    }
                    Err(e) => assert!(matches!(e, PhotoError::Corrupt(_) | PhotoError::Truncated)),
                }
            }
            if let Ok((small, size)) = decode_thumbnail(&bad, DEFAULT_MAX_PIXELS) {
                assert_eq!((small.width(), size), (320, (1400, 1400)));
            }
        }
        assert!(images > 0);
        // A grey JPEG stays grey.
        let grey = image::GrayImage::from_fn(1600, 1500, |x, y| image::Luma([(x ^ y) as u8]));
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
            .encode_image(&grey)
            .unwrap();
        let img = decode_for_model(&buf, DEFAULT_MAX_PIXELS, 224).unwrap();
        assert_eq!(
            (img.color(), img.width(), img.height()),
            (image::ColorType::L8, 800, 750)
        );
    }

    #[test]
    fn decodes_a_good_jpeg() {
        let img = decode(&jpeg(40, 30), DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!((img.width(), img.height()), (40, 30));
    }

    #[test]
    fn truncated_jpeg_is_refused() {
        let bytes = jpeg(64, 64);
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(
            decode(cut, DEFAULT_MAX_PIXELS),
            Err(PhotoError::Truncated)
        ));
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        let err = decode(&jpeg(100, 100), 5_000).unwrap_err();
        assert_eq!(err.kind(), "too_many_pixels");
    }

    #[test]
    fn text_is_not_an_image() {
        let err = decode(b"hello, I am not a photo", DEFAULT_MAX_PIXELS).unwrap_err();
        assert_eq!(err.kind(), "not_an_image");
    }

    #[test]
    fn transparency_composites_on_white() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            2,
            2,
            image::Rgba([0, 0, 0, 0]),
        ));
        assert_eq!(
            flatten_on_white(&img).get_pixel(0, 0),
            &image::Rgb([255, 255, 255])
        );
    }
}
