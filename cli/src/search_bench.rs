//! `vitrine bench search`: the nearest-neighbour index on synthetic clustered vectors (build
//! time, peak memory, latency, recall against an exact scan), and end-to-end text-query
//! latency on the demo catalog. Each size runs in a child process so that its peak memory is
//! its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use vitrine::Workspace;
use vitrine::encoders::{DeviceChoice, Precision};
use vitrine::index::{EF_CONSTRUCTION, EF_SEARCH, Hnsw, Neighbours, VectorSet, dot};
use vitrine::query::{Query, Weights};
use vitrine::workspace::Settings;

use crate::bench::{luma_sources, median};

pub const DIM: usize = 512;

/// Typed queries for the latency benchmarks when no query file is given.
pub const TYPED_QUERIES: [&str; 10] = [
    "backpack",
    "black hoodie",
    "red jacket under 60",
    "yoga mat",
    "running shorts for women",
    "water bottle",
    "warm winter jacket",
    "watch",
    "tank top without logo",
    "blue tee",
];

/// A small deterministic generator (xorshift) with Box-Muller normals.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.next().max(1e-12), self.next());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

pub fn normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// `n` vectors around `n / 100` (at most 1,000) random centres, plus `q` queries from the same
/// distribution. Noise is set so that neighbours are close but clusters overlap, like CLIP
/// embeddings of a catalog.
pub fn clustered(n: usize, q: usize, seed: u64) -> (VectorSet, Vec<Vec<f32>>) {
    let mut rng = Rng(seed | 1);
    let clusters = (n / 100).clamp(10, 1000);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| {
            let mut c: Vec<f32> = (0..DIM).map(|_| rng.normal()).collect();
            normalise(&mut c);
            c
        })
        .collect();
    let sample = |rng: &mut Rng| {
        let c = &centres[(rng.next() * clusters as f64) as usize % clusters];
        let mut v: Vec<f32> = c.iter().map(|x| x + rng.normal() * 0.045).collect();
        normalise(&mut v);
        v
    };
    let mut set = VectorSet::new(DIM);
    for i in 0..n {
        let v = sample(&mut rng);
        set.push(i as i64, &v).expect("dimensions agree");
    }
    let queries = (0..q).map(|_| sample(&mut rng)).collect();
    (set, queries)
}

pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn write_f32(path: &Path, rows: impl Iterator<Item = Vec<f32>>) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in rows {
        for x in r {
            f.write_all(&x.to_le_bytes())?;
        }
    }
    Ok(())
}

/// Recall@10 against `truth`, and each query's latency in milliseconds.
fn measure(hnsw: &Hnsw, qs: &[Vec<f32>], truth: &[Vec<i64>]) -> (f64, Vec<f64>) {
    let mut ms = Vec::new();
    let mut hits = 0usize;
    for (q, truth) in qs.iter().zip(truth) {
        let t = Instant::now();
        let got = hnsw.search(q, 10);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        hits += got.iter().filter(|(id, _)| truth.contains(id)).count();
    }
    (hits as f64 / (10 * qs.len()) as f64, ms)
}

