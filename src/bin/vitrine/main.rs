//! The `vitrine` command line: every capability of the app, for scripting and power users.

mod bench;
mod output;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use vitrine::{Catalog, Field, ImportEvent, ImportOptions, ProductFilter};

#[derive(Parser)]
#[command(
    name = "vitrine",
    version,
    about = "Visual product search for your catalog, offline."
)]
struct Cli {
    /// Catalog folder (holds catalog.sqlite and thumbnails). Default: your data folder.
    #[arg(long, global = true, env = "VITRINE_CATALOG", value_name = "DIR")]
    catalog: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import folders of photos and/or product CSVs. Running it again picks up only what changed.
    Import {
        /// Folders (scanned recursively for jpg, png, webp, gif, bmp, tiff) and CSV files.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Map a product field to a CSV column, e.g. --map title="Product Name".
        /// Fields: sku, title, description, category, color, price, images, view.
        #[arg(long = "map", value_name = "FIELD=COLUMN", value_parser = parse_mapping)]
        mapping: Vec<(Field, String)>,
        /// Remove products and photos that disappeared from these sources.
        #[arg(long)]
        prune: bool,
        /// Skip photos larger than this many megapixels (checked before decoding).
        #[arg(long, default_value_t = 100.0, value_name = "MP")]
        max_megapixels: f64,
        /// Print progress and the summary as JSON lines on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Counts of products, photos, categories and embeddings.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// What an import skipped, and why (the latest import unless --run is given).
    Errors {
        /// Import run id (see `vitrine runs`).
        #[arg(long)]
        run: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Past imports with their counts.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// List products or show one.
    #[command(subcommand)]
    Products(ProductsCommand),
    /// Export the catalog as CSV or JSON.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Output file; standard output if absent.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check the catalog database for corruption.
    Check,
    /// Benchmarks that print JSON.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Subcommand)]
enum ProductsCommand {
    /// List products, optionally within a category.
    List {
        /// Category prefix, e.g. "Women/Tops".
        #[arg(long)]
        category: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show one product with its photos.
    Show {
        sku: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
}

fn parse_mapping(s: &str) -> Result<(Field, String), String> {
    let (field, column) = s
        .split_once('=')
        .ok_or_else(|| format!("expected FIELD=COLUMN, got {s:?}"))?;
    let column = column.trim().trim_matches('"').to_string();
    if column.is_empty() {
        return Err(format!("no column name in {s:?}"));
    }
    Ok((field.parse()?, column))
}

fn open_catalog(dir: Option<PathBuf>) -> Result<Catalog> {
    let dir = match dir {
        Some(d) => d,
        None => Catalog::default_dir()?,
    };
    Catalog::open(&dir).with_context(|| format!("cannot open the catalog at {}", dir.display()))
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("VITRINE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Import {
            paths,
            mapping,
            prune,
            max_megapixels,
            json,
        } => {
            if max_megapixels.is_nan() || max_megapixels <= 0.0 {
                bail!("--max-megapixels must be above 0");
            }
            let mut catalog = open_catalog(cli.catalog)?;
            let opts = ImportOptions {
                sources: paths,
                mapping,
                prune,
                max_pixels: (max_megapixels * 1e6) as u64,
                ..ImportOptions::default()
            };
            let progress = output::ImportProgress::new(json, std::io::stderr().is_terminal());
            let on_event = |e: &ImportEvent| progress.event(e);
            let report = catalog.import(&opts, &on_event, &AtomicBool::new(false))?;
            progress.finish();
            if json {
                let mut line = serde_json::to_value(&report)?;
                line["event"] = "summary".into();
                println!("{line}");
            } else {
                output::print_import_report(&report);
            }
        }
        Command::Stats { json } => {
            let catalog = open_catalog(cli.catalog)?;
            let stats = catalog.stats()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                output::print_stats(&catalog, &stats);
            }
        }
        Command::Errors { run, json } => {
            let catalog = open_catalog(cli.catalog)?;
            let errors = catalog.import_errors(run)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&errors)?);
            } else if errors.is_empty() {
                println!("No skipped items.");
            } else {
                for e in &errors {
                    println!("{}", output::describe_error(e));
                }
            }
        }
        Command::Runs { limit, json } => {
            let catalog = open_catalog(cli.catalog)?;
            let runs = catalog.import_runs(limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                output::print_runs(&runs);
            }
        }
        Command::Products(ProductsCommand::List {
            category,
            limit,
            offset,
            json,
        }) => {
            let catalog = open_catalog(cli.catalog)?;
            let products = catalog.products(&ProductFilter {
                category,
                limit: Some(limit),
                offset,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&products)?);
            } else {
                output::print_product_table(&products);
            }
        }
        Command::Products(ProductsCommand::Show { sku, json }) => {
            let catalog = open_catalog(cli.catalog)?;
            let product = catalog.product(&sku)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&product)?);
            } else {
                output::print_product(&catalog, &product);
            }
        }
        Command::Export { format, output } => {
            let catalog = open_catalog(cli.catalog)?;
            let mut out: Box<dyn Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            match format {
                ExportFormat::Csv => catalog.export_csv(&mut out)?,
                ExportFormat::Json => catalog.export_json(&mut out)?,
            }
            out.flush()?;
        }
        Command::Check => {
            let catalog = open_catalog(cli.catalog)?;
            let result = catalog.integrity_check()?;
            println!("{result}");
            if result != "ok" {
                bail!("the catalog database is damaged");
            }
        }
        Command::Bench(cmd) => bench::run(cmd)?,
    }
    Ok(())
}
