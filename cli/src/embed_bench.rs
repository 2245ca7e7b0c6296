//! `vitrine bench embed`: encoder throughput, median of timed repetitions, printed as JSON.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;
use vitrine::embed::{DuringImport, EmbedOptions};
use vitrine::encoders::clip::RandomWeights;
use vitrine::encoders::{ClipEncoder, DeviceChoice, Precision, TextEncoder};
use vitrine::import::PhotoModel;
use vitrine::model_choice::Encoders;
use vitrine::models::{ModelKind, Models};
use vitrine::{Catalog, ImportOptions};

use crate::bench::{luma_sources, median};

/// Runs `f` once to warm up, then repeatedly for about `seconds`; the median time of one call.
fn time_median(seconds: f64, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed().as_secs_f64() < seconds && times.len() < 200) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

fn per_second(n: usize, secs: f64) -> f64 {
    (n as f64 / secs * 10.0).round() / 10.0
}

/// Image and text throughput of one CLIP encoder at each batch size.
fn clip_speed(clip: &ClipEncoder, batches: &[usize], seconds: f64) -> Result<serde_json::Value> {
    let s = clip.image_size();
    let mut images = serde_json::Map::new();
    let mut texts = serde_json::Map::new();
    for &b in batches {
        let pixels = noise_images(b, s);
        let secs = time_median(seconds, || {
            clip.image_features_of(&pixels)?;
            Ok(())
        })?;
        images.insert(format!("batch_{b}"), per_second(b, secs).into());
        let ids = match clip.fixed_text_length() {
            // Fixed-length models pad every text to their length: any valid ids will do.
            Some(_) => vec![clip.tokenize(&[SAMPLE_TEXT])?.remove(0); b],
            None => token_rows(b),
        };
        let secs = time_median(seconds, || {
            clip.text_features_of(&ids, None)?;
            Ok(())
        })?;
        texts.insert(format!("batch_{b}"), per_second(b, secs).into());
    }
    Ok(serde_json::json!({"images_per_second": images, "texts_per_second_16_tokens": texts}))
}

/// A product query of about 16 tokens.
const SAMPLE_TEXT: &str = "a red leather handbag with a gold zip and a long strap for work";

/// `b` images of `s` × `s` pixels (channels first) of deterministic noise in about [-2, 2].
fn noise_images(b: usize, s: usize) -> Vec<Vec<f32>> {
    let mut x: u32 = 0x9e37_79b9;
    (0..b)
        .map(|_| {
            (0..3 * s * s)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x as f32 / u32::MAX as f32) * 4.0 - 2.0
                })
                .collect()
        })
        .collect()
}

/// `b` rows of 16 tokens each: start, 14 words, end.
fn token_rows(b: usize) -> Vec<Vec<u32>> {
    (0..b)
        .map(|i| {
            let mut r = vec![49406];
            r.extend((0..14).map(|j| 400 + ((i * 31 + j * 7) % 20000) as u32));
            r.push(49407);
            r
        })
        .collect()
}

/// Mean and minimum cosine between two sets of unit vectors, row by row.
pub fn agreement(a: &[Vec<f32>], b: &[Vec<f32>]) -> serde_json::Value {
    let cos: Vec<f32> = a
        .iter()
        .zip(b)
        .map(|(x, y)| vitrine::index::dot(x, y))
        .collect();
    let n = cos.len().max(1) as f32;
    serde_json::json!({
        "n": cos.len(),
        "mean_cosine": cos.iter().sum::<f32>() / n,
        "min_cosine": cos.iter().copied().fold(f32::INFINITY, f32::min),
    })
}

/// int8 against f32 on the same weights: Luma photos (the first `photos`) and product titles.
fn int8_agreement(
    f32_clip: &ClipEncoder,
    int8_clip: &ClipEncoder,
    photos: usize,
) -> Result<serde_json::Value> {
    let luma = luma_sources()?;
    let csv = luma
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .context("no products.csv in the Luma catalog")?;
    let mut paths = luma_photo_paths()?;
    paths.truncate(photos);
    let pixels: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| model_input(f32_clip, &std::fs::read(p)?))
        .collect::<Result<_>>()?;
    let mut titles: Vec<String> = csv::Reader::from_path(csv)?
        .records()
        .flatten()
        .filter_map(|r| r.get(4).map(str::to_string))
        .collect();
    titles.dedup();
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    let mut a = Vec::new();
    let mut b = Vec::new();
    for chunk in pixels.chunks(16) {
        a.extend(f32_clip.embed_pixels(chunk)?);
        b.extend(int8_clip.embed_pixels(chunk)?);
    }
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for chunk in titles.chunks(32) {
        ta.extend(f32_clip.embed_texts(chunk)?);
        tb.extend(int8_clip.embed_texts(chunk)?);
    }
    Ok(serde_json::json!({"luma_photos": agreement(&a, &b), "luma_titles": agreement(&ta, &tb)}))
}

