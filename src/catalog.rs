//! A catalog: one folder holding `catalog.sqlite` and a thumbnail cache, and the public API over it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use crate::domain::{
    Facets, Image, ImportErrorRecord, ImportRun, ImportStatus, Origin, OwnerKind, PHash, Product,
    ProductFilter, SkipKind, Stats,
};
use crate::error::{Error, Result};
use crate::spreadsheet::safe_cell;
pub use crate::store::Integrity;
use crate::store::{ProductData, Store};

pub const DB_FILE: &str = "catalog.sqlite";
/// The settings key of the catalog's currency (ISO 4217).
const CURRENCY_KEY: &str = "currency";
pub const THUMBS_DIR: &str = "thumbs";

pub struct Catalog {
    dir: PathBuf,
    pub(crate) store: Store,
}

impl Catalog {
    /// Opens the catalog in `dir`, creating the folder and an empty catalog if needed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Catalog> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(dir.join(THUMBS_DIR)).map_err(|e| Error::io(&dir, e))?;
        let store = Store::open(&dir.join(DB_FILE))?;
        Ok(Catalog { dir, store })
    }

    /// The per-user default catalog folder (e.g. `~/.local/share/vitrine/catalog` on Linux).
    pub fn default_dir() -> Result<PathBuf> {
        directories::ProjectDirs::from("app", "Vitrine", "vitrine")
            .map(|d| d.data_dir().join("catalog"))
            .ok_or(Error::NoDefaultLocation)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The catalog's SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    pub fn thumbs_dir(&self) -> PathBuf {
        self.dir.join(THUMBS_DIR)
    }

    /// The thumbnail of a photo with this content hash (long side at most 320 px, JPEG).
    pub fn thumbnail_path(&self, hash: &str) -> PathBuf {
        thumbnail_path(&self.thumbs_dir(), hash)
    }

    /// Where the nearest-neighbour index of a model's vectors of one owner kind is saved.
    pub fn index_path(&self, model: &str, owner_kind: OwnerKind) -> PathBuf {
        self.dir
            .join("index")
            .join(format!("{}.{owner_kind}.hnsw", file_safe(model)))
    }

    /// Where the vectors of `model`'s bank of titles are kept (see [`crate::hubness`]).
    pub fn bank_path(&self, model: &str) -> PathBuf {
        self.dir
            .join("index")
            .join(format!("{}.bank", file_safe(model)))
    }

    /// The stored embedding of the photo with content `hash` by `model`.
    pub fn photo_vector(&self, model: &str, hash: &str) -> Result<Option<Vec<f32>>> {
        self.store.photo_vector(model, hash)
    }

    pub fn stats(&self) -> Result<Stats> {
        self.store.stats()
    }

    pub fn products(&self, filter: &ProductFilter) -> Result<Vec<Product>> {
        self.store.products(filter)
    }

    pub fn product(&self, sku: &str) -> Result<Product> {
        self.store.product_by_sku(sku)
    }

    /// What the filters can offer: every category level with its product count, the colours,
    /// and the price range.
    pub fn facets(&self) -> Result<Facets> {
        Ok(Facets::of(&self.products(&ProductFilter::default())?))
    }

    /// The folders that hold the catalog's photos (for a viewer that may show only those).
    pub fn photo_folders(&self) -> Result<Vec<PathBuf>> {
        let mut dirs: Vec<PathBuf> = self
            .store
            .all_products_with_images()?
            .iter()
            .flat_map(|p| p.images.iter())
            .filter_map(|im| Path::new(&im.path).parent().map(Path::to_path_buf))
            .collect();
        dirs.sort();
        dirs.dedup();
        Ok(dirs)
    }

    /// Adds products that each have one photo already hashed and embedded by `model`, with no
    /// file behind it, in one transaction: for tools that generate catalogs, such as benchmarks.
    pub fn add_embedded_photos<'a>(
        &self,
        rows: impl Iterator<Item = (String, PHash, &'a [f32])>,
        model: &str,
    ) -> Result<()> {
        self.store.insert_embedded_photos(rows, model)
    }

    /// Adds products that each have a product-text vector by `model` already (titled by their
    /// SKU, no description), in one transaction: for tools that generate catalogs, such as tests.
    pub fn add_embedded_texts<'a>(
        &self,
        rows: impl Iterator<Item = (String, &'a [f32])>,
        model: &str,
    ) -> Result<()> {
        let products = rows.map(|(sku, v)| {
            let data = ProductData {
                title: sku.clone(),
                sku,
                ..ProductData::default()
            };
            (data, v, &[][..])
        });
        self.store.insert_embedded_products(products, model)
    }

    /// Adds products with their product-text and passage vectors by `model` already made, in
    /// one transaction: for tools that generate catalogs, such as benchmarks. A later `embed`
    /// encodes their texts again.
    pub fn add_embedded_products<'a>(
        &self,
        rows: impl Iterator<Item = (ProductData, &'a [f32], &'a [Vec<f32>])>,
        model: &str,
    ) -> Result<()> {
        self.store.insert_embedded_products(rows, model)
    }

    /// Import runs, newest first. A run still marked running whose process is gone (killed, or
    /// the machine stopped) is marked interrupted first.
    pub fn import_runs(&self, limit: usize) -> Result<Vec<ImportRun>> {
        self.settle_dead_runs()?;
        self.store.runs(limit)
    }

    /// Marks interrupted every run still marked running whose importer no longer holds its lock
    /// (see [`crate::import::RunLock`]).
    pub fn settle_dead_runs(&self) -> Result<()> {
        for run in self.store.running_runs()? {
            if crate::import::RunLock::is_dead(&self.dir, run.0, run.1) {
                self.store.mark_interrupted(run.0)?;
                crate::import::RunLock::forget(&self.dir, run.0);
            }
        }
        Ok(())
    }

    /// What an import run skipped; the latest run when `run` is `None`.
    pub fn import_errors(&self, run: Option<i64>) -> Result<Vec<ImportErrorRecord>> {
        let run = match run {
            Some(r) if self.store.run_exists(r)? => r,
            Some(r) => {
                return Err(Error::InvalidInput(format!(
                    "there is no import run {r}; `vitrine runs` lists them"
                )));
            }
            None => match self.import_runs(1)?.first() {
                Some(r) => r.id,
                None => return Ok(Vec::new()),
            },
        };
        self.store.errors(run)
    }

    /// SQLite's `PRAGMA integrity_check` plus a foreign-key check: `ok` when all is well, else
    /// the problems, one a line.
    pub fn integrity_check(&self) -> Result<String> {
        let i = self.store.integrity()?;
        Ok(if i.problems.is_empty() {
            "ok".into()
        } else {
            i.problems.join("\n")
        })
    }

    /// What is wrong with the database, and whether rebuilding its indexes would fix it.
    pub fn integrity(&self) -> Result<Integrity> {
        self.store.integrity()
    }

    /// Rebuilds the database's indexes after copying the database beside it
    /// (`catalog.sqlite.before-repair-<time>`). Returns the copy's path and the check after.
    pub fn repair_indexes(&self) -> Result<(PathBuf, Integrity)> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let backup = self.dir.join(format!("{DB_FILE}.before-repair-{stamp}"));
        Store::copy_to(&self.db_path(), &backup)?;
        self.store.rebuild_indexes()?;
        Ok((backup, self.store.integrity()?))
    }

    /// The currency of the catalog's prices (ISO 4217, e.g. `EUR`): as set, else as read from
    /// the prices of its CSVs (a symbol or code), else none.
    pub fn currency(&self) -> Result<Option<String>> {
        self.store.setting(CURRENCY_KEY)
    }

    /// Sets the catalog's currency (`None`: forget it; the next import reads it again).
    pub fn set_currency(&self, code: Option<&str>) -> Result<()> {
        match code {
            None => self.store.delete_setting(CURRENCY_KEY),
            Some(c) => {
                let c = crate::price::valid_currency(c).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "{c:?} is not a currency code: give three letters such as EUR, USD or GBP"
                    ))
                })?;
                self.store.set_setting(CURRENCY_KEY, &c)
            }
        }
    }

    /// Thumbnails that are missing or cannot be decoded, one per photo content.
    pub fn check_thumbnails(&self) -> Result<Vec<ThumbnailProblem>> {
        use rayon::prelude::*;
        let thumbs = self.thumbs_dir();
        let photos = self.store.photo_files()?;
        Ok(photos
            .into_par_iter()
            .filter_map(|(hash, photo)| {
                let path = thumbnail_path(&thumbs, &hash);
                let why = match std::fs::read(&path) {
                    Err(_) => "missing",
                    Ok(b) if image::load_from_memory(&b).is_err() => "damaged",
                    Ok(_) => return None,
                };
                Some(ThumbnailProblem {
                    hash,
                    photo,
                    why: why.into(),
                })
            })
            .collect())
    }

    /// Makes the thumbnails of `problems` again from their photos; returns how many it made
    /// and the photos it could not read.
    pub fn repair_thumbnails(
        &self,
        problems: &[ThumbnailProblem],
    ) -> Result<(usize, Vec<ImportErrorRecord>)> {
        use rayon::prelude::*;
        let thumbs = self.thumbs_dir();
        let results: Vec<std::result::Result<(), ImportErrorRecord>> = problems
            .par_iter()
            .map(|p| {
                let made = crate::photo::read_file(Path::new(&p.photo))
                    .and_then(|b| {
                        crate::photo::decode_thumbnail(&b, crate::photo::DEFAULT_MAX_PIXELS)
                    })
                    .and_then(|(small, _)| {
                        crate::photo::write_thumbnail(&small, &thumbnail_path(&thumbs, &p.hash))
                    });
                made.map_err(|e| ImportErrorRecord {
                    item: p.photo.clone(),
                    line: None,
                    kind: e.kind(),
                    message: e.to_string(),
                })
            })
            .collect();
        let made = results.iter().filter(|r| r.is_ok()).count();
        Ok((made, results.into_iter().filter_map(|r| r.err()).collect()))
    }

    /// Writes every product as CSV, one row per product, photos joined by `|`; cells that a
    /// spreadsheet would run as formulas are neutralised ([`safe_cell`]).
    pub fn export_csv(&self, out: impl Write) -> Result<()> {
        let products = self.products(&ProductFilter::default())?;
        let mut attr_keys: Vec<String> = products
            .iter()
            .flat_map(|p| p.attributes.keys().cloned())
            .collect();
        attr_keys.sort();
        attr_keys.dedup();
        let mut w = csv::Writer::from_writer(out);
        let mut header: Vec<String> = [
            "sku",
            "title",
            "description",
            "category",
            "color",
            "price",
            "images",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        header.extend(attr_keys.iter().cloned());
        w.write_record(header.iter().map(|c| safe_cell(c).into_owned()))?;
        for p in &products {
            let images: Vec<&str> = p.images.iter().map(|i| i.path.as_str()).collect();
            let mut row = vec![
                p.sku.clone(),
                p.title.clone(),
                p.description.clone(),
                p.category.clone(),
                p.color.clone(),
                p.price.map(|v| v.to_string()).unwrap_or_default(),
                images.join("|"),
            ];
            for k in &attr_keys {
                row.push(match p.attributes.get(k) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                });
            }
            w.write_record(row.iter().map(|c| safe_cell(c).into_owned()))?;
        }
        w.flush().map_err(|e| Error::io("<export>", e))?;
        Ok(())
    }

    /// Writes every product, with its photos, as a JSON array.
    pub fn export_json(&self, mut out: impl Write) -> Result<()> {
        let products = self.products(&ProductFilter::default())?;
        serde_json::to_writer_pretty(&mut out, &products)?;
        writeln!(out).map_err(|e| Error::io("<export>", e))?;
        Ok(())
    }
}

/// A thumbnail that is missing or damaged.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThumbnailProblem {
    /// The photo's content hash (the thumbnail's name).
    pub hash: String,
    /// A file the photo can be read from.
    pub photo: String,
    /// `missing` or `damaged`.
    pub why: String,
}

pub(crate) fn thumbnail_path(thumbs: &Path, hash: &str) -> PathBuf {
    let prefix = hash.get(..2).unwrap_or("00");
    thumbs.join(prefix).join(format!("{hash}.jpg"))
}

/// A model id as part of a file name.
fn file_safe(model: &str) -> String {
    model
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
