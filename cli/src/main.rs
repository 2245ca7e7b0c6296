//! The `vitrine` command line: every capability of the app, for scripting and power users.

/// `println!` for people: control characters escaped (see [`output::printable`]).
macro_rules! say {
    ($($t:tt)*) => {
        println!("{}", $crate::output::printable(&format!($($t)*)))
    };
}

/// `eprintln!` for people, likewise.
macro_rules! esay {
    ($($t:tt)*) => {
        eprintln!("{}", $crate::output::printable(&format!($($t)*)))
    };
}

mod bench;
mod catalog_bench;
mod cpu_peak;
mod dupes_bench;
mod embed_bench;
mod output;
mod search_bench;
mod text_index_bench;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use vitrine::encoders::{DeviceChoice, Precision};
use vitrine::models::Models;
use vitrine::query::{Filters, PhotoInput, Query, Weights};
use vitrine::workspace::{Settings, Stage};
use vitrine::{Catalog, Field, ImportOptions, ProductFilter, Workspace};

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

    /// Folder of downloaded models, one sub-folder per model. Default: your data folder.
    #[arg(long, global = true, env = "VITRINE_MODELS", value_name = "DIR")]
    models_dir: Option<PathBuf>,

    /// Where the encoders run: auto, cpu, cuda or metal (cuda and metal need a build with
    /// `--features cuda` or `--features metal`).
    #[arg(long, global = true, env = "VITRINE_DEVICE", default_value = "auto")]
    device: DeviceChoice,

    /// What CLIP's linear layers compute in: f32, or int8 weights (faster on CPU; embeddings
    /// within about 1% of f32).
    #[arg(long, global = true, env = "VITRINE_PRECISION", default_value = "f32")]
    precision: Precision,

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
        /// Also read photos a CSV names outside its folder and the imported folders, and follow
        /// links out of imported folders (off: they are skipped and reported).
        #[arg(long)]
        allow_outside: bool,
        /// Print progress and the summary as JSON lines on stdout.
        #[arg(long)]
        json: bool,
        /// Do not compute embeddings after the import (run `vitrine embed` later).
        #[arg(long)]
        no_embed: bool,
    },
    /// Compute the embeddings and perceptual hashes that are missing (after a model change, say).
    Embed {
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long)]
        json: bool,
    },
    /// Search by text, by photo, or both; with "not" terms, filters and fusion weights.
    Search {
        /// What to look for, e.g. "red leather handbag under 80" (prices and "not X" are read;
        /// a text may start with "-": "-zip backpack").
        #[arg(allow_hyphen_values = true)]
        text: Option<String>,
        /// A photo to search by.
        #[arg(long, value_name = "PATH")]
        image: Option<PathBuf>,
        #[command(flatten)]
        opts: SearchOpts,
    },
    /// Products similar to one ("more like this").
    Similar {
        sku: String,
        #[command(flatten)]
        opts: SearchOpts,
    },
    /// Measure search quality: Recall@1/5/10, MRR@10, nDCG@10 and mAP, fused and per signal.
    Eval {
        /// Query sets (JSON Lines or CSV; see the README).
        #[arg(
            long = "queries",
            value_name = "FILE",
            required_unless_present = "judged"
        )]
        queries: Vec<PathBuf>,
        /// Also the queries whose results were marked right or wrong (`judge`, or the app).
        #[arg(long)]
        judged: bool,
        /// Fusion weights for the fused run, e.g. text=1,keyword=0.5.
        #[arg(long, default_value = "")]
        weights: String,
        /// Also write the tables as Markdown to this file.
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
        /// Append to the Markdown file instead of replacing it.
        #[arg(long)]
        append: bool,
        #[arg(long)]
        json: bool,
    },
    /// Fit the fusion weights to labelled queries (cross-validated) and keep them with the
    /// catalog: searches then start from them. `--reset` returns to the defaults.
    Tune {
        /// Labelled query sets, as for `eval`.
        #[arg(
            long = "queries",
            value_name = "FILE",
            required_unless_present_any = ["reset", "judged"]
        )]
        queries: Vec<PathBuf>,
        /// Also the queries whose results were marked right or wrong (`judge`, or the app).
        #[arg(long, conflicts_with = "reset")]
        judged: bool,
        /// Folds of cross-validation.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Report only; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Forget the tuned weights.
        #[arg(long, conflicts_with = "queries")]
        reset: bool,
        #[arg(long)]
        json: bool,
    },
    /// Mark search results right or wrong for a query (kept with the catalog by SKU), for
    /// `eval --judged` and `tune --judged`.
    Judge {
        /// The query as typed.
        query: String,
        #[arg(required = true)]
        skus: Vec<String>,
        /// The products are right for the query.
        #[arg(long, group = "mark", required = true)]
        right: bool,
        /// The products are wrong for the query.
        #[arg(long, group = "mark")]
        wrong: bool,
        /// Forget the products' marks.
        #[arg(long, group = "mark")]
        clear: bool,
    },
    /// List the marks given with `judge` or in the app.
    Judgements {
        #[arg(long)]
        json: bool,
    },
    /// Duplicate listings: find groups, record decisions, export the merge map.
    Dupes {
        #[command(subcommand)]
        action: Option<DupesAction>,
        /// Evidence thresholds, e.g. phash=6,visual=0.93,text=0.95,max-group=8.
        #[arg(long, global = true, default_value = "")]
        threshold: String,
        #[arg(long)]
        json: bool,
    },
    /// Build the nearest-neighbour indexes of large catalogs now (import and embed do it when needed).
    Index {
        /// Rebuild even when the index is up to date.
        #[arg(long)]
        force: bool,
    },
    /// Models: list, download, verify, choose, or register a local folder.
    #[command(subcommand)]
    Models(ModelsCommand),
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
    /// Show the currency of the catalog's prices, or set it (an ISO code such as EUR). Read from
    /// the CSVs' prices ($, €, £, ¥ or a code) at import unless set.
    Currency {
        #[arg(value_name = "CODE")]
        code: Option<String>,
        /// Forget it (the next import reads it from the prices again).
        #[arg(long, conflicts_with = "code")]
        clear: bool,
    },
    /// Check the catalog database for corruption, and that every photo has its thumbnail.
    Check {
        /// Rebuild damaged indexes (after copying the database beside it) and make missing or
        /// damaged thumbnails again from the photos.
        #[arg(long)]
        repair: bool,
    },
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

