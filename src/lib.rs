//! Vitrine's core: the product catalog, its store, import, and (in later modules) encoders,
//! index, search, duplicates and evaluation. No GUI code lives here; the CLI and the desktop
//! app both call this API.

pub mod catalog;
pub mod duplicates;
pub mod embed;
pub mod encoders;
pub mod error;
pub mod eval;
pub mod import;
pub mod index;
pub mod models;
pub mod phash;
pub mod photo;
pub mod query;
pub mod search;
mod store;

pub use catalog::{
    Catalog, Facets, Image, ImportErrorRecord, ImportRun, Origin, Product, ProductFilter, Stats,
};
pub use error::{Error, Result};
pub use import::{Field, ImportEvent, ImportOptions, ImportReport, MissingItem};
