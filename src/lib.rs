//! Vitrine's core: the product catalog and its store, import, encoders, nearest-neighbour
//! index, search, duplicates and evaluation. No GUI or command-line code lives here; the CLI
//! (`cli/`) and the desktop app (`src-tauri/`) both call this API, usually through
//! [`Workspace`].
//!
//! Data flows one way: [`import`] → store → [`embed`] (with the models [`model_choice`]
//! picks) → [`vectors`] and [`index`] → [`search`] / [`duplicates`] → the shells.

pub mod catalog;
mod colour;
#[macro_use]
pub mod domain;
pub mod download;
pub mod duplicates;
pub mod embed;
pub mod encoders;
pub mod error;
pub mod eval;
pub mod files;
pub mod fusion;
pub mod hubness;
pub mod import;
pub mod index;
pub mod judgements;
pub mod language;
mod lexicon;
pub mod model_choice;
pub mod models;
pub mod phash;
pub mod photo;
pub mod price;
pub mod query;
pub mod search;
pub mod spreadsheet;
mod store;
pub mod tune;
pub mod vectors;
pub mod workspace;

pub use catalog::Catalog;
pub use domain::{
    Facets, Image, ImportErrorRecord, ImportRun, ImportStatus, Origin, OwnerKind, PHash, Product,
    ProductFilter, SkipKind, Stats,
};
pub use error::{Error, ErrorCode, Result};
pub use import::{Field, ImportEvent, ImportOptions, ImportReport, MissingItem};
pub use store::ProductData;
pub use workspace::Workspace;