#[derive(clap::Args)]
struct SearchOpts {
    /// Push down products matching this term (repeatable).
    #[arg(long = "not", value_name = "TEXT")]
    not: Vec<String>,
    /// A result that is right: move the query toward it (repeatable; Rocchio feedback).
    #[arg(long = "more", value_name = "SKU")]
    more: Vec<String>,
    /// A result that is wrong: move the query away from it (repeatable).
    #[arg(long = "less", value_name = "SKU")]
    less: Vec<String>,
    /// Signal weights, e.g. visual=1,crossmodal=1,text=1,keyword=0,phash=0.5.
    #[arg(long, default_value = "")]
    weights: String,
    /// Category prefix, e.g. "Women/Tops".
    #[arg(long)]
    category: Option<String>,
    #[arg(long)]
    color: Option<String>,
    #[arg(long)]
    min_price: Option<f64>,
    #[arg(long)]
    max_price: Option<f64>,
    /// A CSV attribute that must match, e.g. --attr material=cotton (repeatable).
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    attributes: Vec<String>,
    /// How many results.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Skip this many results (paging).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Order: relevance, or price (low or high first) within the strong matches, then within
    /// the weaker ones.
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    sort: SortArg,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum SortArg {
    Relevance,
    PriceLow,
    PriceHigh,
}

#[derive(Subcommand)]
enum DupesAction {
    /// Record a decision over two or more products.
    Decide {
        #[arg(value_enum)]
        decision: DecisionArg,
        /// The products concerned.
        #[arg(required = true, num_args = 2..)]
        skus: Vec<String>,
        /// With `duplicate`: the product to keep.
        #[arg(long)]
        keep: Option<String>,
    },
    /// Write the merge map (CSV: duplicate SKU → kept SKU, evidence, decision) and/or the groups (JSON).
    Export {
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DecisionArg {
    Duplicate,
    NotDuplicate,
    Variants,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// The known models, whether each is present, and which ones the catalog uses.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Download a model from the Hugging Face hub into the models folder, checking checksums.
    Download { id: String },
    /// Check models' files against their checksums (all present models if no id is given).
    Verify { id: Option<String> },
    /// Make a model the catalog's CLIP or product-text model (then run `vitrine embed`).
    Use { id: String },
    /// Register a model folder in Hugging Face layout that is not in the registry.
    Add {
        #[arg(long, value_name = "DIR")]
        path: PathBuf,
        /// Id to give it (default: the folder's name).
        #[arg(long)]
        id: Option<String>,
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

fn models_dir(dir: &Option<PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.clone()),
        None => Ok(Models::default_dir()?),
    }
}

/// The global options: where the catalog and models are, and how the encoders run.
struct Global {
    catalog: Option<PathBuf>,
    models_dir: Option<PathBuf>,
    device: DeviceChoice,
    precision: Precision,
}

impl Global {
    /// Opens the catalog (`--catalog`, else the default folder) with its models.
    fn workspace(&self) -> Result<Workspace> {
        let dir = match &self.catalog {
            Some(d) => d.clone(),
            None => Catalog::default_dir()?,
        };
        let settings = Settings {
            models_dir: models_dir(&self.models_dir)?,
            device: self.device,
            precision: self.precision,
        };
        Workspace::open(&dir, settings)
            .with_context(|| format!("cannot open the catalog at {}", dir.display()))
    }
}

fn main() {
    // `vitrine … | head` should end quietly, as other command-line tools do.
    #[cfg(unix)]
    // SAFETY: restoring the default signal disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("VITRINE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        esay!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let g = Global {
        catalog: cli.catalog,
        models_dir: cli.models_dir,
        device: cli.device,
        precision: cli.precision,
    };
    match cli.command {
        Command::Import {
            paths,
            mapping,
            prune,
            max_megapixels,
            allow_outside,
            json,
            no_embed,
        } => {
            if max_megapixels.is_nan() || max_megapixels <= 0.0 {
                bail!("--max-megapixels must be above 0");
            }
            let opts = ImportOptions {
                sources: paths,
                mapping,
                prune,
                max_pixels: (max_megapixels * 1e6) as u64,
                allow_outside,
                ..ImportOptions::default()
            };
            import(&g, &opts, !no_embed, json)
        }
        Command::Embed { batch_size, json } => embed(&g, batch_size, json),
        Command::Search { text, image, opts } => {
            let q = Query {
                text: text.unwrap_or_default(),
                photo: image.map(PhotoInput::Path),
                ..Query::default()
            };
            if q.text.trim().is_empty() && q.photo.is_none() {
                bail!("give text to search for, --image PATH, or both");
            }
            search(&g, q, opts)
        }
        Command::Similar { sku, opts } => {
            let q = Query {
                like: Some(sku),
                ..Query::default()
            };
            search(&g, q, opts)
        }
        Command::Eval {
            queries,
            judged,
            weights,
            markdown,
            append,
            json,
        } => eval(&g, (&queries, judged), &weights, markdown, append, json),
        Command::Tune {
            queries,
            judged,
            folds,
            dry_run,
            reset,
            json,
        } => tune(&g, (&queries, judged), folds, dry_run, reset, json),
        Command::Judge {
            query,
            skus,
            right,
            wrong,
            clear: _,
        } => {
            let ws = g.workspace()?;
            let mark = (right || wrong).then_some(right);
            for sku in &skus {
                vitrine::judgements::judge(ws.catalog(), &query, sku, mark)?;
            }
            let what = match mark {
                Some(true) => "right",
                Some(false) => "wrong",
                None => "unmarked",
            };
            say!(
                "{} result(s) {what} for \"{}\"",
                skus.len(),
                output::printable(&vitrine::judgements::normalise(&query))
            );
            Ok(())
        }
        Command::Judgements { json } => {
            let ws = g.workspace()?;
            let all = vitrine::judgements::list(ws.catalog(), None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                output::print_judgements(&all);
            }
            Ok(())
        }
        Command::Dupes {
            action,
            threshold,
            json,
        } => dupes(&g, action, &threshold, json),
        Command::Index { force } => {
            let built = g.workspace()?.build_indexes(force)?;
            if built.is_empty() {
                say!(
                    "No index needed: catalogs under {} vectors are scanned exactly, or the index is up to date.",
                    vitrine::index::EXACT_BELOW
                );
            }
            for b in built {
                say!("Built the index of {b}");
            }
            Ok(())
        }
        Command::Models(cmd) => models_command(&g.workspace()?, cmd),
        Command::Bench(cmd) => bench::run(cmd, models_dir(&g.models_dir)?),
        other => catalog_command(&g, other),
    }
}

/// The commands that read the catalog alone.
fn catalog_command(g: &Global, cmd: Command) -> Result<()> {
    let ws = g.workspace()?;
    let catalog = ws.catalog();
    match cmd {
        Command::Stats { json } => {
            let stats = catalog.stats()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                output::print_stats(catalog, &stats);
            }
        }
        Command::Errors { run, json } => {
            let errors = catalog.import_errors(run)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&errors)?);
            } else if errors.is_empty() {
                say!("No skipped items.");
            } else {
                for e in &errors {
                    say!("{}", output::describe_error(e));
                }
            }
        }
        Command::Runs { limit, json } => {
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
            let product = catalog.product(&sku)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&product)?);
            } else {
                output::print_product(catalog, &product);
            }
        }
        Command::Export { format, output } => {
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
        Command::Check { repair } => {
            check_database(catalog, repair)?;
            check_thumbnails(catalog, repair)?;
        }
        Command::Currency { code, clear } => {
            if clear {
                catalog.set_currency(None)?;
            } else if let Some(c) = code {
                catalog.set_currency(Some(&c))?;
            }
            match catalog.currency()? {
                Some(c) => say!("{c}"),
                None => say!("No currency: prices show as plain numbers."),
            }
        }
        _ => unreachable!("handled in run"),
    }
    Ok(())
}

