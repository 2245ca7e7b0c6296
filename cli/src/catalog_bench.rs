//! `vitrine bench catalog`: typed-text search, end to end, in a catalog of many products, as
//! the app runs it (query encoding, candidates from exact scans and keywords, every signal,
//! fusion, the cut). The products are the demo catalog's, copied until there are `n`: each copy
//! keeps its product's title, category, colour and price, with a description of two sentences
//! drawn from other products' descriptions (so that keywords are spread as in a real catalog);
//! its product-text and passage vectors are its product's real ones (embedded once with the
//! product-text model) moved by noise to a cosine of about 0.9, so that no two are alike
//! without embedding `n` texts (hours on two cores). No photos: text against photos is
//! `bench search`'s `crossmodal` block.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use vitrine::ProductData;
use vitrine::Workspace;
use vitrine::encoders::{DeviceChoice, Precision};
use vitrine::query::{Query, Weights};
use vitrine::workspace::Settings;

use crate::bench::median;
use crate::search_bench::{Rng, normalise, peak_rss_mib, percentile};

/// Products written to the catalog per transaction.
const CHUNK: usize = 20_000;
/// Per-dimension noise on a 384-d unit vector: expected cosine to it `1 / √(1 + 384 σ²)` ≈ 0.9.
const NOISE: f32 = 0.025;

/// The demo catalog's products (one per product id; colours of its rows joined).
fn luma_products() -> Result<Vec<ProductData>> {
    let csv = Path::new("../shared/catalogs/luma/products.csv");
    let mut rows = csv::Reader::from_path(csv)
        .with_context(|| format!("the demo catalog's {}", csv.display()))?;
    let headers = rows.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("no {name} column in {}", csv.display()))
    };
    let (id, title, desc, cat, color, price) = (
        col("product_id")?,
        col("title")?,
        col("description")?,
        col("category")?,
        col("color")?,
        col("price")?,
    );
    let mut by_id: BTreeMap<String, ProductData> = BTreeMap::new();
    for r in rows.records() {
        let r = r?;
        let f = |i: usize| r.get(i).unwrap_or_default().trim().to_string();
        let p = by_id.entry(f(id)).or_insert_with(|| ProductData {
            sku: f(id),
            title: f(title),
            description: f(desc),
            category: f(cat),
            price: f(price).parse().ok(),
            ..ProductData::default()
        });
        let c = f(color);
        if !c.is_empty() && !p.color.split(", ").any(|x| x == c) {
            if !p.color.is_empty() {
                p.color.push_str(", ");
            }
            p.color.push_str(&c);
        }
    }
    if by_id.is_empty() {
        bail!("no products in {}", csv.display());
    }
    Ok(by_id.into_values().collect())
}

fn noisy(base: &[f32], rng: &mut Rng) -> Vec<f32> {
    let mut v: Vec<f32> = base.iter().map(|x| x + NOISE * rng.normal()).collect();
    normalise(&mut v);
    v
}

/// Writes `n` products made from the demo catalog's, with their vectors.
fn generate(
    ws: &Workspace,
    text: &vitrine::encoders::TextEncoder,
    model: &str,
    n: usize,
) -> Result<serde_json::Value> {
    let base = luma_products()?;
    let sentences: Vec<String> = base
        .iter()
        .flat_map(|p| p.description.split(". "))
        .filter(|s| s.split_whitespace().count() >= 4)
        .map(|s| format!("{}.", s.trim_end_matches('.')))
        .collect();
    // Each product's real vectors, embedded once.
    let t = Instant::now();
    let mut base_text = Vec::new();
    let mut base_passages = Vec::new();
    for p in &base {
        base_text.push(
            text.embed(&[vitrine::embed::product_text(p).as_str()])?
                .pop()
                .context("the model gave no vector")?,
        );
        let passages = vitrine::embed::passages(p);
        let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
        base_passages.push(if refs.is_empty() {
            Vec::new()
        } else {
            text.embed(&refs)?
        });
    }
    let embed_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let mut passage_vectors = 0usize;
    for start in (0..n).step_by(CHUNK) {
        let rows: Vec<(ProductData, Vec<f32>, Vec<Vec<f32>>)> = (start..(start + CHUNK).min(n))
            .map(|i| {
                let b = i % base.len();
                let pick = |rng: &mut Rng| {
                    sentences[(rng.next() * sentences.len() as f64) as usize % sentences.len()]
                        .clone()
                };
                let data = ProductData {
                    sku: format!("{}-{}", base[b].sku, i / base.len()),
                    description: format!("{} {}", pick(&mut rng), pick(&mut rng)),
                    ..base[b].clone()
                };
                let v = noisy(&base_text[b], &mut rng);
                let ps: Vec<Vec<f32>> = base_passages[b]
                    .iter()
                    .map(|p| noisy(p, &mut rng))
                    .collect();
                (data, v, ps)
            })
            .collect();
        passage_vectors += rows.iter().map(|r| r.2.len()).sum::<usize>();
        ws.catalog().add_embedded_products(
            rows.iter()
                .map(|(d, v, ps)| (d.clone(), v.as_slice(), ps.as_slice())),
            model,
        )?;
        eprintln!("written {} of {n} products", (start + CHUNK).min(n));
    }
    Ok(serde_json::json!({
        "products": n,
        "passage_vectors": passage_vectors,
        "embed_demo_catalog_seconds": embed_s,
        "write_seconds": t.elapsed().as_secs_f64(),
    }))
}

