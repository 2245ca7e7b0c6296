//! The duplicate benchmark: edited copies of Luma photos listed as new products (the fixture
//! the tests and `benches/vs-czkawka` use), and `bench dupes`, a scan over synthetic products.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use image::{DynamicImage, Rgba};

use crate::search_bench::clustered;
use vitrine::index::VectorSet;

pub const EDITS: [&str; 6] = [
    "downscale-50",
    "jpeg-q30",
    "crop-10",
    "watermark",
    "brighter-5",
    "flip",
];

/// Edits that a perceptual hash can see through.
pub const HASH_VISIBLE: [&str; 4] = ["downscale-50", "jpeg-q30", "watermark", "brighter-5"];

fn edit(img: &DynamicImage, kind: &str) -> DynamicImage {
    match kind {
        "downscale-50" => img.resize(
            img.width() / 2,
            img.height() / 2,
            image::imageops::FilterType::Triangle,
        ),
        "crop-10" => img.crop_imm(0, 0, img.width() * 9 / 10, img.height()),
        "flip" => img.fliph(),
        "brighter-5" => {
            let mut rgb = img.to_rgb8();
            rgb.pixels_mut().for_each(|p| {
                p.0.iter_mut()
                    .for_each(|c| *c = ((*c as f32) * 1.05).min(255.0) as u8)
            });
            DynamicImage::ImageRgb8(rgb)
        }
        "watermark" => {
            // Translucent letter-like strokes on a lighter band, across the lower third, as a
            // shop's name stamped on a photo (half the width, a twelfth of the height).
            let mut rgba = img.to_rgba8();
            let (w, h) = rgba.dimensions();
            let (y0, y1) = (h * 70 / 100, h * 70 / 100 + h / 12);
            for y in y0..y1 {
                for x in w / 4..w * 3 / 4 {
                    let stroke = (x / 6) % 3 == 0 && (y - y0) > 3 && (y1 - y) > 3;
                    let (c, a) = if stroke {
                        (40u8, 0.6f32)
                    } else {
                        (255u8, 0.3f32)
                    };
                    let p = rgba.get_pixel_mut(x, y);
                    for i in 0..3 {
                        p.0[i] = (p.0[i] as f32 * (1.0 - a) + c as f32 * a) as u8;
                    }
                    *p = Rgba([p.0[0], p.0[1], p.0[2], 255]);
                }
            }
            DynamicImage::ImageRgba8(rgba)
        }
        _ => img.clone(),
    }
}

fn reword(title: &str, i: usize) -> String {
    let words: Vec<&str> = title.split_whitespace().collect();
    if i.is_multiple_of(2) && words.len() > 1 {
        format!(
            "{} {}",
            words[words.len() - 1],
            words[..words.len() - 1].join(" ")
        )
    } else {
        format!("{title} - new")
    }
}

/// Writes `out/images/*.jpg`, `out/duplicates.csv` and `out/truth.json`.
pub fn make_fixture(luma: &Path, out: &Path, every: usize) -> Result<()> {
    let images = out.join("images");
    std::fs::create_dir_all(&images)?;
    let mut rdr =
        csv::Reader::from_path(luma.join("products.csv")).context("reading the Luma CSV")?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .context(format!("no column {name}"))
    };
    let (pid, img, view, title, desc, cat, color, price) = (
        col("product_id")?,
        col("image_file")?,
        col("view")?,
        col("title")?,
        col("description")?,
        col("category")?,
        col("color")?,
        col("price")?,
    );
    let mut seen = std::collections::HashSet::new();
    let mut by_file: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut mains = Vec::new();
    for r in rdr.records() {
        let r = r?;
        by_file
            .entry(r[img].to_string())
            .or_default()
            .push(r[pid].to_string());
        if &r[view] == "main" && seen.insert(r[pid].to_string()) {
            mains.push(r);
        }
    }
    let mut w = csv::Writer::from_path(out.join("duplicates.csv"))?;
    w.write_record([
        "sku",
        "title",
        "description",
        "category",
        "color",
        "price",
        "image",
    ])?;
    let mut pairs = Vec::new();
    for (i, r) in mains
        .iter()
        .enumerate()
        .filter(|(i, _)| i.is_multiple_of(every))
    {
        let kind = EDITS[(i / every) % EDITS.len()];
        let src = image::open(luma.join("images").join(&r[img]))?;
        let name = format!("dup-{}-{kind}.jpg", &r[pid]);
        let edited = edit(&src, kind).to_rgb8();
        let quality = if kind == "jpeg-q30" { 30 } else { 88 };
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
            .encode_image(&edited)?;
        std::fs::write(images.join(&name), buf)?;
        let sku = format!("DUP-{}", &r[pid]);
        w.write_record([
            sku.as_str(),
            &reword(&r[title], i),
            &r[desc],
            &r[cat],
            &r[color],
            &r[price],
            &format!("images/{name}"),
        ])?;
        pairs.push(serde_json::json!([&r[pid], sku, kind]));
    }
    w.flush()?;
    let mut variants = Vec::new();
    for owners in by_file.values() {
        let mut o = owners.clone();
        o.sort();
        o.dedup();
        for a in 0..o.len() {
            for b in a + 1..o.len() {
                variants.push(serde_json::json!([o[a], o[b]]));
            }
        }
    }
    std::fs::write(
        out.join("truth.json"),
        serde_json::to_vec_pretty(
            &serde_json::json!({"pairs": pairs, "variant_pairs": variants, "hash_visible": HASH_VISIBLE}),
        )?,
    )?;
    Ok(())
}

/// Scan time over `n` synthetic products (one photo each, CLIP-like vectors and hashes).
pub fn bench_scan(n: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("vitrine-bench-dupes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let catalog = vitrine::Catalog::open(&dir)?;
    let (vectors, _) = clustered(n, 0, 7);
    let t = Instant::now();
    synthetic_catalog(&catalog, &vectors, "synthetic-clip")?;
    let fill = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let built = vitrine::vectors::index_for(&catalog, "synthetic-clip", vitrine::OwnerKind::Image)?;
    let index = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = vitrine::duplicates::find(
        &catalog,
        Some("synthetic-clip"),
        None,
        &vitrine::duplicates::Thresholds::default(),
    )?;
    let scan = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "bench": "dupes",
            "products": n,
            "fill_store_seconds": fill,
            "index_build_seconds": index,
            "index_built": built,
            "scan_seconds": scan,
            "candidate_pairs": report.candidate_pairs,
            "groups": report.groups.len(),
            "threads": rayon::current_num_threads(),
        }))?
    );
    drop(catalog);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Fills an empty catalog with one synthetic product per vector (a photo with that CLIP vector
/// under `model` and a perceptual hash made from it).
fn synthetic_catalog(catalog: &vitrine::Catalog, vectors: &VectorSet, model: &str) -> Result<()> {
    let rows = (0..vectors.len()).map(|i| {
        let v = vectors.row(i);
        // A hash from the vector's signs, so near vectors get near hashes.
        let ph = (0..64).fold(0u64, |h, b| {
            if v[b * v.len() / 64] > 0.0 {
                h | (1 << b)
            } else {
                h
            }
        });
        (format!("S{i}"), vitrine::PHash(ph), v)
    });
    Ok(catalog.add_embedded_photos(rows, model)?)
}