/// Reports missing or damaged thumbnails; with `repair`, makes them again from the photos.
fn check_database(catalog: &Catalog, repair: bool) -> Result<()> {
    let found = catalog.integrity()?;
    if found.problems.is_empty() {
        say!("ok");
        return Ok(());
    }
    for p in found.problems.iter().take(10) {
        say!("{p}");
    }
    if !found.indexes_only {
        bail!(
            "the catalog database {} is damaged beyond its indexes. Nothing was changed. Keep a copy of the catalog folder; \
             SQLite's `.recover` (sqlite3 {} .recover | sqlite3 recovered.sqlite) saves what is left into a new file",
            catalog.db_path().display(),
            catalog.db_path().display()
        );
    }
    if !repair {
        bail!(
            "an index of the catalog is damaged; the products themselves are intact. \
             `vitrine check --repair` rebuilds the indexes (after copying the database beside it)"
        );
    }
    let (backup, after) = catalog.repair_indexes()?;
    say!("Copied the database to {} first.", backup.display());
    if !after.problems.is_empty() {
        bail!(
            "rebuilding the indexes did not fix the catalog: {}",
            after.problems.join("; ")
        );
    }
    say!("Rebuilt the indexes; the catalog checks ok.");
    Ok(())
}

fn check_thumbnails(catalog: &Catalog, repair: bool) -> Result<()> {
    let problems = catalog.check_thumbnails()?;
    if problems.is_empty() {
        return Ok(());
    }
    for p in problems.iter().take(10) {
        say!("thumbnail {} of {}: {}", p.why, p.photo, p.hash);
    }
    if !repair {
        bail!(
            "{} thumbnails are missing or damaged; `vitrine check --repair` makes them again from the photos (so does importing the photos again)",
            problems.len()
        );
    }
    let (made, failed) = catalog.repair_thumbnails(&problems)?;
    say!("Made {made} thumbnails again.");
    for e in &failed {
        say!("{}", output::describe_error(e));
    }
    if !failed.is_empty() {
        bail!(
            "{} photos could not be read to make their thumbnails",
            failed.len()
        );
    }
    Ok(())
}