/// The query files' typed queries, or a built-in ten when none is given.
fn query_texts(files: &[PathBuf]) -> Result<Vec<String>> {
    if files.is_empty() {
        return Ok(crate::search_bench::TYPED_QUERIES
            .iter()
            .map(|s| s.to_string())
            .collect());
    }
    crate::text_index_bench::query_texts(files)
}

pub fn run(
    models_dir: &Path,
    n: usize,
    query_files: &[PathBuf],
    keep: Option<&Path>,
) -> Result<()> {
    let dir = match keep {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("vitrine-bench-catalog-{}", std::process::id())),
    };
    let reuse = keep.is_some() && dir.join("catalog.sqlite").is_file();
    if dir.exists() && !reuse {
        bail!(
            "{} exists and holds no catalog; remove it or choose another folder",
            dir.display()
        );
    }
    let settings = Settings {
        models_dir: models_dir.to_path_buf(),
        device: DeviceChoice::Cpu,
        precision: Precision::F32,
    };
    let result = measure(&dir, settings, (!reuse).then_some(n), query_files);
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("{}", serde_json::to_string_pretty(&result?)?);
    Ok(())
}

/// Makes the catalog when `n` is given (else measures the one in `dir`), then searches it.
fn measure(
    dir: &Path,
    settings: Settings,
    n: Option<usize>,
    query_files: &[PathBuf],
) -> Result<serde_json::Value> {
    let ws = Workspace::open(dir, settings)?;
    let enc = ws.encoders()?;
    let (manifest, text) = enc
        .text
        .as_ref()
        .context("no product-text model (all-minilm-l6-v2) in the models folder")?;
    let made = match n {
        Some(n) => {
            let mut made = generate(&ws, text, &manifest.id, n)?;
            let t = Instant::now();
            made["indexes_built"] = serde_json::json!(ws.build_indexes(true)?);
            made["index_build_seconds"] = serde_json::json!(t.elapsed().as_secs_f64());
            made
        }
        None => serde_json::json!({ "reused": dir }),
    };
    let manifest_id = manifest.id.clone();
    let t = Instant::now();
    let searcher = ws.searcher_with(enc)?;
    let open_s = t.elapsed().as_secs_f64();
    let queries = query_texts(query_files)?;
    let weights = Weights::default();
    let (mut first, mut again, mut candidates) = (Vec::new(), Vec::new(), Vec::new());
    let mut exact = true;
    for q in &queries {
        let query = Query {
            text: q.clone(),
            ..Query::default()
        };
        // First with the query's encoding, then again with it cached (as the app's next page
        // or slider move would be).
        let t = Instant::now();
        let r = searcher.search(&query, &weights, 20, 0)?;
        first.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        searcher.search(&query, &weights, 20, 0)?;
        again.push(t.elapsed().as_secs_f64() * 1e3);
        candidates.push(r.candidates as f64);
        exact &= r.exact;
    }
    Ok(serde_json::json!({
        "bench": "catalog",
        "catalog": made,
        "model": manifest_id,
        "threads": rayon::current_num_threads(),
        "signals": searcher.describe(),
        "exact": exact,
        "searcher_open_seconds": open_s,
        "queries": queries.len(),
        "candidates_p50": median(candidates),
        "query_ms_p50": median(first.clone()),
        "query_ms_p90": percentile(first.clone(), 0.9),
        "query_ms_max": first.iter().copied().fold(0.0, f64::max),
        "query_encoded_already_ms_p50": median(again.clone()),
        "query_encoded_already_ms_p90": percentile(again, 0.9),
        "peak_rss_mib": peak_rss_mib(),
    }))
}
