//! Importing folders of photos and product CSVs into a catalog, incrementally.
//!
//! The plan is made first (scan folders, read CSVs, match photos to products), CSV products are
//! written, then photos are hashed, decoded and thumbnailed in parallel while this thread commits
//! the results in batches (embedding them first, with a [`PhotoModel`]). A photo whose size and
//! modification time match the store is not read again; one whose bytes hash the same is not
//! decoded again. Every batch is one transaction, so a killed import leaves a consistent store
//! and a rerun resumes where it stopped.

pub mod csv;
mod scan;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::{Catalog, thumbnail_path};
use crate::domain::{ImportErrorRecord, ImportStatus, Origin, PHash, SkipKind};
use crate::error::{Error, Result};
use crate::photo::{self, PhotoError};
use crate::store::{Change, ImageData, KnownContent, KnownFile, ProductData, Store};

pub use self::csv::Field;
pub use scan::odd_name;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Folders, CSV files and single photos.
    pub sources: Vec<PathBuf>,
    /// `--map FIELD=COLUMN` overrides for CSV header mapping.
    pub mapping: Vec<(Field, String)>,
    /// Remove what disappeared from the sources since the last import.
    pub prune: bool,
    /// Photos with more pixels than this are skipped, checked from the header.
    pub max_pixels: u64,
    /// Photos per transaction.
    pub batch_size: usize,
    /// Read photos a CSV names outside its own folder and the imported folders, and follow
    /// links out of imported folders. Off by default: a CSV from elsewhere must not make Vitrine
    /// open arbitrary files.
    pub allow_outside: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            sources: Vec::new(),
            mapping: Vec::new(),
            prune: false,
            max_pixels: photo::DEFAULT_MAX_PIXELS,
            batch_size: 64,
            allow_outside: false,
        }
    }
}

/// What an import reports while it runs.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ImportEvent {
    /// The plan: photos found, CSV products read, photos that need reading.
    Planned {
        photos: usize,
        csv_products: usize,
        to_process: usize,
    },
    /// `done` of `total` photos read; `committed` of them are safely in the store.
    Progress {
        done: usize,
        total: usize,
        committed: usize,
        skipped: usize,
    },
}

/// Something that was in the catalog and is no longer in its source.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct MissingItem {
    pub sku: String,
    /// The photo, or `None` when the whole product is gone from its CSV.
    pub path: Option<String>,
    pub reason: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub run_id: i64,
    pub status: ImportStatus,
    pub products_added: usize,
    pub products_updated: usize,
    pub products_unchanged: usize,
    pub images_added: usize,
    pub images_updated: usize,
    pub images_unchanged: usize,
    /// Photos decoded and thumbnailed in this run.
    pub photos_processed: usize,
    /// Changed files whose content was already known (no decode needed).
    pub photos_reused: usize,
    pub skipped: Vec<ImportErrorRecord>,
    pub missing: Vec<MissingItem>,
    pub pruned_products: usize,
    pub pruned_images: usize,
    pub seconds: f64,
}

impl ImportReport {
    fn counts(&self) -> Value {
        serde_json::json!({
            "products_added": self.products_added,
            "products_updated": self.products_updated,
            "products_unchanged": self.products_unchanged,
            "images_added": self.images_added,
            "images_updated": self.images_updated,
            "images_unchanged": self.images_unchanged,
            "photos_processed": self.photos_processed,
            "photos_reused": self.photos_reused,
            "skipped": self.skipped.len(),
            "missing": self.missing.len(),
            "pruned_products": self.pruned_products,
            "pruned_images": self.pruned_images,
        })
    }
}

/// A visual model that embeds each new photo while the import has it decoded
/// ([`run_with_model`]), so that an import with embedding decodes each photo once, for its
/// thumbnail and for the model ([`photo::decode_for_import`]).
pub trait PhotoModel: Sync {
    /// The model's id, under which its vectors are stored.
    fn id(&self) -> &str;
    /// The longest side its preprocessing resizes to ([`photo::decode_for_model`]).
    fn decode_side(&self) -> u32;
    /// The model's input for a decoded photo; called on the decoding threads.
    fn input(&self, img: &image::DynamicImage) -> Vec<f32>;
    /// One vector per input, or `None` when the model failed: the embedding that follows the
    /// import then embeds those photos, and reports what went wrong.
    fn embed(&self, inputs: &[Vec<f32>]) -> Option<Vec<Vec<f32>>>;
}

/// Photos decoded at once, ahead of the model, when a model embeds during the import.
const MODEL_CHUNK: usize = 32;