/// Prints each stage of an import or embedding: progress (a bar, or JSON lines with
/// `--json`), the summaries, and the indexes built.
fn stage_printer(json: bool) -> impl Fn(Stage) + Sync {
    let progress = output::Progress::new(json, std::io::stderr().is_terminal());
    // A summary: one JSON line tagged `event` with `--json`, else the table.
    let summary =
        move |report: serde_json::Result<serde_json::Value>, event: &str, table: &dyn Fn()| {
            if !json {
                table();
            } else if let Ok(mut line) = report {
                line["event"] = event.into();
                println!("{line}");
            }
        };
    move |stage| match stage {
        Stage::Import(e) => progress.import_event(e),
        Stage::Imported(report) => {
            progress.finish();
            summary(serde_json::to_value(report), "summary", &|| {
                output::print_import_report(report)
            });
        }
        Stage::Embed(e) => progress.embed_event(e),
        Stage::Embedded(report) => {
            progress.finish();
            summary(serde_json::to_value(report), "embed_summary", &|| {
                output::print_embed_report(report)
            });
        }
        Stage::Indexing => {}
        Stage::Indexed(b) => esay!("Built the nearest-neighbour index of {b}"),
    }
}

fn import(g: &Global, opts: &ImportOptions, embed: bool, json: bool) -> Result<()> {
    let mut ws = g.workspace()?;
    ws.import_and_index(opts, embed, &stage_printer(json), &AtomicBool::new(false))?;
    Ok(())
}

