//! `vitrine bench …`: benchmarks that print JSON. Figures are medians of several runs.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Result, bail};
use clap::Subcommand;
use vitrine::{Catalog, ImportOptions};

use crate::{dupes_bench, embed_bench, search_bench};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Import throughput (decode, orientation, hash, thumbnail) into a fresh catalog each run.
    Import {
        /// Folders and CSVs to import. Default: the Luma demo catalog in ../shared.
        #[arg(long = "source", value_name = "PATH")]
        sources: Vec<PathBuf>,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Encoder throughput: CLIP images/s and texts/s and product-text texts/s at batch 1, 8 and
    /// 32, and end-to-end import images/s with embedding.
    Embed {
        /// Use random weights in the CLIP architecture of the models folder's
        /// clip-vit-base-patch32/config.json (automatic when its weights are absent).
        #[arg(long)]
        random_weights: bool,
        /// Batch sizes to measure.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 8, 32])]
        batches: Vec<usize>,
        /// Seconds to spend on each measurement (after a warm-up).
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
        /// Skip the end-to-end import of the demo catalog.
        #[arg(long)]
        no_import: bool,
        /// Also import this many phone-sized photos with embedding (Luma photos enlarged to
        /// 3024 × 4032, JPEG quality 90): `import_with_embedding_phone`.
        #[arg(long, default_value_t = 0)]
        phone_photos: usize,
        /// Other visual architectures to measure at real size with random weights, f32 and
        /// int8: siglip2-b16 (SigLIP 2 B/16), marqo-b (Marqo E-commerce B), marqo-l (Marqo
        /// E-commerce L, 384 px), or none.
        #[arg(long, value_delimiter = ',', default_values_t = ["siglip2-b16".to_string(), "marqo-b".to_string()])]
        architectures: Vec<String>,
    },
    /// Nearest-neighbour index on synthetic clustered 512-d vectors, and text-query latency on
    /// the demo catalog.
    Search {
        /// Numbers of vectors.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000, 1_000_000])]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Also write the vectors (little-endian f32) to this folder, for other engines.
        #[arg(long, value_name = "DIR")]
        dump: Option<PathBuf>,
        /// Skip the demo-catalog query latency.
        #[arg(long)]
        no_luma: bool,
    },
    /// The index on real sentence vectors: product texts made from the demo catalog's, embedded
    /// with the product-text model, and typed queries from query files (JSON lines with a
    /// "text"): the graph's recall@10 against an exact scan.
    TextIndex {
        /// How many product texts.
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        /// Query files (e.g. those `scripts/luma-queries.py` writes to target/eval/).
        #[arg(long, value_delimiter = ',', required = true)]
        queries: Vec<PathBuf>,
    },
    /// Typed-text search latency, end to end, in a catalog of many products: the demo
    /// catalog's products copied, with their real product-text and passage vectors moved by
    /// noise (no photos).
    Catalog {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        /// Query files (JSON lines with a "text"); a built-in ten when none is given.
        #[arg(long, value_delimiter = ',')]
        queries: Vec<PathBuf>,
        /// Keep the catalog in this (new) folder instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Duplicate scan time over synthetic products (vectors and hashes) once embeddings exist.
    Dupes {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
    },
    /// Write the duplicate benchmark fixture (edited copies of Luma photos as new products).
    #[command(hide = true)]
    DupesFixture {
        #[arg(long)]
        out: PathBuf,
        /// Take every Nth product.
        #[arg(long, default_value_t = 5)]
        every: usize,
    },
    /// One size of `bench search`, in its own process.
    #[command(hide = true)]
    SearchSize {
        #[arg(long)]
        vectors: usize,
        #[arg(long)]
        queries: usize,
        #[arg(long)]
        dump: Option<PathBuf>,
    },
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn luma_sources() -> Result<Vec<PathBuf>> {
    let root = PathBuf::from("../shared/catalogs/luma");
    if !root.is_dir() {
        bail!(
            "no --source given and the demo catalog is not at {}",
            root.display()
        );
    }
    Ok(vec![root.join("products.csv"), root.join("images")])
}

pub fn run(cmd: BenchCommand, models_dir: PathBuf) -> Result<()> {
    match cmd {
        BenchCommand::Embed {
            random_weights,
            batches,
            seconds,
            no_import,
            phone_photos,
            architectures,
        } => {
            let import = (!no_import).then_some(phone_photos);
            embed_bench::run(&models_dir, random_weights, &batches, seconds, import)?;
            embed_bench::architectures(&architectures, &batches, seconds)?;
        }
        BenchCommand::Search {
            sizes,
            queries,
            dump,
            no_luma,
        } => search_bench::run(&sizes, queries, dump, &models_dir, !no_luma)?,
        BenchCommand::TextIndex { products, queries } => {
            crate::text_index_bench::run(&models_dir, products, &queries)?
        }
        BenchCommand::Catalog {
            products,
            queries,
            keep,
        } => crate::catalog_bench::run(&models_dir, products, &queries, keep.as_deref())?,
        BenchCommand::Dupes { products } => dupes_bench::bench_scan(products)?,
        BenchCommand::DupesFixture { out, every } => dupes_bench::make_fixture(
            &PathBuf::from("../shared/catalogs/luma"),
            &out,
            every.max(1),
        )?,
        BenchCommand::SearchSize {
            vectors,
            queries,
            dump,
        } => search_bench::run_size(vectors, queries, dump.as_deref())?,
        BenchCommand::Import { sources, runs } => {
            let sources = if sources.is_empty() {
                luma_sources()?
            } else {
                sources
            };
            let mut seconds = Vec::new();
            let mut photos = 0;
            for i in 0..runs.max(1) {
                let dir =
                    std::env::temp_dir().join(format!("vitrine-bench-{}-{i}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let mut catalog = Catalog::open(&dir)?;
                let opts = ImportOptions {
                    sources: sources.clone(),
                    ..ImportOptions::default()
                };
                let report =
                    vitrine::import::run(&mut catalog, &opts, &|_| {}, &AtomicBool::new(false))?;
                photos = report.photos_processed + report.photos_reused;
                seconds.push(report.seconds);
                drop(catalog);
                let _ = std::fs::remove_dir_all(&dir);
            }
            let med = median(seconds.clone());
            let out = serde_json::json!({
                "bench": "import",
                "sources": sources,
                "photos": photos,
                "threads": rayon::current_num_threads(),
                "runs_seconds": seconds,
                "median_seconds": med,
                "median_images_per_second": photos as f64 / med,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}