/// Which product a photo belongs to.
#[derive(Debug, Clone)]
enum Target {
    /// A product from a CSV, by SKU.
    Csv(String),
    /// A new product made from the photo itself.
    Photo { data: ProductData, source: String },
}

#[derive(Debug, Clone)]
struct Attachment {
    target: Target,
    view: String,
    color: String,
    position: i64,
    attributes: Map<String, Value>,
}

#[derive(Debug, Default)]
struct WorkItem {
    path: PathBuf,
    attachments: Vec<Attachment>,
}

enum Outcome {
    /// Decoded and thumbnailed.
    Processed {
        hash: String,
        width: u32,
        height: u32,
        phash: Option<PHash>,
    },
    /// The bytes are of a photo already in the catalog.
    Reused {
        hash: String,
        width: u32,
        height: u32,
        phash: Option<PHash>,
    },
    Failed(PhotoError),
    Cancelled,
}

struct Done {
    key: String,
    size: i64,
    mtime: i64,
    outcome: Outcome,
    /// The model's input, for a photo decoded in an import with a [`PhotoModel`].
    input: Option<Vec<f32>>,
}

fn file_stamp(path: &Path) -> std::io::Result<(i64, i64)> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    Ok((meta.len() as i64, mtime))
}

fn error_for(path: &str, e: &PhotoError) -> ImportErrorRecord {
    ImportErrorRecord {
        item: path.to_string(),
        line: None,
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// A folder photo's own product: SKU from its path, title from its name, category from its folders.
fn photo_product(found: &scan::FoundPhoto) -> ProductData {
    let rel = Path::new(&found.rel);
    let stem = rel
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let title = stem
        .split(['_', '-', '.'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let category = rel
        .parent()
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default();
    ProductData {
        sku: found.rel.clone(),
        title: if title.is_empty() { stem } else { title },
        category,
        ..ProductData::default()
    }
}

/// Finds the file a CSV's image reference means: the path relative to the CSV (or absolute),
/// else a photo of the same import's folders whose path ends with the reference, else one
/// under the CSV's own folder. Unless `allow_outside`, a path is only taken inside the CSV's
/// folder, the imported folders or the photos given one by one (checked on the resolved path,
/// after links, before the file is opened).
struct Resolver<'a> {
    by_name: HashMap<String, Vec<&'a Path>>,
    near_csv: HashMap<PathBuf, HashMap<String, Vec<PathBuf>>>,
    /// Where CSV photos may be, besides the CSV's folder; `None`: anywhere.
    allowed: Option<Vec<PathBuf>>,
}

impl<'a> Resolver<'a> {
    fn new(found: &'a [scan::FoundPhoto], allowed: Option<Vec<PathBuf>>) -> Self {
        let mut by_name: HashMap<String, Vec<&Path>> = HashMap::new();
        for f in found {
            if let Some(n) = f.path.file_name() {
                by_name
                    .entry(n.to_string_lossy().to_lowercase())
                    .or_default()
                    .push(&f.path);
            }
        }
        Resolver {
            by_name,
            near_csv: HashMap::new(),
            allowed,
        }
    }

    fn may_read(&self, csv_dir: &Path, canonical: &Path) -> bool {
        self.allowed.as_ref().is_none_or(|allowed| {
            canonical.starts_with(csv_dir) || allowed.iter().any(|a| canonical.starts_with(a))
        })
    }

    fn resolve(
        &mut self,
        csv_dir: &Path,
        reference: &str,
    ) -> std::result::Result<PathBuf, (SkipKind, String)> {
        if reference.contains("://") {
            return Err((
                SkipKind::RemoteImage,
                format!(
                    "{reference}: images on the web are not downloaded; save them to a folder and import it"
                ),
            ));
        }
        if let Ok(direct) = std::fs::canonicalize(csv_dir.join(reference)) {
            if !self.may_read(csv_dir, &direct) {
                return Err((
                    SkipKind::OutsideImport,
                    format!(
                        "{reference} is outside the CSV's folder and the imported folders, so it was not read; \
                         import its folder too, or allow photos from anywhere (--allow-outside)"
                    ),
                ));
            }
            if direct.is_file() {
                return Ok(direct);
            }
        }
        let wanted: Vec<String> = reference
            .split(['/', '\\'])
            .filter(|s| !s.is_empty() && *s != ".")
            .map(str::to_lowercase)
            .collect();
        let Some(name) = wanted.last().cloned() else {
            return Err((
                SkipKind::ImageNotFound,
                format!("{reference:?} is not a file name"),
            ));
        };
        let matches_suffix = |p: &Path| {
            let parts: Vec<String> = p
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_lowercase())
                .collect();
            parts.ends_with(&wanted)
        };
        let mut hits: Vec<PathBuf> = self
            .by_name
            .get(&name)
            .map(|v| {
                v.iter()
                    .filter(|p| matches_suffix(p))
                    .map(|p| p.to_path_buf())
                    .collect()
            })
            .unwrap_or_default();
        if hits.is_empty() {
            let near = self
                .near_csv
                .entry(csv_dir.to_path_buf())
                .or_insert_with(|| {
                    let mut m: HashMap<String, Vec<PathBuf>> = HashMap::new();
                    for e in walkdir::WalkDir::new(csv_dir)
                        .max_depth(3)
                        .into_iter()
                        .flatten()
                    {
                        if e.file_type().is_file() && photo::has_photo_extension(e.path()) {
                            m.entry(e.file_name().to_string_lossy().to_lowercase())
                                .or_default()
                                .push(e.path().to_path_buf());
                        }
                    }
                    m
                });
            hits = near
                .get(&name)
                .map(|v| v.iter().filter(|p| matches_suffix(p)).cloned().collect())
                .unwrap_or_default();
        }
        match hits.len() {
            1 => Ok(hits.remove(0)),
            0 => Err((
                SkipKind::ImageNotFound,
                format!("{reference}: no such photo beside the CSV or in the imported folders"),
            )),
            n => Err((
                SkipKind::AmbiguousImage,
                format!(
                    "{reference}: {n} photos in the imported folders have this name; give a longer path"
                ),
            )),
        }
    }
}

fn canonical(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::InvalidInput(format!("{}: no such file or folder", p.display()))
        } else {
            Error::io(p, e)
        }
    })
}