fn embed(g: &Global, batch_size: usize, json: bool) -> Result<()> {
    let mut ws = g.workspace()?;
    let encoders = ws.encoders()?;
    ws.embed_and_index(
        &encoders,
        batch_size,
        &stage_printer(json),
        &AtomicBool::new(false),
    )?;
    // A model chosen with `models use` that cannot load, while the previous one serves: say
    // so and fail, rather than report the previous model's (empty) work as done.
    let serving = |kind| match kind {
        vitrine::models::ModelKind::Clip => encoders.clip.as_ref().map(|(m, _)| m.id.clone()),
        vitrine::models::ModelKind::Text => encoders.text.as_ref().map(|(m, _)| m.id.clone()),
    };
    if let Some((u, previous)) = encoders
        .unavailable
        .iter()
        .find_map(|u| serving(u.kind).filter(|s| *s != u.model_id).map(|s| (u, s)))
    {
        bail!(
            "the chosen model {} could not be used, so nothing was embedded with it: {}\n{previous} keeps serving searches; `vitrine models use {previous}` goes back to it",
            u.model_id,
            u.reason
        );
    }
    Ok(())
}

/// The query sets named by `--queries` (by file) and `--judged` (named "judgements").
fn query_sets(
    ws: &Workspace,
    (files, judged): (&[PathBuf], bool),
) -> Result<Vec<(PathBuf, Vec<vitrine::eval::EvalQuery>)>> {
    let mut sets = Vec::new();
    for f in files {
        sets.push((f.clone(), vitrine::eval::read_queries(f)?));
    }
    if judged {
        let marks = vitrine::judgements::list(ws.catalog(), None)?;
        let c = vitrine::judgements::counts(&marks);
        if c.usable == 0 {
            bail!(
                "no query has a result marked right yet: mark some with `vitrine judge QUERY SKU --right` or in the app"
            );
        }
        sets.push((
            PathBuf::from("judgements"),
            vitrine::judgements::as_queries(&marks),
        ));
    }
    Ok(sets)
}

