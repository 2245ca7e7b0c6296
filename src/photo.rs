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
/// Smaller photos are decoded whole (JPEGs by libjpeg-turbo too, in about 60% of the time of
/// `image`'s decoder).
pub fn decode_thumbnail(
    bytes: &[u8],
    max_pixels: u64,
) -> Result<(DynamicImage, (u32, u32)), PhotoError> {
    let (img, size) = decode_with(bytes, max_pixels, Purpose::Thumbnail)?;
    let thumb = if (img.width(), img.height()) == size {
        thumbnail(&img)
    } else {
        triangle_thumbnail(&img)
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

/// A new photo as an import with embedding needs it: its thumbnail, its upright size and the
/// model's image.
pub struct ForImport {
    pub thumbnail: DynamicImage,
    pub size: (u32, u32),
    pub model: DynamicImage,
}

/// [`decode_thumbnail`] and [`decode_for_model`] from one decode. The thumbnail of a JPEG at
/// least 4 times [`THUMBNAIL_SIZE`] on its long side is made from the model's decode, halved by
/// 2 × 2 means as far as the thumbnail's reduced decode would have gone, then reduced by the
/// same triangle filter (within a level of [`decode_thumbnail`]'s); other photos' thumbnails are
/// exactly [`decode_thumbnail`]'s.
pub fn decode_for_import(
    bytes: &[u8],
    max_pixels: u64,
    model_side: u32,
) -> Result<ForImport, PhotoError> {
    let (model, size) = decode_with(bytes, max_pixels, Purpose::Model(model_side))?;
    let jpeg = image::guess_format(bytes).ok() == Some(image::ImageFormat::Jpeg);
    let thumbnail = if jpeg && Purpose::Thumbnail.jpeg_reduction(size.0, size.1) > 1 {
        let mut small: Option<DynamicImage> = None;
        while let Some(half) = halve_towards_thumbnail(small.as_ref().unwrap_or(&model)) {
            small = Some(half);
        }
        triangle_thumbnail(small.as_ref().unwrap_or(&model))
    } else {
        thumbnail(&model)
    };
    Ok(ForImport {
        thumbnail,
        size,
        model,
    })
}

/// `img` at half size (each pixel the rounded mean of a 2 × 2 block; a last odd row or column
/// averages what it has), when its long side stays at least twice [`THUMBNAIL_SIZE`] and it is
/// 8-bit (JPEGs decode to RGB or grey).
fn halve_towards_thumbnail(img: &DynamicImage) -> Option<DynamicImage> {
    let (w, h) = (img.width(), img.height());
    if w.max(h).div_ceil(2) < 2 * THUMBNAIL_SIZE {
        return None;
    }
    resample_8bit(img, w.div_ceil(2), h.div_ceil(2), HALVE)
}

/// Rows of `w` pixels of `C` bytes at half size (`hw` × `hh`, `w` and `h` halved rounding up).
/// A last odd row or column counts twice: the same mean as of what there is.
fn halve<const C: usize>(raw: &[u8], w: u32, h: u32, hw: u32, hh: u32) -> Option<Vec<u8>> {
    let (w, h) = (w as usize, h as usize);
    let stride = w * C;
    if w == 0
        || raw.len() != stride * h
        || (hw as usize, hh as usize) != (w.div_ceil(2), h.div_ceil(2))
    {
        return None;
    }
    let hw = hw as usize;
    let mut out = vec![0u8; hw * h.div_ceil(2) * C];
    let pairs = w / 2;
    for (y, dst) in out.chunks_exact_mut(hw * C).enumerate() {
        let top = &raw[2 * y * stride..][..stride];
        let bottom = if 2 * y + 1 < h {
            &raw[(2 * y + 1) * stride..][..stride]
        } else {
            top
        };
        let blocks = top.chunks_exact(2 * C).zip(bottom.chunks_exact(2 * C));
        for (d, (t, b)) in dst.chunks_exact_mut(C).zip(blocks) {
            for c in 0..C {
                let sum =
                    u16::from(t[c]) + u16::from(t[C + c]) + u16::from(b[c]) + u16::from(b[C + c]);
                d[c] = ((sum + 2) / 4) as u8;
            }
        }
        if w % 2 == 1 {
            let at = (w - 1) * C;
            for c in 0..C {
                let sum = u16::from(top[at + c]) + u16::from(bottom[at + c]);
                dst[pairs * C + c] = sum.div_ceil(2) as u8;
            }
        }
    }
    Some(out)
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
    let decoded = if format == image::ImageFormat::Jpeg && !matches!(purpose, Purpose::Any) {
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
        let (w, h) = thumbnail_size(img);
        area_average(img, w, h)
    } else {
        img.clone()
    }
}

/// The size of `img` fitted within [`THUMBNAIL_SIZE`] square, aspect kept, rounded as `image`
/// rounds it (`DynamicImage::thumbnail` and `resize`).
fn thumbnail_size(img: &DynamicImage) -> (u32, u32) {
    let (w, h) = (img.width(), img.height());
    let ratio = f64::min(
        f64::from(THUMBNAIL_SIZE) / f64::from(w),
        f64::from(THUMBNAIL_SIZE) / f64::from(h),
    );
    let side = |x: u32| ((f64::from(x) * ratio).round() as u32).max(1);
    (side(w), side(h))
}

/// A reduced decode's thumbnail: `img.resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, Triangle)`, byte
/// for byte.
fn triangle_thumbnail(img: &DynamicImage) -> DynamicImage {
    let (w, h) = thumbnail_size(img);
    triangle_resize(img, w, h)
}

/// `image`'s triangle-filter resize (`imageops::resize`, `FilterType::Triangle`), the same
/// bytes: the same weights, summed in the same order, rows at a time rather than pixel by pixel
/// through `image`'s generic pixel access (about a third of the time on 8-bit photos). Other
/// pixel kinds go through `image`.
pub(crate) fn triangle_resize(img: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    if (w, h) == (width, height) {
        return img.clone();
    }
    let fast = resample_8bit(img, width, height, TRIANGLE);
    fast.unwrap_or_else(|| img.resize_exact(width, height, image::imageops::FilterType::Triangle))
}

/// Rows of 8-bit pixels (`width`, `height`, new width, new height) resampled.
type Resample8 = fn(&[u8], u32, u32, u32, u32) -> Option<Vec<u8>>;

/// One resampling for grey, RGB and RGBA pixels.
const TRIANGLE: [Resample8; 3] = [
    triangle_resize_raw::<1>,
    triangle_resize_raw::<3>,
    triangle_resize_raw::<4>,
];
const AREA_AVERAGE: [Resample8; 3] = [
    area_average_raw::<1>,
    area_average_raw::<3>,
    area_average_raw::<4>,
];
const HALVE: [Resample8; 3] = [halve::<1>, halve::<3>, halve::<4>];

/// `img` resampled to `width` × `height` by the function for its channels (grey, RGB, RGBA),
/// or `None` for other pixel kinds or where that function declines.
fn resample_8bit(
    img: &DynamicImage,
    width: u32,
    height: u32,
    [grey, rgb, rgba]: [Resample8; 3],
) -> Option<DynamicImage> {
    let (w, h) = (img.width(), img.height());
    match img {
        DynamicImage::ImageLuma8(i) => grey(i.as_raw(), w, h, width, height)
            .and_then(|v| image::GrayImage::from_raw(width, height, v))
            .map(DynamicImage::ImageLuma8),
        DynamicImage::ImageRgb8(i) => rgb(i.as_raw(), w, h, width, height)
            .and_then(|v| RgbImage::from_raw(width, height, v))
            .map(DynamicImage::ImageRgb8),
        DynamicImage::ImageRgba8(i) => rgba(i.as_raw(), w, h, width, height)
            .and_then(|v| image::RgbaImage::from_raw(width, height, v))
            .map(DynamicImage::ImageRgba8),
        _ => None,
    }
}

/// Each output pixel's first source pixel and its triangle-filter weights, as `image` computes
/// them (in `f32`, normalised to sum to 1).
fn triangle_taps(src: u32, dst: u32) -> Vec<(usize, Vec<f32>)> {
    let ratio = src as f32 / dst as f32;
    let scale = ratio.max(1.0);
    (0..dst)
        .map(|o| {
            let centre = (o as f32 + 0.5) * ratio;
            let first = ((centre - scale).floor() as i64).clamp(0, i64::from(src) - 1);
            let end = ((centre + scale).ceil() as i64).clamp(first + 1, i64::from(src));
            let centre = centre - 0.5;
            let mut weights: Vec<f32> = (first..end)
                .map(|i| {
                    let x = ((i as f32 - centre) / scale).abs();
                    if x < 1.0 { 1.0 - x } else { 0.0 }
                })
                .collect();
            let mut sum = 0.0f32;
            for w in &weights {
                sum += w;
            }
            for w in &mut weights {
                *w /= sum;
            }
            (first as usize, weights)
        })
        .collect()
}

/// Rows of `w` pixels of `C` bytes resized by the triangle filter: columns first into `f32`
/// rows, then along each row, rounded to nearest (as `image` does).
fn triangle_resize_raw<const C: usize>(
    raw: &[u8],
    w: u32,
    h: u32,
    width: u32,
    height: u32,
) -> Option<Vec<u8>> {
    let stride = w as usize * C;
    if w == 0 || h == 0 || width == 0 || height == 0 || raw.len() != stride * h as usize {
        return None;
    }
    let (rows, cols) = (triangle_taps(h, height), triangle_taps(w, width));
    let mut out = Vec::with_capacity(width as usize * height as usize * C);
    let mut line = vec![0f32; stride];
    for (top, weights) in &rows {
        line.fill(0.0);
        for (i, &wt) in weights.iter().enumerate() {
            let row = &raw[(top + i) * stride..][..stride];
            for (acc, &p) in line.iter_mut().zip(row) {
                *acc += f32::from(p) * wt;
            }
        }
        for (left, weights) in &cols {
            let mut px = [0f32; C];
            for (i, &wt) in weights.iter().enumerate() {
                let p = &line[(left + i) * C..][..C];
                for c in 0..C {
                    px[c] += p[c] * wt;
                }
            }
            out.extend(px.map(|v| v.clamp(0.0, 255.0).round() as u8));
        }
    }
    Some(out)
}

/// `img` reduced to `width` × `height` by `image`'s area average (`imageops::thumbnail`), byte
/// for byte, with the sums of each band of rows kept per column: about a fifth of the time on
/// 8-bit photos (a Luma photo's thumbnail 2.3 ms by `image`). Other pixel kinds, and
/// enlargements (interpolated there), go through `image`.
pub(crate) fn area_average(img: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let fast = resample_8bit(img, width, height, AREA_AVERAGE);
    fast.unwrap_or_else(|| img.thumbnail_exact(width, height))
}

/// Each output pixel's span of source pixels, `[from, to)`, computed as `image` computes it (in
/// `f32`); `None` where a span is empty (an enlargement).
fn area_spans(src: u32, dst: u32) -> Option<Vec<(usize, usize)>> {
    if src == 0 || dst == 0 {
        return None;
    }
    let ratio = src as f32 / dst as f32;
    (0..dst)
        .map(|o| {
            let from = o as f32 * ratio;
            let lo = (from.ceil() as u32).min(src - 1);
            let hi = ((from + ratio).ceil() as u32).clamp(lo, src);
            (lo < hi).then_some((lo as usize, hi as usize))
        })
        .collect()
}

/// Rows of `w` pixels of `C` bytes averaged over each output pixel's block, rounded to nearest.
fn area_average_raw<const C: usize>(
    raw: &[u8],
    w: u32,
    h: u32,
    width: u32,
    height: u32,
) -> Option<Vec<u8>> {
    let (cols, rows) = (area_spans(w, width)?, area_spans(h, height)?);
    let stride = w as usize * C;
    if raw.len() != stride * h as usize {
        return None;
    }
    let mut sums = vec![0u32; stride];
    let mut out = Vec::with_capacity(width as usize * height as usize * C);
    for &(top, bottom) in &rows {
        sums.fill(0);
        for row in raw[top * stride..bottom * stride].chunks_exact(stride) {
            for (s, &p) in sums.iter_mut().zip(row) {
                *s += u32::from(p);
            }
        }
        for &(left, right) in &cols {
            let n = ((right - left) * (bottom - top)) as u32;
            let mut px = [0u32; C];
            for x in sums[left * C..right * C].chunks_exact(C) {
                for c in 0..C {
                    px[c] += x[c];
                }
            }
            out.extend(px.map(|s| ((s + n / 2) / n).min(255) as u8));
        }
    }
    Some(out)
}

/// The JPEG quality of thumbnails.
const THUMBNAIL_QUALITY: i32 = 85;

/// `rgb` as a JPEG (4:2:0) by libjpeg-turbo: about 4 times faster than `image`'s encoder on a
/// thumbnail (0.4 against 1.9 ms); `None` if it fails.
fn encode_jpeg(rgb: &RgbImage, quality: i32) -> Option<Vec<u8>> {
    use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};
    let mut c = Compressor::new().ok()?;
    c.set_quality(quality).ok()?;
    c.set_subsamp(Subsamp::Sub2x2).ok()?;
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    c.compress_to_vec(Image {
        pixels: rgb.as_raw().as_slice(),
        width,
        pitch: width * 3,
        height,
        format: PixelFormat::RGB,
    })
    .ok()
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
    let buf = match encode_jpeg(&rgb, THUMBNAIL_QUALITY) {
        Some(buf) => buf,
        None => {
            let mut buf = Vec::with_capacity(32 * 1024);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, THUMBNAIL_QUALITY as u8)
                .encode_image(&rgb)
                .map_err(|e| err(&e))?;
            buf
        }
    };
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

    /// How far apart two images of one size are: the mean absolute difference of their RGB
    /// bytes, in levels of 255.
    fn mean_levels_off(a: &DynamicImage, b: &DynamicImage) -> f32 {
        let (a, b) = (a.to_rgb8(), b.to_rgb8());
        let sum: f32 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| (x as f32 - y as f32).abs())
            .sum();
        sum / a.as_raw().len() as f32
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
            let off = |img: &DynamicImage| mean_levels_off(img, &careful);
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
        // Under 4 times the thumbnail's size, the photo is decoded whole (by libjpeg-turbo, as
        // for the model): the same thumbnail.
        let bytes = textured_jpeg(1200, 1000);
        let (small, size) = decode_thumbnail(&bytes, DEFAULT_MAX_PIXELS).unwrap();
        let whole = thumbnail(&decode_for_model(&bytes, DEFAULT_MAX_PIXELS, 0).unwrap());
        assert_eq!(size, (1200, 1000));
        assert_eq!(small.to_rgb8().as_raw(), whole.to_rgb8().as_raw());
    }

    /// Grey, RGB and RGBA images of noise with every byte value, so that any difference in a
    /// block's bounds, a weight or a rounding shows.
    fn noise_images(w: u32, h: u32) -> [DynamicImage; 3] {
        let noise = |c: u32| -> Vec<u8> {
            (0..w * h * c)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect()
        };
        [
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, noise(1)).unwrap()),
            DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, noise(3)).unwrap()),
            DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, noise(4)).unwrap()),
        ]
    }

    /// `ours` is `theirs`, byte for byte, and `fast` computes it here rather than handing it
    /// back to `image`.
    fn same_and_computed_here(
        img: &DynamicImage,
        ours: &DynamicImage,
        theirs: &DynamicImage,
        fast: [Resample8; 3],
    ) {
        let what = format!("{}x{} {:?}", img.width(), img.height(), img.color());
        let size = (ours.width(), ours.height());
        assert_eq!(size, (theirs.width(), theirs.height()), "{what}");
        assert_eq!(ours.as_bytes(), theirs.as_bytes(), "{what} to {size:?}");
        assert!(resample_8bit(img, size.0, size.1, fast).is_some(), "{what}");
    }

    #[test]
    fn a_reduced_decode_s_thumbnail_is_image_s_triangle_resize_byte_for_byte() {
        let triangle = image::imageops::FilterType::Triangle;
        let sizes = [
            (756, 1008),
            (800, 1000),
            (1008, 756),
            (641, 640),
            (700, 9),
            (333, 333),
        ];
        for (w, h) in sizes {
            for img in noise_images(w, h) {
                let theirs = img.resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, triangle);
                same_and_computed_here(&img, &triangle_thumbnail(&img), &theirs, TRIANGLE);
                // Enlarging along one side or both, and odd sizes.
                for (tw, th) in [(w / 3 + 1, h * 2), (w + 7, h + 5), (1, 1)] {
                    let theirs = img.resize_exact(tw, th, triangle);
                    same_and_computed_here(&img, &triangle_resize(&img, tw, th), &theirs, TRIANGLE);
                }
            }
        }
    }

    #[test]
    fn thumbnails_and_hash_inputs_are_image_s_area_average_byte_for_byte() {
        let sizes = [
            (413, 512),
            (512, 413),
            (1000, 7),
            (7, 1000),
            (321, 321),
            (640, 480),
            (1003, 997),
            (321, 2),
        ];
        for (w, h) in sizes {
            for img in noise_images(w, h) {
                let ours = thumbnail(&img);
                let theirs = img.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE);
                same_and_computed_here(&img, &ours, &theirs, AREA_AVERAGE);
                // The perceptual hash's 32 x 32, and sizes that enlarge (handed back to `image`).
                for (tw, th) in [(32, 32), (3, 5), (w, h), (w + 1, h / 2 + 1)] {
                    let (a, b) = (area_average(&ours, tw, th), theirs.thumbnail_exact(tw, th));
                    assert_eq!(a.as_bytes(), b.as_bytes(), "{w}x{h} to {tw}x{th}");
                }
            }
        }
    }

    #[test]
    fn halving_averages_each_two_by_two_block_and_what_an_odd_edge_has() {
        // 5 × 3 in grey, RGB and RGBA: plain means, rounded half up.
        let (w, h) = (5usize, 3usize);
        let px = |x: usize, y: usize, c: usize| ((x * 37 + y * 91 + c * 13) % 256) as u8;
        for (channels, halve) in [1usize, 3, 4].into_iter().zip(HALVE) {
            let raw: Vec<u8> = (0..h)
                .flat_map(|y| (0..w).flat_map(move |x| (0..channels).map(move |c| px(x, y, c))))
                .collect();
            let (w32, h32) = (w as u32, h as u32);
            let got = halve(&raw, w32, h32, w32.div_ceil(2), h32.div_ceil(2)).unwrap();
            let mut want = Vec::new();
            for y in 0..h.div_ceil(2) {
                for x in 0..w.div_ceil(2) {
                    for c in 0..channels {
                        let cells: Vec<u32> = [(0, 0), (1, 0), (0, 1), (1, 1)]
                            .iter()
                            .map(|&(dx, dy)| (2 * x + dx, 2 * y + dy))
                            .filter(|&(x, y)| x < w && y < h)
                            .map(|(x, y)| u32::from(px(x, y, c)))
                            .collect();
                        let n = cells.len() as u32;
                        want.push(((cells.iter().sum::<u32>() + n / 2) / n) as u8);
                    }
                }
            }
            assert_eq!(got, want, "{channels} channels");
        }
    }

    #[test]
    fn an_import_with_embedding_decodes_once_and_gets_the_same_model_image_and_a_like_thumbnail() {
        let distance = |a: &DynamicImage, b: &DynamicImage| {
            (crate::phash::phash(a).0 ^ crate::phash::phash(b).0).count_ones()
        };
        // Large JPEGs (one at half size for the model, odd sizes, one turned by EXIF): the
        // model's image is exactly `decode_for_model`'s, the thumbnail of the same size as the
        // import's without a model and within a level of it.
        for bytes in [
            textured_jpeg(2601, 3401),
            textured_jpeg(1500, 1001),
            with_orientation(&textured_jpeg(2600, 1400), 6),
        ] {
            let got = decode_for_import(&bytes, DEFAULT_MAX_PIXELS, 224).unwrap();
            let model = decode_for_model(&bytes, DEFAULT_MAX_PIXELS, 224).unwrap();
            let (thumb, size) = decode_thumbnail(&bytes, DEFAULT_MAX_PIXELS).unwrap();
            assert_eq!(got.model.to_rgb8().as_raw(), model.to_rgb8().as_raw());
            assert_eq!(got.size, size);
            let dims = |i: &DynamicImage| (i.width(), i.height());
            assert_eq!(dims(&got.thumbnail), dims(&thumb));
            let off = mean_levels_off(&got.thumbnail, &thumb);
            assert!(off < 1.0, "{size:?}: {off} levels off");
        }
        // A scene's perceptual hash (large shapes, fine noise) is within 2 bits of the import's
        // without a model (0.14 levels apart: bits whose DCT term sits at the median flip).
        let scene = RgbImage::from_fn(3024, 4032, |x, y| {
            let (fx, fy) = (x as f32 / 3024.0, y as f32 / 4032.0);
            let noise = ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 31) as f32;
            let v = |a: f32, b: f32| (110.0 + 70.0 * (fx * a).sin() * (fy * b).cos() + noise) as u8;
            image::Rgb([v(7.0, 5.0), v(4.0, 9.0), v(11.0, 3.0)])
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&scene)
            .unwrap();
        let got = decode_for_import(&bytes, DEFAULT_MAX_PIXELS, 224).unwrap();
        let (thumb, _) = decode_thumbnail(&bytes, DEFAULT_MAX_PIXELS).unwrap();
        assert!(distance(&got.thumbnail, &thumb) <= 2);
        // A smaller JPEG and a PNG: exactly the import's thumbnail and the model's image.
        let small = textured_jpeg(1200, 1000);
        let mut png = Vec::new();
        image::load_from_memory(&textured_jpeg(1600, 1400))
            .unwrap()
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        for bytes in [small, png] {
            let got = decode_for_import(&bytes, DEFAULT_MAX_PIXELS, 224).unwrap();
            let model = decode_for_model(&bytes, DEFAULT_MAX_PIXELS, 224).unwrap();
            let (thumb, size) = decode_thumbnail(&bytes, DEFAULT_MAX_PIXELS).unwrap();
            assert_eq!(got.model.to_rgb8().as_raw(), model.to_rgb8().as_raw());
            assert_eq!(got.thumbnail.to_rgb8().as_raw(), thumb.to_rgb8().as_raw());
            assert_eq!(got.size, size);
        }
        // Its errors are the decoder's.
        let good = jpeg(64, 64);
        assert!(matches!(
            decode_for_import(&good[..good.len() / 2], DEFAULT_MAX_PIXELS, 224),
            Err(PhotoError::Truncated)
        ));
        assert!(matches!(
            decode_for_import(&good, 100, 224),
            Err(PhotoError::TooManyPixels { .. })
        ));
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
