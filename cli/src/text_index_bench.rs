//! `vitrine bench text-index`: the index on real sentence vectors (text against product text).
//! `n` product texts are made from the demo catalog's (each product's title, category and
//! colour with two sentences drawn from other products' descriptions, so that no two are alike),
//! embedded with the product-text model; typed queries from query files are searched through
//! the graph and exactly. Reports the graph's recall@10, and how many of the true ten are among
//! all the candidates the graph gives (at most `EF_SEARCH`). The searcher scans exactly for
//! typed text, because of what this measures.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use vitrine::encoders::{DeviceChoice, TextEncoder};
use vitrine::index::{EF_CONSTRUCTION, EF_SEARCH, Hnsw, VectorSet};
use vitrine::models::{ModelKind, Models};

use crate::bench::median;

/// Candidates asked of the graph (it gives at most `EF_SEARCH`).
const CANDIDATES: usize = 1000;

/// A deterministic generator (xorshift).
fn next(x: &mut u64) -> usize {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    (*x >> 11) as usize
}

fn product_texts(n: usize) -> Result<Vec<String>> {
    let csv = Path::new("../shared/catalogs/luma/products.csv");
    let mut rows = csv::Reader::from_path(csv)
        .with_context(|| format!("the demo catalog's {}", csv.display()))?;
    let mut products: Vec<[String; 4]> = Vec::new();
    let mut sentences: Vec<String> = Vec::new();
    for r in rows.records() {
        let r = r?;
        let field = |i: usize| r.get(i).unwrap_or_default().to_string();
        if products.last().is_some_and(|p| p[0] == field(4)) {
            continue;
        }
        for s in field(5)
            .split(". ")
            .filter(|s| s.split_whitespace().count() >= 4)
        {
            sentences.push(s.trim_end_matches('.').to_string());
        }
        products.push([field(4), field(6).replace('/', " "), field(7), field(5)]);
    }
    if products.is_empty() || sentences.is_empty() {
        bail!("no products in {}", csv.display());
    }
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    Ok((0..n)
        .map(|i| {
            let [title, category, color, _] = &products[i % products.len()];
            let picked: Vec<&str> = (0..2)
                .map(|_| sentences[next(&mut x) % sentences.len()].as_str())
                .collect();
            format!("{title}. {category}. {color}. {}.", picked.join(". "))
        })
        .collect())
}

pub fn query_texts(files: &[std::path::PathBuf]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(f)
            .with_context(|| format!("query file {}", f.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)?;
            if let Some(t) = v["text"].as_str() {
                out.push(t.to_string());
            }
        }
    }
    if out.is_empty() {
        bail!("no queries with a \"text\" in the query files");
    }
    Ok(out)
}

pub fn run(models_dir: &Path, n: usize, query_files: &[std::path::PathBuf]) -> Result<()> {
    let models = Models::new(models_dir, vec![]);
    let m = models
        .default_for(ModelKind::Text)
        .context("no product-text model")?;
    let enc = TextEncoder::load(&models.folder(m), DeviceChoice::Cpu)?;
    let texts = product_texts(n)?;
    let queries = query_texts(query_files)?;
    let t = Instant::now();
    let mut set = VectorSet::new(0);
    for (c, chunk) in texts.chunks(64).enumerate() {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (i, v) in enc.embed(&refs)?.iter().enumerate() {
            set.push((c * 64 + i) as i64, v)?;
        }
        if c % 100 == 0 {
            eprintln!("embedded {} of {n}", (c + 1) * 64);
        }
    }
    let embed_s = t.elapsed().as_secs_f64();
    let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let qs = enc.embed(&refs)?;
    let t = Instant::now();
    let hnsw = Hnsw::build(&set, EF_CONSTRUCTION, EF_SEARCH);
    let build_s = t.elapsed().as_secs_f64();
    let (mut graph_hits, mut cand_hits) = (0usize, 0usize);
    let (mut exact_ms, mut graph_ms, mut best) = (Vec::new(), Vec::new(), Vec::new());
    for q in &qs {
        let t = Instant::now();
        let truth: Vec<i64> = set.top_k(q, 10).into_iter().map(|(id, _)| id).collect();
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
        best.push(f64::from(set.top_k(q, 1)[0].1));
        let t = Instant::now();
        let got = hnsw.search(q, 10);
        graph_ms.push(t.elapsed().as_secs_f64() * 1e3);
        graph_hits += got.iter().filter(|(id, _)| truth.contains(id)).count();
        let wide = hnsw.search(q, CANDIDATES);
        cand_hits += truth
            .iter()
            .filter(|id| wide.iter().any(|(g, _)| g == *id))
            .count();
    }
    let total = (10 * qs.len()) as f64;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "bench": "text-index",
            "model": m.id,
            "vectors": set.len(),
            "dim": qs.first().map(Vec::len).unwrap_or(0),
            "queries": qs.len(),
            "best_cosine_p50": median(best),
            "embed_seconds": embed_s,
            "index_build_seconds": build_s,
            "graph_recall_at_10": graph_hits as f64 / total,
            "graph_candidates_recall_at_10": cand_hits as f64 / total,
            "ef_search": EF_SEARCH,
            "searcher": "exact scan for typed text: the true neighbours",
            "graph_query_ms_p50": median(graph_ms),
            "exact_query_ms_p50": median(exact_ms),
        }))?
    );
    Ok(())
}