fn path_string(p: &Path) -> Option<String> {
    p.to_str().map(str::to_string)
}

/// The sources of an import, by kind, canonical.
struct Sources {
    folders: Vec<PathBuf>,
    csvs: Vec<PathBuf>,
    single_photos: Vec<PathBuf>,
}

impl Sources {
    fn classify(paths: &[PathBuf]) -> Result<Sources> {
        if paths.is_empty() {
            return Err(Error::InvalidInput(
                "nothing to import: give folders or CSV files".into(),
            ));
        }
        let mut out = Sources {
            folders: Vec::new(),
            csvs: Vec::new(),
            single_photos: Vec::new(),
        };
        for s in paths {
            let c = canonical(s)?;
            if let Some(why) = crate::files::not_regular(&c) {
                return Err(Error::InvalidInput(why));
            }
            if c.is_dir() {
                out.folders.push(c);
            } else if photo::has_photo_extension(&c) {
                out.single_photos.push(c);
            } else {
                out.csvs.push(c);
            }
        }
        Ok(out)
    }

    /// The names recorded with the run (folders, CSVs, then single photos).
    fn names(&self) -> Vec<String> {
        self.folders
            .iter()
            .chain(&self.csvs)
            .chain(&self.single_photos)
            .map(|p| p.to_string_lossy().to_string())
            .collect()
    }

    /// Photos of the folders (recursively) and the single photos.
    fn photos(
        &self,
        allow_outside: bool,
        errors: &mut Vec<ImportErrorRecord>,
    ) -> Vec<scan::FoundPhoto> {
        let mut found: Vec<scan::FoundPhoto> = Vec::new();
        for f in &self.folders {
            found.extend(scan::scan_folder(f, allow_outside, errors));
        }
        for p in &self.single_photos {
            if let Some(why) = odd_name(p) {
                errors.push(ImportErrorRecord {
                    item: p.to_string_lossy().to_string(),
                    line: None,
                    kind: SkipKind::OddFileName,
                    message: why,
                });
                continue;
            }
            let root = p.parent().unwrap_or(Path::new("/")).to_path_buf();
            let rel = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            found.push(scan::FoundPhoto {
                path: p.clone(),
                rel,
                root,
            });
        }
        found
    }
}

/// What the CSVs say: their products, the photo files to attach (by path), and which SKUs
/// each CSV mentions (for what disappeared).
#[derive(Default)]
struct Plan {
    work: BTreeMap<String, WorkItem>,
    csv_products: Vec<(String, ProductData)>,
    mentioned: HashSet<(String, String)>,
    /// Rows naming each currency, over every CSV.
    currencies: HashMap<String, usize>,
}