fn eval(
    g: &Global,
    queries: (&[PathBuf], bool),
    weights: &str,
    markdown: Option<PathBuf>,
    append: bool,
    json: bool,
) -> Result<()> {
    let ws = g.workspace()?;
    let weights = weights_for(&ws, weights)?;
    let catalog = ws.catalog();
    let searcher = ws.searcher()?;
    let mut reports = Vec::new();
    for (file, set) in query_sets(&ws, queries)? {
        let report = vitrine::eval::evaluate(&searcher, &set, &weights)?;
        reports.push((file, report));
    }
    if json {
        let v: Vec<serde_json::Value> = reports
            .iter()
            .map(|(f, r)| serde_json::json!({"queries_file": f, "report": r}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (f, r) in &reports {
            print!(
                "{}",
                output::printable(&output::eval_markdown(f, r, catalog))
            );
        }
    }
    if let Some(path) = markdown {
        let mut text = String::new();
        for (f, r) in &reports {
            text.push_str(&output::eval_markdown(f, r, catalog));
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// The catalog's weights (tuned, else the defaults) with those named in `changes` changed.
fn weights_for(ws: &Workspace, changes: &str) -> Result<Weights> {
    vitrine::tune::weights(ws.catalog())?
        .with(changes)
        .map_err(|e| anyhow::anyhow!(e))
}

fn tune(
    g: &Global,
    queries: (&[PathBuf], bool),
    folds: usize,
    dry_run: bool,
    reset: bool,
    json: bool,
) -> Result<()> {
    let ws = g.workspace()?;
    if reset {
        vitrine::tune::reset(ws.catalog())?;
        say!("Searches use the default weights again.");
        return Ok(());
    }
    let set: Vec<_> = query_sets(&ws, queries)?
        .into_iter()
        .flat_map(|(_, s)| s)
        .collect();
    let searcher = ws.searcher()?;
    let r = vitrine::tune::tune(ws.catalog(), &searcher, &set, folds, dry_run)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    output::print_tune(&r, dry_run);
    Ok(())
}

fn dupes(g: &Global, action: Option<DupesAction>, threshold: &str, json: bool) -> Result<()> {
    use vitrine::duplicates::{self, Decision, Thresholds, write_merge_map};
    let t: Thresholds = threshold.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let ws = g.workspace()?;
    let scan = || -> Result<_> { Ok(duplicates::find_active(ws.catalog(), &ws.models()?, &t)?) };
    match action {
        None => {
            let report = scan()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                output::print_dupes(&report);
            }
        }
        Some(DupesAction::Decide {
            decision,
            skus,
            keep,
        }) => {
            let d = match decision {
                DecisionArg::Duplicate => Decision::Duplicate,
                DecisionArg::NotDuplicate => Decision::NotDuplicate,
                DecisionArg::Variants => Decision::Variants,
            };
            let n = duplicates::decide(ws.catalog(), d, &skus, keep.as_deref())?;
            say!("Recorded {} for {n} pairs.", d.as_str());
        }
        Some(DupesAction::Export {
            csv,
            json: json_out,
        }) => {
            if csv.is_none() && json_out.is_none() {
                bail!("give --csv FILE and/or --json FILE");
            }
            let report = scan()?;
            if let Some(p) = csv {
                let f = std::fs::File::create(&p)
                    .with_context(|| format!("cannot create {}", p.display()))?;
                write_merge_map(&report, f)?;
                say!("Wrote the merge map to {}", p.display());
            }
            if let Some(p) = json_out {
                std::fs::write(&p, serde_json::to_vec_pretty(&report)?)
                    .with_context(|| format!("cannot write {}", p.display()))?;
                say!("Wrote {} groups to {}", report.groups.len(), p.display());
            }
        }
    }
    Ok(())
}

fn search(g: &Global, mut q: Query, o: SearchOpts) -> Result<()> {
    if o.k == 0 {
        bail!("-k is how many results to show: 1 or more");
    }
    q.not = o.not;
    q.more = o.more;
    q.less = o.less;
    q.sort = match o.sort {
        SortArg::Relevance => vitrine::query::Sort::Relevance,
        SortArg::PriceLow => vitrine::query::Sort::PriceLow,
        SortArg::PriceHigh => vitrine::query::Sort::PriceHigh,
    };
    q.filters = Filters {
        category: o.category,
        color: o.color,
        min_price: o.min_price,
        max_price: o.max_price,
        attributes: o
            .attributes
            .iter()
            .map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| anyhow::anyhow!("--attr takes NAME=VALUE, got {a:?}"))
            })
            .collect::<Result<_>>()?,
    };
    let ws = g.workspace()?;
    let weights = weights_for(&ws, &o.weights)?;
    let searcher = ws.searcher()?;
    let results = searcher.search(&q, &weights, o.k, o.offset)?;
    if o.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        output::print_results(&results);
    }
    Ok(())
}