/// One size, in this process: prints one JSON object.
pub fn run_size(n: usize, queries: usize, dump: Option<&Path>) -> Result<()> {
    let (set, qs) = clustered(n, queries, 42 + n as u64);
    if let Some(dir) = dump {
        std::fs::create_dir_all(dir)?;
        write_f32(
            &dir.join(format!("base-{n}.f32")),
            (0..set.len()).map(|i| set.row(i).to_vec()),
        )?;
        write_f32(&dir.join(format!("queries-{n}.f32")), qs.iter().cloned())?;
    }
    let data_mib = peak_rss_mib();
    let truth: Vec<Vec<i64>> = qs
        .iter()
        .map(|q| set.top_k(q, 10).into_iter().map(|(id, _)| id).collect())
        .collect();
    let mut exact_ms = Vec::new();
    for q in &qs {
        let t = Instant::now();
        std::hint::black_box(set.top_k(q, 10));
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let t = Instant::now();
    let mut hnsw = Hnsw::build(&set, EF_CONSTRUCTION, EF_SEARCH);
    let build_s = t.elapsed().as_secs_f64();
    let (recall, index_ms) = measure(&hnsw, &qs, &truth);
    let peak = peak_rss_mib();
    // The same graph searched with other breadths (100 as in `benches/vs-faiss`'s sweep).
    let mut sweep = Vec::new();
    for ef in [16, 32, 64, 100, 128, 256, 512] {
        hnsw.set_ef_search(ef);
        let (recall, ms) = measure(&hnsw, &qs, &truth);
        sweep.push(serde_json::json!({
            "ef_search": ef,
            "recall_at_10": recall,
            "query_ms_p50": percentile(ms.clone(), 0.5),
            "queries_per_second": 1e3 / median(ms),
        }));
    }
    hnsw.set_ef_search(EF_SEARCH);
    let crossmodal = crossmodal(&set, hnsw, queries, n as u64);
    let out = serde_json::json!({
        "vectors": n,
        "dim": DIM,
        "queries": qs.len(),
        "ef_construction": EF_CONSTRUCTION,
        "ef_search": EF_SEARCH,
        "index_build_seconds": build_s,
        "peak_memory_mib": peak,
        "vectors_memory_mib": data_mib,
        "index_query_ms": { "p50": percentile(index_ms.clone(), 0.5), "p99": percentile(index_ms.clone(), 0.99) },
        "index_queries_per_second": 1e3 / median(index_ms),
        "exact_query_ms": { "p50": percentile(exact_ms.clone(), 0.5), "p99": percentile(exact_ms, 0.99) },
        "recall_at_10": recall,
        "ef_search_sweep": sweep,
        "crossmodal": crossmodal,
    });
    println!("{out}");
    Ok(())
}

/// Queries of another modality (text against photos): each a vector of the set's distribution
/// moved by one fixed offset, so that its best cosine is about 0.3, as CLIP's text-to-image
/// cosines are (the modality gap). The graph finds few of their neighbours; the searcher scans
/// exactly for them (`Neighbours::nearest_scanned`: 8-bit rows, then those that could be among
/// the nearest again in `f32`), whose latency and recall this reports beside a plain `f32`
/// scan's, and how long the hub offsets of the vectors take ([`vitrine::hubness`]).
fn crossmodal(set: &VectorSet, hnsw: Hnsw, queries: usize, seed: u64) -> serde_json::Value {
    let mut rng = Rng(seed.wrapping_mul(7919) | 1);
    let mut gap: Vec<f32> = (0..DIM).map(|_| rng.normal()).collect();
    normalise(&mut gap);
    // Each text is written for one row (its product), kept in `bases`.
    let mut bases = Vec::new();
    let mut text_like = |n: usize| -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| {
                let row = (rng.next() * set.len() as f64) as usize % set.len();
                bases.push(row);
                let base = set.row(row);
                let mut v: Vec<f32> = base
                    .iter()
                    .zip(&gap)
                    .map(|(b, g)| 0.3 * b + g + 0.02 * rng.normal())
                    .collect();
                normalise(&mut v);
                v
            })
            .collect()
    };
    let qs = text_like(queries);
    // What the searcher adds when it opens: every photo's hub offset against a bank of texts.
    let bank = text_like(vitrine::hubness::BANK);
    // The first opening measures every photo's lean and saves them; the next reads them.
    let path = std::env::temp_dir().join(format!("vitrine-bench-leans-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let opening = || {
        let t = Instant::now();
        vitrine::hubness::offsets(set.len(), |r| set.row(r), |_| None, &bank, Some(&path));
        t.elapsed().as_secs_f64()
    };
    let hub_offsets_seconds = opening();
    let hub_offsets_reopen_seconds = opening();
    let _ = std::fs::remove_file(&path);
    // And how well the bank's texts find their own rows among the rest.
    let owners: Vec<Vec<usize>> = bases[queries..].iter().map(|&r| vec![r]).collect();
    let t = Instant::now();
    let title_agreement =
        vitrine::hubness::agreement(&bank, &owners, set.len(), |r, q| Some(dot(set.row(r), q)));
    let title_agreement_seconds = t.elapsed().as_secs_f64();
    let (mut f32_ms, mut best) = (Vec::new(), Vec::new());
    let truth: Vec<Vec<i64>> = qs
        .iter()
        .map(|q| {
            let t = Instant::now();
            let found = set.top_k(q, 10);
            f32_ms.push(t.elapsed().as_secs_f64() * 1e3);
            best.push(f64::from(found[0].1));
            found.into_iter().map(|(id, _)| id).collect()
        })
        .collect();
    let best_cosine = median(best);
    let (graph_recall, graph_ms) = measure(&hnsw, &qs, &truth);
    let nn = Neighbours::new(set.clone(), Some(hnsw)).for_scans();
    let mut scan_ms = Vec::new();
    let mut hits = 0;
    for (q, truth) in qs.iter().zip(&truth) {
        let t = Instant::now();
        let got = nn.nearest_scanned(q, 10);
        scan_ms.push(t.elapsed().as_secs_f64() * 1e3);
        hits += got.iter().filter(|(id, _)| truth.contains(id)).count();
    }
    serde_json::json!({
        "queries": qs.len(),
        "best_cosine_p50": best_cosine,
        "graph_recall_at_10": graph_recall,
        "graph_query_ms_p50": percentile(graph_ms, 0.5),
        "searcher": "exact scan: 8-bit rows, those that could be among the nearest re-scored in f32",
        "scan_recall_at_10": hits as f64 / (10 * qs.len()) as f64,
        "scan_query_ms": { "p50": percentile(scan_ms.clone(), 0.5), "p99": percentile(scan_ms, 0.99) },
        "f32_scan_query_ms": { "p50": percentile(f32_ms.clone(), 0.5), "p99": percentile(f32_ms, 0.99) },
        "hub_offsets_seconds": hub_offsets_seconds,
        "hub_offsets_reopen_seconds": hub_offsets_reopen_seconds,
        "title_agreement": title_agreement,
        "title_agreement_seconds": title_agreement_seconds,
    })
}

