//! `vitrine bench embed`: encoder throughput, median of timed repetitions, printed as JSON.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use vitrine::embed::{EmbedOptions, Encoders};
use vitrine::encoders::{ClipEncoder, TextEncoder, clip};
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

pub fn run(
    models_dir: &Path,
    random_weights: bool,
    batches: &[usize],
    seconds: f64,
    with_import: bool,
) -> Result<()> {
    let device = Device::Cpu;
    let models = Models::new(models_dir, vec![]);
    let clip_manifest = models
        .default_for(ModelKind::Clip)
        .context("no default CLIP model")?
        .clone();
    let clip_dir = models.folder(&clip_manifest);
    let weights_present = clip_dir.join("model.safetensors").is_file();
    let random = random_weights || !weights_present;
    let clip = if random {
        let config = clip::read_config(&clip_dir).with_context(|| {
            format!(
                "the CLIP architecture is read from {}",
                clip_dir.join("config.json").display()
            )
        })?;
        let varmap = VarMap::new();
        ClipEncoder::build(
            &clip_dir,
            &config,
            VarBuilder::from_varmap(&varmap, DType::F32, &device),
            &device,
        )?
    } else {
        ClipEncoder::load(&clip_dir, &device)?
    };
    let s = clip.image_size();
    let mut out = serde_json::json!({
        "bench": "embed",
        "device": "cpu",
        "threads": rayon::current_num_threads(),
        "clip": { "model": clip_manifest.id, "random_weights": random },
    });

    let mut images = serde_json::Map::new();
    let mut texts = serde_json::Map::new();
    for &b in batches {
        let pixels = Tensor::randn(0f32, 1.0, (b, 3, s, s), &device)?;
        let secs = time_median(seconds, || {
            clip.image_features(&pixels)?;
            Ok(())
        })?;
        images.insert(format!("batch_{b}"), per_second(b, secs).into());
        // 16 tokens each: start, 14 words, end.
        let ids: Vec<Vec<u32>> = (0..b)
            .map(|i| {
                let mut r = vec![49406];
                r.extend((0..14).map(|j| 400 + ((i * 31 + j * 7) % 20000) as u32));
                r.push(49407);
                r
            })
            .collect();
        let secs = time_median(seconds, || {
            clip.text_features(&ids, None)?;
            Ok(())
        })?;
        texts.insert(format!("batch_{b}"), per_second(b, secs).into());
    }
    out["clip"]["images_per_second"] = images.into();
    out["clip"]["texts_per_second_16_tokens"] = texts.into();

    let text_manifest = models
        .default_for(ModelKind::Text)
        .context("no default text model")?
        .clone();
    let text_enc = if models.is_present(&text_manifest) {
        Some(TextEncoder::load(&models.folder(&text_manifest), &device)?)
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

    if with_import {
        let dir = std::env::temp_dir().join(format!("vitrine-bench-embed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut catalog = Catalog::open(&dir)?;
        let opts = ImportOptions {
            sources: luma_sources()?,
            ..ImportOptions::default()
        };
        let start = Instant::now();
        let import = catalog.import(&opts, &|_| {}, &AtomicBool::new(false))?;
        let mut encoders = Encoders::none();
        encoders.clip = Some((clip_manifest.clone(), clip));
        let report = catalog.embed(
            &encoders,
            &EmbedOptions { batch_size: 32 },
            &|_| {},
            &AtomicBool::new(false),
        )?;
        let total = start.elapsed().as_secs_f64();
        out["import_with_embedding"] = serde_json::json!({
            "photos": import.photos_processed,
            "import_seconds": import.seconds,
            "embed_seconds": report.photo_seconds,
            "embed_images_per_second": per_second(report.photos_embedded, report.photo_seconds),
            "end_to_end_images_per_second": per_second(import.photos_processed, total),
        });
        drop(catalog);
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