/// Reads the CSVs and matches their photos.
fn read_csvs(
    sources: &Sources,
    found: &[scan::FoundPhoto],
    opts: &ImportOptions,
    errors: &mut Vec<ImportErrorRecord>,
) -> Plan {
    let mut plan = Plan::default();
    let allowed = (!opts.allow_outside).then(|| {
        sources
            .folders
            .iter()
            .chain(&sources.single_photos)
            .cloned()
            .collect()
    });
    let mut resolver = Resolver::new(found, allowed);
    let mapping = &opts.mapping;
    for c in &sources.csvs {
        let source = c.to_string_lossy().to_string();
        let contents = match csv::read_products(c, mapping) {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        errors.extend(contents.errors);
        for (c, n) in contents.currencies {
            *plan.currencies.entry(c).or_default() += n;
        }
        plan.mentioned.extend(
            contents
                .mentioned_skus
                .into_iter()
                .map(|s| (source.clone(), s)),
        );
        let csv_dir = c.parent().unwrap_or(Path::new("/")).to_path_buf();
        for p in contents.products {
            for (pos, img) in p.images.iter().enumerate() {
                match attachment_path(&mut resolver, &csv_dir, &source, &p.data.sku, img) {
                    Ok((key, path)) => {
                        let item = plan.work.entry(key).or_insert_with(|| WorkItem {
                            path,
                            attachments: Vec::new(),
                        });
                        item.attachments.push(Attachment {
                            target: Target::Csv(p.data.sku.clone()),
                            view: img.view.clone(),
                            color: img.color.clone(),
                            position: pos as i64,
                            attributes: img.attributes.clone(),
                        });
                    }
                    Err(e) => errors.push(e),
                }
            }
            plan.csv_products.push((source.clone(), p.data));
        }
    }
    plan
}

/// The file a CSV row's image reference means, as (store key, path).
fn attachment_path(
    resolver: &mut Resolver,
    csv_dir: &Path,
    source: &str,
    sku: &str,
    img: &csv::CsvImage,
) -> std::result::Result<(String, PathBuf), ImportErrorRecord> {
    let path = resolver
        .resolve(csv_dir, &img.reference)
        .map_err(|(kind, message)| ImportErrorRecord {
            item: source.to_string(),
            line: Some(img.line),
            kind,
            message: format!("SKU {sku}: {message}"),
        })?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    match path_string(&path).filter(|_| odd_name(&path).is_none()) {
        Some(key) => Ok((key, path)),
        None => Err(ImportErrorRecord {
            item: path.to_string_lossy().to_string(),
            line: Some(img.line),
            kind: SkipKind::OddFileName,
            message: odd_name(&path).unwrap_or_default(),
        }),
    }
}

/// Folder photos that no CSV claims become products of their own, unless the catalog already
/// has them under some product.
fn claim_folder_photos(
    store: &Store,
    found: &[scan::FoundPhoto],
    work: &mut BTreeMap<String, WorkItem>,
) -> Result<()> {
    for f in found {
        let Some(key) = path_string(&f.path) else {
            continue;
        };
        if work.contains_key(&key) {
            continue;
        }
        let known_products = Store::products_using(store.conn(), &key)?;
        let attachments = if known_products.is_empty() {
            vec![Attachment {
                target: Target::Photo {
                    data: photo_product(f),
                    source: f.root.to_string_lossy().to_string(),
                },
                view: String::new(),
                color: String::new(),
                position: 0,
                attributes: Map::new(),
            }]
        } else {
            Vec::new()
        };
        work.insert(
            key,
            WorkItem {
                path: f.path.clone(),
                attachments,
            },
        );
    }
    Ok(())
}

/// Writes the CSV products and the errors so far in one transaction; returns the products' ids
/// by SKU.
fn write_csv_products(
    store: &mut Store,
    run: i64,
    csv_products: &[(String, ProductData)],
    errors: &[ImportErrorRecord],
    report: &mut ImportReport,
) -> Result<HashMap<String, i64>> {
    let mut product_ids: HashMap<String, i64> = HashMap::new();
    let tx = store.transaction()?;
    for (source, data) in csv_products {
        let (id, change) = Store::upsert_product(&tx, data, Origin::Csv, source)?;
        product_ids.insert(data.sku.clone(), id);
        match change {
            Change::Added => report.products_added += 1,
            Change::Updated => report.products_updated += 1,
            Change::Unchanged => report.products_unchanged += 1,
        }
    }
    for e in errors {
        Store::record_error(&tx, run, e)?;
    }
    tx.commit()?;
    Ok(product_ids)
}

/// A photo file to read: store key and path.
type ToRead = (String, PathBuf);
/// A photo file the store has unchanged: store key and what the store knows of it.
type Unchanged = (String, KnownFile);

/// Splits the files into those the store already has unchanged (same size and time, and
/// their thumbnail is there) and those that need reading.
fn plan_reads(
    store: &Store,
    work: &BTreeMap<String, WorkItem>,
    thumbs: &Path,
) -> Result<(Vec<Unchanged>, Vec<ToRead>)> {
    let mut ready = Vec::new();
    let mut to_process = Vec::new();
    for (key, item) in work {
        let known = Store::known_file(store.conn(), key)?;
        match (file_stamp(&item.path), known) {
            (Ok((size, mtime)), Some(k))
                if k.size == size
                    && k.mtime == mtime
                    && thumbnail_path(thumbs, &k.hash).is_file() =>
            {
                ready.push((key.clone(), k))
            }
            _ => to_process.push((key.clone(), item.path.clone())),
        }
    }
    Ok((ready, to_process))
}

/// An import's sign of life: a file per run (`runs/<id>.lock` in the catalog's folder) that
/// the importing process holds an OS lock on while it runs. The lock goes with the process, so
/// a killed import leaves a file nobody holds, and its run is then marked interrupted.
pub struct RunLock {
    path: PathBuf,
    file: std::fs::File,
}

/// A run marked running this recently may not have taken its lock yet.
const LOCK_GRACE_MS: i64 = 60_000;

impl RunLock {
    fn path(dir: &Path, run: i64) -> PathBuf {
        dir.join("runs").join(format!("{run}.lock"))
    }

    /// Takes the run's lock; `None` when the file system does not allow it (the run is then
    /// settled by age only).
    pub fn hold(dir: &Path, run: i64) -> Option<RunLock> {
        let path = RunLock::path(dir, run);
        std::fs::create_dir_all(path.parent()?).ok()?;
        let file = std::fs::File::create(&path).ok()?;
        file.try_lock().ok()?;
        Some(RunLock { path, file })
    }

    /// Whether the process of a run marked running (started at `started_ms`) is gone: its lock
    /// file is free, or there is none and the run is older than [`LOCK_GRACE_MS`].
    pub fn is_dead(dir: &Path, run: i64, started_ms: i64) -> bool {
        match std::fs::File::open(RunLock::path(dir, run)) {
            Ok(f) => f.try_lock().is_ok(),
            Err(_) => crate::store::now_millis() - started_ms > LOCK_GRACE_MS,
        }
    }

    pub fn forget(dir: &Path, run: i64) {
        let _ = std::fs::remove_file(RunLock::path(dir, run));
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Imports `opts.sources` into `catalog`. Progress goes to `on_event`; setting `cancel` stops
/// the import after the photos in flight, keeping what was committed.
pub fn run(
    catalog: &mut Catalog,
    opts: &ImportOptions,
    on_event: &(dyn Fn(&ImportEvent) + Sync),
    cancel: &AtomicBool,
) -> Result<ImportReport> {
    run_with_model(catalog, opts, None, on_event, cancel).map(|(report, _)| report)
}

/// As [`run`], with `model` embedding each photo it decodes (stored with the photo, in the same
/// transaction). Returns the report and how many photos the model embedded; photos it did not
/// (known content, a photo the model failed on) are left to [`crate::embed::run`].
pub fn run_with_model(
    catalog: &mut Catalog,
    opts: &ImportOptions,
    model: Option<&dyn PhotoModel>,
    on_event: &(dyn Fn(&ImportEvent) + Sync),
    cancel: &AtomicBool,
) -> Result<(ImportReport, usize)> {
    let started = Instant::now();
    let sources = Sources::classify(&opts.sources)?;
    let source_names = sources.names();
    catalog.settle_dead_runs()?;
    let run = catalog.store.begin_run(&source_names)?;
    let _alive = RunLock::hold(catalog.dir(), run);
    let mut report = ImportReport {
        run_id: run,
        ..Default::default()
    };
    let mut errors: Vec<ImportErrorRecord> = Vec::new();
    let found = sources.photos(opts.allow_outside, &mut errors);
    let mut plan = read_csvs(&sources, &found, opts, &mut errors);
    claim_folder_photos(&catalog.store, &found, &mut plan.work)?;
    // The catalog's currency, from its prices, unless it has one (set in Settings, say).
    if let Some((code, _)) = plan
        .currencies
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        && catalog.currency()?.is_none()
    {
        catalog.set_currency(Some(code))?;
    }
    let mut product_ids = write_csv_products(
        &mut catalog.store,
        run,
        &plan.csv_products,
        &errors,
        &mut report,
    )?;
    report.skipped.append(&mut errors);
    let thumbs = catalog.thumbs_dir();
    let (ready, to_process) = plan_reads(&catalog.store, &plan.work, &thumbs)?;
    on_event(&ImportEvent::Planned {
        photos: plan.work.len(),
        csv_products: plan.csv_products.len(),
        to_process: to_process.len(),
    });

    let mut seen_pairs: HashSet<(i64, String)> = HashSet::new();
    let mut applier = Applier {
        run,
        work: &plan.work,
        product_ids: &mut product_ids,
        report: &mut report,
        seen_pairs: &mut seen_pairs,
    };
    {
        let tx = catalog.store.transaction()?;
        for (key, k) in &ready {
            applier.attach(&tx, key, k)?;
        }
        tx.commit()?;
    }
    let (cancelled, embedded) = read_photos(
        &mut catalog.store,
        &to_process,
        &thumbs,
        opts,
        model,
        &mut applier,
        on_event,
        cancel,
    )?;
    let cancelled = cancelled || cancel.load(Ordering::Relaxed);

    if !cancelled {
        find_missing(
            &mut catalog.store,
            &source_names,
            &plan,
            &seen_pairs,
            opts.prune,
            &mut report,
        )?;
    }
    report.status = if cancelled {
        ImportStatus::Cancelled
    } else {
        ImportStatus::Completed
    };
    report.seconds = started.elapsed().as_secs_f64();
    catalog
        .store
        .finish_run(run, report.status, &report.counts())?;
    Ok((report, embedded))
}

/// Reads, decodes and thumbnails the photos in parallel, committing the results here in
/// batches; with a `model`, embeds them here too, batch by batch, while the next photos decode.
/// Returns whether it was cancelled and how many photos the model embedded.
#[allow(clippy::too_many_arguments)]
fn read_photos(
    store: &mut Store,
    to_process: &[ToRead],
    thumbs: &Path,
    opts: &ImportOptions,
    model: Option<&dyn PhotoModel>,
    applier: &mut Applier,
    on_event: &(dyn Fn(&ImportEvent) + Sync),
    cancel: &AtomicBool,
) -> Result<(bool, usize)> {
    let total = to_process.len();
    let known_hashes = store.known_hashes()?;
    let max_pixels = opts.max_pixels;
    // Without a model, results are small and the decoding threads never wait for this one. With
    // one, the model's input (600 KB a photo) must not pile up: a thread of its own hands
    // chunks to the pool and waits for room, so that the pool's threads, which the model needs,
    // never wait.
    let room = if model.is_some() {
        2 * MODEL_CHUNK
    } else {
        1 << 16
    };
    // The model's batches are the embedding's.
    let batch = match model {
        Some(_) => MODEL_CHUNK.min(opts.batch_size),
        None => opts.batch_size,
    };
    let (tx_done, rx_done) = mpsc::sync_channel::<Done>(room);
    let mut cancelled = false;
    let mut embedded = 0;
    std::thread::scope(|scope| -> Result<()> {
        // Dropped when this returns, an error included, so that a decoding thread waiting for
        // room stops rather than waits forever.
        let rx_done = rx_done;
        let known_hashes = &known_hashes;
        let one = move |(key, path): &ToRead| {
            process_one(key, path, known_hashes, thumbs, max_pixels, model, cancel)
        };
        scope.spawn(move || match model {
            None => to_process.par_iter().for_each_with(tx_done, |out, item| {
                let _ = out.send(one(item));
            }),
            Some(_) => {
                for chunk in to_process.chunks(MODEL_CHUNK) {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let done: Vec<Done> = chunk.par_iter().map(one).collect();
                    for d in done {
                        if tx_done.send(d).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut pending: Vec<Done> = Vec::new();
        let mut last_commit = Instant::now();
        let (mut done_n, mut committed, mut skipped) = (0, 0, 0);
        let mut flush = |pending: &mut Vec<Done>,
                         applier: &mut Applier,
                         store: &mut Store|
         -> Result<usize> {
            // The model runs before the transaction opens, so the store is not held meanwhile.
            let (hashes, inputs): (Vec<String>, Vec<Vec<f32>>) = pending
                .iter_mut()
                .filter_map(|d| match (&d.outcome, d.input.take()) {
                    (Outcome::Processed { hash, .. }, Some(input)) => Some((hash.clone(), input)),
                    _ => None,
                })
                .unzip();
            let vectors = match model {
                Some(m) if !inputs.is_empty() => m.embed(&inputs).unwrap_or_default(),
                _ => Vec::new(),
            };
            let tx = store.transaction()?;
            let n = pending.len();
            for d in pending.drain(..) {
                applier.apply(&tx, d)?;
            }
            if let Some(m) = model {
                for (hash, v) in hashes.iter().zip(&vectors) {
                    // A vector with NaN in it is left to the embedding, which reports it.
                    if v.iter().all(|x| x.is_finite()) {
                        Store::put_photo_embedding(&tx, hash, m.id(), v)?;
                        embedded += 1;
                    }
                }
            }
            tx.commit()?;
            Ok(n)
        };
        for d in rx_done.iter() {
            match &d.outcome {
                Outcome::Cancelled => {
                    cancelled = true;
                    continue;
                }
                Outcome::Failed(_) => skipped += 1,
                _ => {}
            }
            done_n += 1;
            pending.push(d);
            if pending.len() >= batch || last_commit.elapsed() > Duration::from_millis(500) {
                committed += flush(&mut pending, applier, store)?;
                last_commit = Instant::now();
            }
            on_event(&ImportEvent::Progress {
                done: done_n,
                total,
                committed,
                skipped,
            });
        }
        if !pending.is_empty() {
            committed += flush(&mut pending, applier, store)?;
            on_event(&ImportEvent::Progress {
                done: done_n,
                total,
                committed,
                skipped,
            });
        }
        Ok(())
    })?;
    Ok((cancelled, embedded))
}

/// What disappeared from the sources since the last import, removed when `prune`.
fn find_missing(
    store: &mut Store,
    sources: &[String],
    plan: &Plan,
    seen_pairs: &HashSet<(i64, String)>,
    prune: bool,
    report: &mut ImportReport,
) -> Result<()> {
    let (work, mentioned) = (&plan.work, &plan.mentioned);
    let mut gone_images = Vec::new();
    let mut gone_products = Vec::new();
    for source in sources {
        let products = Store::products_of_source(store.conn(), source)?;
        let sku_of: HashMap<i64, String> = products.iter().cloned().collect();
        let is_csv = !Path::new(source).is_dir() && !photo::has_photo_extension(Path::new(source));
        for (id, sku) in &products {
            if is_csv && !mentioned.contains(&(source.clone(), sku.clone())) {
                report.missing.push(MissingItem {
                    sku: sku.clone(),
                    path: None,
                    reason: "no longer in the CSV".into(),
                });
                gone_products.push(*id);
            }
        }
        for (image_id, product_id, path) in Store::images_of_source(store.conn(), source)? {
            if gone_products.contains(&product_id) {
                continue;
            }
            let exists = Path::new(&path).is_file();
            let listed = if is_csv {
                seen_pairs.contains(&(product_id, path.clone()))
            } else {
                work.contains_key(&path)
            };
            if exists && listed {
                continue;
            }
            report.missing.push(MissingItem {
                sku: sku_of.get(&product_id).cloned().unwrap_or_default(),
                path: Some(path),
                reason: if exists {
                    "no longer listed for this product".into()
                } else {
                    "the file no longer exists".into()
                },
            });
            gone_images.push((image_id, product_id));
        }
    }
    if prune && (!gone_images.is_empty() || !gone_products.is_empty()) {
        let tx = store.transaction()?;
        for (image_id, product_id) in &gone_images {
            Store::delete_image(&tx, *image_id)?;
            report.pruned_images += 1;
            let origin_is_folder = Store::product_origin(&tx, *product_id)? == Some(Origin::Folder);
            if origin_is_folder && Store::image_count_of_product(&tx, *product_id)? == 0 {
                Store::delete_product(&tx, *product_id)?;
                report.pruned_products += 1;
            }
        }
        for id in &gone_products {
            // Its photos go with it, and count as removed.
            report.pruned_images += Store::image_count_of_product(&tx, *id)? as usize;
            Store::delete_product(&tx, *id)?;
            report.pruned_products += 1;
        }
        tx.commit()?;
    }
    Ok(())
}

fn process_one(
    key: &str,
    path: &Path,
    known_hashes: &HashMap<String, KnownContent>,
    thumbs: &Path,
    max_pixels: u64,
    model: Option<&dyn PhotoModel>,
    cancel: &AtomicBool,
) -> Done {
    let mut done = Done {
        key: key.to_string(),
        size: 0,
        mtime: 0,
        outcome: Outcome::Cancelled,
        input: None,
    };
    if cancel.load(Ordering::Relaxed) {
        return done;
    }
    done.outcome = (|| {
        let (size, mtime) = file_stamp(path).map_err(PhotoError::Unreadable)?;
        done.size = size;
        done.mtime = mtime;
        let bytes = photo::read_file(path)?;
        let hash = photo::content_hash(&bytes);
        let thumb = thumbnail_path(thumbs, &hash);
        if let Some(&(width, height, phash)) = known_hashes.get(&hash)
            && phash.is_some()
            && thumb.is_file()
        {
            return Ok(Outcome::Reused {
                hash,
                width,
                height,
                phash,
            });
        }
        let (small, (width, height)) = match model {
            Some(m) => {
                let d = photo::decode_for_import(&bytes, max_pixels, m.decode_side())?;
                done.input = Some(m.input(&d.model));
                (d.thumbnail, d.size)
            }
            None => photo::decode_thumbnail(&bytes, max_pixels)?,
        };
        photo::write_thumbnail(&small, &thumb)?;
        Ok(Outcome::Processed {
            hash,
            width,
            height,
            phash: Some(crate::phash::phash(&small)),
        })
    })()
    .unwrap_or_else(Outcome::Failed);
    done
}

/// Writes a photo's results for every product that uses it.
struct Applier<'a> {
    run: i64,
    work: &'a BTreeMap<String, WorkItem>,
    product_ids: &'a mut HashMap<String, i64>,
    report: &'a mut ImportReport,
    seen_pairs: &'a mut HashSet<(i64, String)>,
}

impl Applier<'_> {
    fn apply(&mut self, tx: &rusqlite::Transaction, d: Done) -> Result<()> {
        let (hash, width, height, phash) = match d.outcome {
            Outcome::Processed {
                hash,
                width,
                height,
                phash,
            } => {
                self.report.photos_processed += 1;
                (hash, width, height, phash)
            }
            Outcome::Reused {
                hash,
                width,
                height,
                phash,
            } => {
                self.report.photos_reused += 1;
                (hash, width, height, phash)
            }
            Outcome::Failed(e) => {
                let rec = error_for(&d.key, &e);
                Store::record_error(tx, self.run, &rec)?;
                // Products that already had this photo keep their rows: the file is there, only unreadable now.
                if let Some(item) = self.work.get(&d.key) {
                    for a in &item.attachments {
                        if let Target::Csv(sku) = &a.target
                            && let Some(&id) = self.product_ids.get(sku)
                        {
                            self.seen_pairs.insert((id, d.key.clone()));
                        }
                    }
                }
                self.report.skipped.push(rec);
                return Ok(());
            }
            Outcome::Cancelled => return Ok(()),
        };
        let k = KnownFile {
            size: d.size,
            mtime: d.mtime,
            hash,
            width,
            height,
            phash,
        };
        self.attach(tx, &d.key, &k)?;
        // Other products' rows of the same file (not listed in this run) follow the file too.
        let others_changed = Store::update_file(tx, &d.key, &k)?;
        self.report.images_updated += others_changed;
        if self
            .work
            .get(&d.key)
            .is_some_and(|w| w.attachments.is_empty())
        {
            self.report.images_unchanged -= others_changed;
        }
        Ok(())
    }

    /// Links a photo to the products that use it.
    fn attach(&mut self, tx: &rusqlite::Transaction, key: &str, k: &KnownFile) -> Result<()> {
        let Some(item) = self.work.get(key) else {
            return Ok(());
        };
        for a in &item.attachments {
            let product_id = match &a.target {
                Target::Csv(sku) => match self.product_ids.get(sku) {
                    Some(&id) => {
                        // A CSV now maps this photo: the product made from it alone gives way.
                        for (other, origin) in Store::products_using(tx, key)? {
                            if origin == Origin::Folder && other != id {
                                Store::delete_product(tx, other)?;
                            }
                        }
                        id
                    }
                    None => continue,
                },
                Target::Photo { data, source } => {
                    let (id, change) = Store::upsert_product(tx, data, Origin::Folder, source)?;
                    match change {
                        Change::Added => self.report.products_added += 1,
                        Change::Updated => self.report.products_updated += 1,
                        Change::Unchanged => self.report.products_unchanged += 1,
                    }
                    id
                }
            };
            self.seen_pairs.insert((product_id, key.to_string()));
            let data = ImageData {
                path: key.to_string(),
                hash: k.hash.clone(),
                width: k.width,
                height: k.height,
                view: a.view.clone(),
                color: a.color.clone(),
                position: a.position,
                attributes: a.attributes.clone(),
                size: k.size,
                mtime: k.mtime,
                phash: k.phash,
            };
            match Store::upsert_image(tx, product_id, &data)? {
                Change::Added => self.report.images_added += 1,
                Change::Updated => self.report.images_updated += 1,
                Change::Unchanged => self.report.images_unchanged += 1,
            }
        }
        if item.attachments.is_empty() {
            // Already in the catalog under its products (see `apply` for a changed file).
            self.report.images_unchanged += Store::products_using(tx, key)?.len();
        }
        Ok(())
    }
}