/// Text-query latency on the demo catalog with the product-text model (and CLIP if present).
fn luma_latency(models_dir: &Path) -> Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("vitrine-bench-search-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = Settings {
        models_dir: models_dir.to_path_buf(),
        device: DeviceChoice::Cpu,
        precision: Precision::F32,
    };
    let mut ws = Workspace::open(&dir, settings)?;
    ws.import_and_index(
        &vitrine::ImportOptions {
            sources: luma_sources()?,
            ..Default::default()
        },
        true,
        &|_| {},
        &AtomicBool::new(false),
    )?;
    let t = Instant::now();
    let searcher = ws.searcher()?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let queries = TYPED_QUERIES;
    let mut first = Vec::new();
    let mut rerank = Vec::new();
    for q in queries {
        let query = Query {
            text: q.into(),
            ..Query::default()
        };
        let t = Instant::now();
        let prep = searcher.prepare(&query)?;
        searcher.rank(&prep, &Weights::default(), 20, 0);
        first.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        searcher.rank(
            &prep,
            &Weights {
                keyword: 0.0,
                ..Weights::default()
            },
            20,
            0,
        );
        rerank.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(ws);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(serde_json::json!({
        "catalog": "luma (196 products, 733 photos)",
        "signals": searcher.describe(),
        "open_ms": open_ms,
        "text_query_ms_p50": median(first.clone()),
        "text_query_ms_max": first.iter().cloned().fold(0.0, f64::max),
        "rerank_with_new_weights_ms_p50": median(rerank),
    }))
}

pub fn run(
    sizes: &[usize],
    queries: usize,
    dump: Option<PathBuf>,
    models_dir: &Path,
    with_luma: bool,
) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the vitrine executable")?;
    let mut results = Vec::new();
    for &n in sizes {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "bench",
            "search-size",
            "--vectors",
            &n.to_string(),
            "--queries",
            &queries.to_string(),
        ]);
        if let Some(d) = &dump {
            cmd.arg("--dump").arg(d);
        }
        let out = cmd.output()?;
        if !out.status.success() {
            bail!("size {n}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        eprintln!("{v}");
        results.push(v);
    }
    let mut out = serde_json::json!({ "bench": "search", "index": results, "threads": rayon::current_num_threads() });
    if with_luma {
        out["luma_text_queries"] = luma_latency(models_dir)?;
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
