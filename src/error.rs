//! Errors of the core library.

use std::path::PathBuf;

/// Everything the core can fail with. Messages are written for the person using the app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("catalog store error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the catalog at {path} was written by a newer Vitrine (schema {found}, this build knows {known}); update Vitrine to open it"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    #[error("no product with SKU {0:?}")]
    UnknownSku(String),

    #[error("{0}")]
    InvalidInput(String),

    #[error("could not find a place for the catalog: set --catalog DIR or VITRINE_CATALOG")]
    NoDefaultLocation,

    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),

    #[error("model error: {0}")]
    Model(String),

    #[error("{0}")]
    ModelMissing(String),

    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