pub fn run(
    models_dir: &Path,
    random_weights: bool,
    batches: &[usize],
    seconds: f64,
    import: Option<usize>,
) -> Result<()> {
    let models = Models::new(models_dir, vec![]);
    let clip_manifest = models
        .default_for(ModelKind::Clip)
        .context("no default CLIP model")?
        .clone();
    let clip_dir = models.folder(&clip_manifest);
    let weights_present = clip_dir.join("model.safetensors").is_file();
    let random = random_weights || !weights_present;
    // Both precisions from the same weights (random ones are drawn once, into `varmap`).
    let weights = RandomWeights::new();
    let load = |p: Precision| -> Result<ClipEncoder> {
        if random {
            ClipEncoder::with_random_weights(&clip_dir, &weights, p).with_context(|| {
                format!(
                    "the CLIP architecture is read from {}",
                    clip_dir.join("config.json").display()
                )
            })
        } else {
            Ok(ClipEncoder::load(&clip_dir, DeviceChoice::Cpu, p)?)
        }
    };
    let clips = [
        (Precision::F32, load(Precision::F32)?),
        (Precision::Int8, load(Precision::Int8)?),
    ];
    let mut out = serde_json::json!({
        "bench": "embed",
        "device": "cpu",
        "threads": rayon::current_num_threads(),
        "cpu_peak_per_core": crate::cpu_peak::per_core(),
        "int8_kernel": vitrine::encoders::int8_cpu_kernel(),
        "clip": { "model": clip_manifest.id, "random_weights": random },
    });
    // Alternate precisions per batch size so that machine noise hits both alike.
    let mut speed: Vec<serde_json::Value> = vec![serde_json::json!({}); clips.len()];
    for &b in batches {
        for (i, (_, c)) in clips.iter().enumerate() {
            let r = clip_speed(c, &[b], seconds)?;
            for key in ["images_per_second", "texts_per_second_16_tokens"] {
                speed[i][key][format!("batch_{b}")] = r[key][format!("batch_{b}")].clone();
            }
        }
    }
    for ((p, _), s) in clips.iter().zip(speed) {
        out["clip"][p.name()] = s;
    }
    out["clip"]["int8_vs_f32"] = int8_agreement(&clips[0].1, &clips[1].1, 64)?;

    let text_manifest = models
        .default_for(ModelKind::Text)
        .context("no default text model")?
        .clone();
    let text_enc = if models.is_present(&text_manifest) {
        Some(TextEncoder::load(
            &models.folder(&text_manifest),
            DeviceChoice::Cpu,
        )?)
    } else {
        None
    };
    if let Some(t) = &text_enc {
        let sample = "Fusion Backpack. Gear / Bags. Blue. With the Fusion Backpack strapped on, every trek is an adventure - even a bus ride to work.";
        let mut per = serde_json::Map::new();
        for &b in batches {
            let batch: Vec<&str> = vec![sample; b];
            let secs = time_median(seconds, || {
                t.embed(&batch)?;
                Ok(())
            })?;
            per.insert(format!("batch_{b}"), per_second(b, secs).into());
        }
        out["product_text"] = serde_json::json!({
            "model": text_manifest.id,
            "tokens_per_text": t.tokenize(&[sample])?.0[0].len(),
            "texts_per_second": per,
        });
    }

    if let Some(phone_photos) = import {
        let luma = (luma_sources()?, luma_photos()?);
        out["photo_costs_ms"] = photo_costs(&clips[0].1, &luma.1)?;
        let phone = (phone_photos > 0)
            .then(|| phone_folder(phone_photos))
            .transpose()?;
        for (p, clip) in clips {
            let (report, clip) = import_with(clip, &clip_manifest, &luma.0, &luma.1)?;
            out["import_with_embedding"][p.name()] = report;
            if let Some((dir, photos)) = &phone {
                let (report, _) =
                    import_with(clip, &clip_manifest, std::slice::from_ref(dir), photos)?;
                out["import_with_embedding_phone"][p.name()] = report;
            }
        }
        if let Some((dir, _)) = phone {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// The Luma photos' files, by name.
fn luma_photo_paths() -> Result<Vec<std::path::PathBuf>> {
    let luma = luma_sources()?;
    let images_dir = luma.iter().find(|p| p.is_dir()).context("no Luma images")?;
    let mut paths: Vec<_> = std::fs::read_dir(images_dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| vitrine::photo::has_photo_extension(p))
        .collect();
    paths.sort();
    Ok(paths)
}

/// The bytes of the Luma photos, by name.
fn luma_photos() -> Result<Vec<Vec<u8>>> {
    Ok(luma_photo_paths()?
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<_>>()?)
}

/// A photo's model input: decoded and preprocessed as the embedding does.
fn model_input(clip: &ClipEncoder, bytes: &[u8]) -> Result<Vec<f32>> {
    let img = vitrine::photo::decode_for_model(
        bytes,
        vitrine::photo::DEFAULT_MAX_PIXELS,
        clip.decode_side(),
    )?;
    Ok(clip.preprocess(&img))
}

/// What a photo costs besides the model, on one thread, in milliseconds: decoding and
/// preprocessing for the model, the import's decoding and thumbnail (`import_thumbnail`), and
/// both from one decode as an import with embedding makes them (`import_thumbnail_and_decode`);
/// medians over the Luma photos (`bytes`) and over 10 runs on each of two large photos (a Luma photo
/// enlarged to 1600 × 2000 and to a phone camera's 3024 × 4032, JPEG quality 90, as merchants'
/// photos often are; both reduced in their inverse DCT, see `photo::decode_for_model` and
/// `photo::decode_thumbnail`).
fn photo_costs(clip: &ClipEncoder, bytes: &[Vec<u8>]) -> Result<serde_json::Value> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    pool.install(|| {
        let first = bytes.first().context("no Luma photos")?;
        let first = vitrine::photo::decode(first, vitrine::photo::DEFAULT_MAX_PIXELS)?;
        let costs = |photos: &[&Vec<u8>]| -> Result<serde_json::Value> {
            let (mut decode, mut preprocess, mut thumb, mut both) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for b in photos {
                let t = Instant::now();
                let max = vitrine::photo::DEFAULT_MAX_PIXELS;
                std::hint::black_box(vitrine::photo::decode_thumbnail(b, max)?);
                thumb.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let side = clip.decode_side();
                std::hint::black_box(vitrine::photo::decode_for_import(b, max, side)?);
                both.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let img = vitrine::photo::decode_for_model(b, max, side)?;
                decode.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                std::hint::black_box(clip.preprocess(&img));
                preprocess.push(t.elapsed().as_secs_f64() * 1e3);
            }
            let ms = |v: Vec<f64>| (median(v) * 1000.0).round() / 1000.0;
            Ok(serde_json::json!({
                "decode": ms(decode),
                "preprocess": ms(preprocess),
                "import_thumbnail": ms(thumb),
                "import_thumbnail_and_decode": ms(both),
            }))
        };
        let (big, phone) = (enlarged(&first, 1600, 2000)?, enlarged(&first, 3024, 4032)?);
        Ok(serde_json::json!({
            "luma": costs(&bytes.iter().collect::<Vec<_>>())?,
            "photo_1600x2000": costs(&[&big; 10])?,
            "photo_3024x4032": costs(&[&phone; 10])?,
        }))
    })
}

/// `img` enlarged to `w` × `h`, as a JPEG of quality 90.
fn enlarged(img: &image::DynamicImage, w: u32, h: u32) -> Result<Vec<u8>> {
    let big = img
        .resize_exact(w, h, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90).encode_image(&big)?;
    Ok(buf)
}

/// A folder of `n` phone-sized photos (Luma photos spread over the catalog, enlarged to
/// 3024 × 4032, JPEG quality 90), and their bytes.
fn phone_folder(n: usize) -> Result<(std::path::PathBuf, Vec<Vec<u8>>)> {
    let dir = std::env::temp_dir().join(format!("vitrine-bench-phone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let paths = luma_photo_paths()?;
    let step = (paths.len() / n.max(1)).max(1);
    let photos = paths
        .iter()
        .step_by(step)
        .take(n)
        .enumerate()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(i, p)| -> Result<Vec<u8>> {
            let img =
                vitrine::photo::decode(&std::fs::read(p)?, vitrine::photo::DEFAULT_MAX_PIXELS)?;
            let buf = enlarged(&img, 3024, 4032)?;
            std::fs::write(dir.join(format!("phone-{i:03}.jpg")), &buf)?;
            Ok(buf)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((dir, photos))
}

/// An import of `sources` into a fresh catalog with embedding by `clip`, both ways: in two
/// passes (import, then embedding, which decodes each photo again) and as the app and the CLI
/// import (the model embedding each photo while the import has it decoded); then the encoder
/// alone on `photos` (the same photos' bytes). The encoder is handed back.
fn import_with(
    clip: ClipEncoder,
    manifest: &vitrine::models::Manifest,
    sources: &[std::path::PathBuf],
    photos: &[Vec<u8>],
) -> Result<(serde_json::Value, ClipEncoder)> {
    let mut encoders = Encoders::none();
    encoders.clip = Some((manifest.clone(), clip));
    let opts = ImportOptions {
        sources: sources.to_vec(),
        ..ImportOptions::default()
    };
    let never = AtomicBool::new(false);
    let mut report = serde_json::json!({});
    let mut rates = [0.0; 2];
    let mut phashes: [std::collections::HashMap<String, Option<u64>>; 2] = Default::default();
    for (i, once) in [false, true].into_iter().enumerate() {
        let dir = std::env::temp_dir().join(format!("vitrine-bench-embed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut catalog = Catalog::open(&dir)?;
        let start = Instant::now();
        let during = once.then(|| DuringImport::new(&encoders)).flatten();
        let model = during.as_ref().map(|m| m as &dyn PhotoModel);
        let (import, during_import) =
            vitrine::import::run_with_model(&mut catalog, &opts, model, &|_| {}, &never)?;
        let import_seconds = start.elapsed().as_secs_f64();
        let embed = vitrine::embed::run(
            &mut catalog,
            &encoders,
            &EmbedOptions { batch_size: 32 },
            &|_| {},
            &never,
        )?;
        let total = start.elapsed().as_secs_f64();
        for product in catalog.products(&vitrine::ProductFilter::default())? {
            for photo in product.images {
                phashes[i].insert(photo.hash, photo.phash.map(|h| h.0));
            }
        }
        drop(catalog);
        let _ = std::fs::remove_dir_all(&dir);
        rates[i] = import.photos_processed as f64 / total;
        report["photos"] = import.photos_processed.into();
        report[if once { "decoded_once" } else { "two_passes" }] = serde_json::json!({
            "import_seconds": import_seconds,
            "embedded_during_import": during_import,
            "embed_seconds": total - import_seconds,
            "embedded_after_import": embed.photos_embedded,
            "end_to_end_images_per_second": per_second(import.photos_processed, total),
        });
    }
    // The encoder alone on the same photos in the same batches, right after: the import's
    // overhead over the model without the minutes of machine noise between two benchmarks.
    let (_, clip) = encoders.clip.take().context("the encoder went missing")?;
    let (mut alone_seconds, mut alone) = (0.0, 0);
    for chunk in photos.chunks(32) {
        let pixels = chunk
            .par_iter()
            .map(|b| model_input(&clip, b))
            .collect::<Result<Vec<_>>>()?;
        let t = Instant::now();
        clip.embed_pixels(&pixels)?;
        alone_seconds += t.elapsed().as_secs_f64();
        alone += pixels.len();
    }
    let alone_rate = alone as f64 / alone_seconds;
    // Both ways must give each photo the same perceptual hash (within a couple of bits where a
    // large photo's thumbnail is made from the model's decode).
    let bits: Vec<u32> = phashes[0]
        .iter()
        .map(|(hash, a)| match (a, phashes[1].get(hash)) {
            (Some(a), Some(Some(b))) => (a ^ b).count_ones(),
            _ => 64,
        })
        .collect();
    report["phashes_differing"] = bits.iter().filter(|b| **b > 0).count().into();
    report["phash_bits_differing_at_most"] = bits.iter().max().copied().unwrap_or(0).into();
    let ratio = |x: f64| (x * 1000.0).round() / 1000.0;
    report["encoder_alone_images_per_second"] = per_second(alone, alone_seconds).into();
    report["end_to_end_vs_encoder_alone"] = ratio(rates[1] / alone_rate).into();
    report["two_passes_vs_encoder_alone"] = ratio(rates[0] / alone_rate).into();
    report["decoded_once_vs_two_passes"] = ratio(rates[1] / rates[0]).into();
    Ok((report, clip))
}

/// The real sizes of the other visual architectures (their `config.json` in the SigLIP
/// layout; Marqo's OpenCLIP weights load into the same module, with exact GELU).
fn architecture(name: &str) -> Result<serde_json::Value> {
    let siglip = |width: usize,
                  inter: usize,
                  layers: usize,
                  heads: usize,
                  image: usize,
                  vocab: usize,
                  act: &str| {
        serde_json::json!({
            "model_type": "siglip",
            "text_config": {
                "vocab_size": vocab, "hidden_size": width, "intermediate_size": inter,
                "num_hidden_layers": layers, "num_attention_heads": heads,
                "max_position_embeddings": 64, "hidden_act": act,
            },
            "vision_config": {
                "hidden_size": width, "intermediate_size": inter, "num_hidden_layers": layers,
                "num_attention_heads": heads, "image_size": image, "patch_size": 16,
                "hidden_act": act,
            },
        })
    };
    Ok(match name {
        "siglip2-b16" => siglip(768, 3072, 12, 12, 224, 256_000, "gelu_pytorch_tanh"),
        "marqo-b" => siglip(768, 3072, 12, 12, 224, 32_000, "gelu"),
        "marqo-l" => siglip(1024, 4096, 24, 16, 384, 32_000, "gelu"),
        other => anyhow::bail!(
            "unknown architecture {other:?}: use siglip2-b16, marqo-b, marqo-l or none"
        ),
    })
}

/// Image and text throughput of other architectures at real size with random weights, f32 and
/// int8 alternating per batch size; printed as one more JSON object. The tokenizer is a small
/// stand-in (texts are padded to the fixed 64 tokens, so their cost does not depend on it).
pub fn architectures(names: &[String], batches: &[usize], seconds: f64) -> Result<()> {
    let names: Vec<&String> = names.iter().filter(|n| n.as_str() != "none").collect();
    if names.is_empty() {
        return Ok(());
    }
    let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/siglip-tiny");
    let mut out = serde_json::json!({ "bench": "embed-architectures", "random_weights": true });
    for name in names {
        let dir = Folder(
            std::env::temp_dir().join(format!("vitrine-bench-{name}-{}", std::process::id())),
        );
        std::fs::create_dir_all(dir.path())?;
        let config = architecture(name)?;
        std::fs::write(dir.path().join("config.json"), config.to_string())?;
        let image = config["vision_config"]["image_size"].clone();
        std::fs::write(
            dir.path().join("preprocessor_config.json"),
            serde_json::json!({
                "size": { "height": image, "width": image },
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 3,
            })
            .to_string(),
        )?;
        std::fs::copy(
            stand_in.join("tokenizer.json"),
            dir.path().join("tokenizer.json"),
        )
        .context("the stand-in tokenizer of tests/fixtures/siglip-tiny")?;
        let weights = RandomWeights::new();
        let encoders = [Precision::F32, Precision::Int8]
            .map(|p| ClipEncoder::with_random_weights(dir.path(), &weights, p).map(|e| (p, e)));
        let mut speed = serde_json::json!({});
        for &b in batches {
            for e in &encoders {
                let (p, clip) = e.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
                let r = clip_speed(clip, &[b], seconds)?;
                for (key, as_key) in [
                    ("images_per_second", "images_per_second"),
                    (
                        "texts_per_second_16_tokens",
                        "texts_per_second_padded_to_64",
                    ),
                ] {
                    speed[p.name()][as_key][format!("batch_{b}")] =
                        r[key][format!("batch_{b}")].clone();
                }
            }
        }
        speed["embedding_dim"] = encoders[0].as_ref().map(|e| e.1.dim).unwrap_or(0).into();
        out[name.as_str()] = speed;
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// A folder removed when dropped.
struct Folder(std::path::PathBuf);

impl Folder {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