fn models_command(ws: &Workspace, cmd: ModelsCommand) -> Result<()> {
    let models = ws.models()?;
    match cmd {
        ModelsCommand::List { json } => {
            let statuses = ws.model_statuses()?;
            if json {
                let list: Vec<serde_json::Value> = statuses
                    .iter()
                    .map(|s| {
                        let mut v = serde_json::to_value(&s.manifest).unwrap_or_default();
                        v["present"] = s.present.into();
                        v["active"] = s.active.into();
                        v["local_folder"] = s.folder.to_string_lossy().to_string().into();
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                say!("Models folder: {}", models.dir().display());
                for s in &statuses {
                    let m = &s.manifest;
                    say!(
                        "{} {:<26} {:<5} {:<41} {:>8} {:<11} {:<12} {}",
                        if s.active { "*" } else { " " },
                        m.id,
                        format!("{:?}", m.kind).to_lowercase(),
                        m.display_name,
                        m.download_mb
                            .map(|mb| format!("{mb} MB"))
                            .unwrap_or_default(),
                        m.licence,
                        if m.multilingual {
                            "multilingual"
                        } else {
                            "English"
                        },
                        if s.present {
                            "present".to_string()
                        } else {
                            format!("missing: vitrine models download {}", m.id)
                        }
                    );
                }
                say!("(* = used by this catalog)");
            }
        }
        ModelsCommand::Download { id } => {
            let m = models.get(&id)?.clone();
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let never = std::sync::atomic::AtomicBool::new(false);
            let dest = models.download(
                &m,
                &mut |file, done, total| {
                    bar.set_message(file.to_string());
                    bar.set_length(total);
                    bar.set_position(done);
                },
                &never,
            )?;
            bar.finish_and_clear();
            say!("{} downloaded and verified into {}", m.id, dest.display());
        }
        ModelsCommand::Verify { id } => verify_models(&models, id)?,
        ModelsCommand::Use { id } => {
            let m = ws.use_model(&id)?;
            say!(
                "This catalog now uses {} for {:?}. Run `vitrine embed` to compute its embeddings.",
                m.id,
                m.kind
            );
            if !models.is_present(&m) {
                say!("Note: {}", models.how_to_get(&m));
            }
        }
        ModelsCommand::Add { path, id } => {
            let m = ws.add_model(&path, id.as_deref())?;
            say!(
                "Registered {} ({:?}, {} dimensions) at {}. Use it with `vitrine models use {}`.",
                m.id,
                m.kind,
                m.embedding_dim,
                models.folder(&m).display(),
                m.id
            );
        }
    }
    Ok(())
}

fn verify_models(models: &Models, id: Option<String>) -> Result<()> {
    use vitrine::models::FileCheck;
    let list: Vec<_> = match id {
        Some(id) => vec![models.get(&id)?.clone()],
        None => models
            .manifests()
            .iter()
            .filter(|m| models.is_present(m))
            .cloned()
            .collect(),
    };
    if list.is_empty() {
        say!("No models present in {}.", models.dir().display());
    }
    let mut bad = 0;
    for m in &list {
        for c in models.verify(m)? {
            bad += c.is_bad() as usize;
            let line = match &c {
                FileCheck::Ok { name } => format!("ok        {name}"),
                FileCheck::Missing { name } => format!("MISSING   {name}"),
                FileCheck::Mismatch {
                    name,
                    expected,
                    actual,
                } => format!("MISMATCH  {name}: expected {expected}, found {actual}"),
                FileCheck::Unpinned { name, actual } => {
                    format!("unpinned  {name}: {actual}")
                }
            };
            say!("{:<24} {line}", m.id);
        }
    }
    if bad > 0 {
        bail!("{bad} files are missing or damaged");
    }
    Ok(())
}
