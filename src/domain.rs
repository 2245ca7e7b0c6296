//! The catalog's domain types: products, photos, import runs and what an import skipped, with
//! the small typed values they carry. A leaf module: the store, import, search and the shells
//! all speak these types, and it depends on none of them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a product came from: a row of a CSV, or a photo found in a folder.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

/// Attribute columns whose values describe a product in words a shopper may type, by name
/// lower-cased without spaces or punctuation ("Brand", "Material", Shopify's "Vendor" and
/// "Tags"). Their values are searched as keywords and read by the product-text model; other
/// attributes (sizes, codes, links) only filter.
pub const DESCRIPTIVE_ATTRIBUTES: [&str; 20] = [
    "brand",
    "vendor",
    "manufacturer",
    "maker",
    "material",
    "materials",
    "fabric",
    "composition",
    "tags",
    "tag",
    "keywords",
    "gender",
    "style",
    "pattern",
    "collection",
    "subcategory",
    "season",
    "occasion",
    "fit",
    "features",
];

/// A column's name as columns are compared: lower-cased, without spaces or punctuation
/// ("Variant SKU" → "variantsku").
pub fn column_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The values of `attributes` that describe the product ([`DESCRIPTIVE_ATTRIBUTES`]), with
/// their names as written, in the map's order.
pub fn descriptive_attributes(attributes: &Map<String, Value>) -> Vec<(&str, &str)> {
    attributes
        .iter()
        .filter_map(|(name, value)| {
            let text = value.as_str()?.trim();
            (DESCRIPTIVE_ATTRIBUTES.contains(&column_key(name).as_str()) && !text.is_empty())
                .then_some((name.as_str(), text))
        })
        .collect()
}

/// The values of the descriptive attributes, space-separated: the keyword field they make.
pub fn descriptive_words(attributes: &Map<String, Value>) -> String {
    let values: Vec<&str> = descriptive_attributes(attributes)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    values.join(" ")
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub phash: Option<PHash>,
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Category prefix: `Women/Tops` matches `Women/Tops` and `Women/Tops/Jackets`.
    pub category: Option<String>,
    pub limit: Option<usize>,
    pub offset: usize,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct ImportRun {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: ImportStatus,
    pub sources: Vec<String>,
    pub counts: Map<String, Value>,
    pub errors: i64,
}

/// An item an import skipped, and why.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportErrorRecord {
    /// The file (or CSV file) concerned.
    pub item: String,
    /// The CSV line, 1-based, counting the header.
    pub line: Option<i64>,
    /// A stable code for the reason, e.g. `corrupt_image` or `bad_price`.
    pub kind: SkipKind,
    pub message: String,
}

/// Enums whose values are stable codes: the same string in SQLite, in JSON and in messages.
/// (Used by `error` too, which `lib.rs` declares after this module.)
macro_rules! codes {
    ($(#[$m:meta])* pub enum $t:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum $t {
            $($(#[$vm])* #[serde(rename = $s)] $v,)*
        }
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $s,)*
                }
            }
            /// The value with this code, if there is one.
            pub fn from_code(s: &str) -> Option<$t> {
                match s {
                    $($s => Some($t::$v),)*
                    _ => None,
                }
            }
        }
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

codes! {
    /// The state of an import run.
    pub enum ImportStatus {
        Running = "running",
        Completed = "completed",
        Cancelled = "cancelled",
        /// The process ended (killed, crashed) before the run finished.
        Interrupted = "interrupted",
    }
}

#[allow(clippy::derivable_impls)]
impl Default for ImportStatus {
    fn default() -> Self {
        ImportStatus::Running
    }
}

codes! {
    /// Which kind of item an embedding (and a nearest-neighbour index) belongs to.
    pub enum OwnerKind {
        /// A photo (CLIP vectors), keyed by image id.
        Image = "image",
        /// A product's text (sentence-embedding vectors), keyed by product id.
        Product = "product",
        /// A passage of a product's text (sentence-embedding vectors), keyed by passage id.
        Passage = "passage",
    }
}

codes! {
    /// Why an import skipped an item: the stable code stored with the error.
    pub enum SkipKind {
        UnreadableFile = "unreadable_file",
        NotAnImage = "not_an_image",
        TooManyPixels = "too_many_pixels",
        FileTooLarge = "file_too_large",
        TruncatedImage = "truncated_image",
        CorruptImage = "corrupt_image",
        ThumbnailFailed = "thumbnail_failed",
        OddFileName = "odd_file_name",
        RemoteImage = "remote_image",
        /// A CSV's photo outside the CSV's folder and the imported folders, or a link out of
        /// an imported folder (allowed with `allow_outside`).
        OutsideImport = "outside_import",
        ImageNotFound = "image_not_found",
        AmbiguousImage = "ambiguous_image",
        EmptyCsv = "empty_csv",
        MalformedCsv = "malformed_csv",
        UnmappedColumns = "unmapped_columns",
        EmptyRow = "empty_row",
        MalformedRow = "malformed_row",
        /// A CSV column named like an earlier one, not read.
        DuplicateColumn = "duplicate_column",
        MissingSku = "missing_sku",
        BadPrice = "bad_price",
        DuplicateSku = "duplicate_sku",
        /// The model gave NaN or infinite numbers: it is broken.
        BadEmbedding = "bad_embedding",
        /// A code this build does not know (written by another version).
        Other = "other",
    }
}

/// A 64-bit perceptual hash of a photo (see [`crate::phash`]). Stored and serialised as the
/// signed 64-bit integer SQLite holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "i64", into = "i64")]
pub struct PHash(pub u64);

impl PHash {
    /// Differing bits between two hashes.
    pub fn distance(self, other: PHash) -> u32 {
        (self.0 ^ other.0).count_ones()
    }
}

impl From<i64> for PHash {
    fn from(v: i64) -> PHash {
        PHash(v as u64)
    }
}

impl From<PHash> for i64 {
    fn from(h: PHash) -> i64 {
        h.0 as i64
    }
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

    #[test]
    fn codes_read_back_and_serialise_as_their_strings() {
        for k in [SkipKind::BadPrice, SkipKind::OddFileName, SkipKind::Other] {
            assert_eq!(SkipKind::from_code(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(SkipKind::from_code("nonsense"), None);
        assert_eq!(ImportStatus::Completed, "completed");
        assert_eq!(serde_json::to_value(OwnerKind::Image).unwrap(), "image");
    }

    #[test]
    fn a_perceptual_hash_serialises_as_the_stored_signed_integer() {
        let h = PHash(u64::MAX - 1);
        assert_eq!(serde_json::to_value(h).unwrap(), -2);
        assert_eq!(serde_json::from_value::<PHash>((-2).into()).unwrap(), h);
        assert_eq!(PHash(0b1011).distance(PHash(0b0001)), 2);
    }
}
