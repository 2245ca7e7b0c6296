//! A catalog: one folder holding `catalog.sqlite` and a thumbnail cache, and the public API over it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::store::Store;

pub const DB_FILE: &str = "catalog.sqlite";
pub const THUMBS_DIR: &str = "thumbs";

/// Where a product came from: a row of a CSV, or a photo found in a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Csv,
    Folder,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Csv => "csv",
            Origin::Folder => "folder",
        }
    }
    pub(crate) fn parse(s: &str) -> Origin {
        if s == "csv" {
            Origin::Csv
        } else {
            Origin::Folder
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub title: String,
    pub description: String,
    /// Category path with `/` between levels, e.g. `Women/Tops/Jackets`.
    pub category: String,
    /// The product's colours, comma-separated when its photos show several.
    pub color: String,
    pub price: Option<f64>,
    pub attributes: Map<String, Value>,
    pub origin: Origin,
    pub source: String,
    pub images: Vec<Image>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub id: i64,
    pub product_id: i64,
    pub path: String,
    /// blake3 of the file's bytes, hex.
    pub hash: String,
    pub width: u32,
    pub height: u32,
    pub view: String,
    pub color: String,
    pub position: i64,
    pub attributes: Map<String, Value>,
    /// 64-bit perceptual hash (see [`crate::phash`]), once computed.
    pub phash: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Category prefix: `Women/Tops` matches `Women/Tops` and `Women/Tops/Jackets`.
    pub category: Option<String>,
    pub limit: Option<usize>,
    pub offset: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub products: i64,
    pub images: i64,
    pub distinct_photos: i64,
    pub products_without_images: i64,
    pub categories: Vec<(String, i64)>,
    pub embeddings: Vec<(String, String, i64)>,
    pub import_runs: i64,
    pub schema_version: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facets {
    /// Each level of each category path (`Women`, `Women/Tops`, …) and how many products are
    /// in it or below it, sorted by path.
    pub categories: Vec<(String, usize)>,
    /// Colours (a product may have several) and their product counts, most common first.
    pub colors: Vec<(String, usize)>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
}

impl Facets {
    pub fn of(products: &[Product]) -> Facets {
        use std::collections::BTreeMap;
        let mut cats: BTreeMap<String, usize> = BTreeMap::new();
        let mut colors: BTreeMap<String, (String, usize)> = BTreeMap::new();
        let mut f = Facets::default();
        for p in products {
            let parts: Vec<&str> = p
                .category
                .split('/')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            for i in 1..=parts.len() {
                *cats.entry(parts[..i].join("/")).or_default() += 1;
            }
            let mut seen = Vec::new();
            for c in p.color.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                let key = c.to_lowercase();
                if !seen.contains(&key) {
                    colors.entry(key.clone()).or_insert((c.to_string(), 0)).1 += 1;
                    seen.push(key);
                }
            }
            if let Some(price) = p.price.filter(|x| x.is_finite()) {
                f.min_price = Some(f.min_price.map_or(price, |m: f64| m.min(price)));
                f.max_price = Some(f.max_price.map_or(price, |m: f64| m.max(price)));
            }
        }
        f.categories = cats.into_iter().collect();
        f.colors = colors.into_values().collect();
        f.colors
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        f
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportRun {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: String,
    pub sources: Vec<String>,
    pub counts: Map<String, Value>,
    pub errors: i64,
}

/// An item an import skipped, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportErrorRecord {
    /// The file (or CSV file) concerned.
    pub item: String,
    /// The CSV line, 1-based, counting the header.
    pub line: Option<i64>,
    /// A stable code for the reason, e.g. `corrupt_image` or `bad_price`.
    pub kind: String,
    pub message: String,
}

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

    pub fn thumbs_dir(&self) -> PathBuf {
        self.dir.join(THUMBS_DIR)
    }

    /// The thumbnail of a photo with this content hash (long side at most 320 px, JPEG).
    pub fn thumbnail_path(&self, hash: &str) -> PathBuf {
        thumbnail_path(&self.thumbs_dir(), hash)
    }

    /// Where the nearest-neighbour index of a model's vectors of one owner kind is saved.
    pub fn index_path(&self, model: &str, owner_kind: &str) -> PathBuf {
        let safe: String = model
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir
            .join("index")
            .join(format!("{safe}.{owner_kind}.hnsw"))
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

    /// Import runs, newest first.
    pub fn import_runs(&self, limit: usize) -> Result<Vec<ImportRun>> {
        self.store.runs(limit)
    }

    /// What an import run skipped; the latest run when `run` is `None`.
    pub fn import_errors(&self, run: Option<i64>) -> Result<Vec<ImportErrorRecord>> {
        let run = match run {
            Some(r) => r,
            None => match self.store.runs(1)?.first() {
                Some(r) => r.id,
                None => return Ok(Vec::new()),
            },
        };
        self.store.errors(run)
    }

    /// SQLite's `PRAGMA integrity_check` plus a foreign-key check: `ok` when all is well.
    pub fn integrity_check(&self) -> Result<String> {
        self.store.integrity_check()
    }

    /// Writes every product as CSV, one row per product, photos joined by `|`.
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
        w.write_record(&header)?;
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
            w.write_record(&row)?;
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

pub(crate) fn thumbnail_path(thumbs: &Path, hash: &str) -> PathBuf {
    let prefix = hash.get(..2).unwrap_or("00");
    thumbs.join(prefix).join(format!("{hash}.jpg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(category: &str, color: &str, price: Option<f64>) -> Product {
        Product {
            id: 0,
            sku: String::new(),
            title: String::new(),
            description: String::new(),
            category: category.into(),
            color: color.into(),
            price,
            attributes: Map::new(),
            origin: Origin::Csv,
            source: String::new(),
            images: Vec::new(),
        }
    }

    #[test]
    fn facets_count_every_category_level_and_each_colour_once_per_product() {
        let f = Facets::of(&[
            product("Women/Tops/Jackets", "Red, Blue", Some(40.0)),
            product("Women/Tops", "red", Some(12.5)),
            product("Gear/Bags", "", None),
        ]);
        assert_eq!(
            f.categories,
            vec![
                ("Gear".to_string(), 1),
                ("Gear/Bags".to_string(), 1),
                ("Women".to_string(), 2),
                ("Women/Tops".to_string(), 2),
                ("Women/Tops/Jackets".to_string(), 1),
            ]
        );
        assert_eq!(
            f.colors,
            vec![("Red".to_string(), 2), ("Blue".to_string(), 1)]
        );
        assert_eq!((f.min_price, f.max_price), (Some(12.5), Some(40.0)));
    }
}
