//! Errors of the core library.

use std::path::PathBuf;

/// Everything the core can fail with. Messages are written for the person using the app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not marked as the source: its text is already in the message, and error chains would
    /// print it twice.
    #[error("catalog store error: {0}")]
    Sqlite(rusqlite::Error),

    #[error(
        "the catalog database {path} is damaged ({why}). Nothing was changed. Keep a copy of the catalog folder before any repair; SQLite's `.recover` command (sqlite3 {path} .recover) can save what is left into a new file"
    )]
    CatalogDamaged { path: PathBuf, why: String },

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

    /// A model file could not be fetched.
    #[error("{0}")]
    Download(String),

    /// The user stopped the work.
    #[error("{0}")]
    Cancelled(String),

    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

codes! {
    /// The kind of an error, as a stable code the CLI and the app react to (never the text).
    pub enum ErrorCode {
        /// Something the user gave (a value, a file, a query) cannot be used.
        BadInput = "bad_input",
        /// No product has that SKU.
        UnknownSku = "unknown_sku",
        /// A model's files are not there.
        ModelMissing = "model_missing",
        /// A model is there but cannot be loaded or run (damaged, wrong kind, bad weights).
        ModelBroken = "model_broken",
        /// The catalog's database is damaged.
        CatalogCorrupt = "catalog_corrupt",
        /// The catalog was written by a newer Vitrine.
        CatalogTooNew = "catalog_too_new",
        /// The catalog is in use by another program and stayed locked.
        CatalogBusy = "catalog_busy",
        /// A model file could not be downloaded (network, server, or a damaged transfer).
        Download = "download_failed",
        /// The user cancelled the work.
        Cancelled = "cancelled",
        /// Reading or writing a file failed.
        Io = "io",
        /// Anything else inside the catalog store.
        Store = "store",
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Sqlite(e)
    }
}

impl Error {
    /// The stable code of this error's kind.
    pub fn code(&self) -> ErrorCode {
        use rusqlite::ErrorCode as Sq;
        match self {
            Error::Sqlite(e) => match e.sqlite_error_code() {
                Some(Sq::DatabaseCorrupt | Sq::NotADatabase) => ErrorCode::CatalogCorrupt,
                Some(Sq::DatabaseBusy | Sq::DatabaseLocked) => ErrorCode::CatalogBusy,
                _ => ErrorCode::Store,
            },
            Error::CatalogDamaged { .. } => ErrorCode::CatalogCorrupt,
            Error::Io { .. } | Error::NoDefaultLocation => ErrorCode::Io,
            Error::SchemaTooNew { .. } => ErrorCode::CatalogTooNew,
            Error::UnknownSku(_) => ErrorCode::UnknownSku,
            Error::InvalidInput(_) | Error::Json(_) | Error::Csv(_) => ErrorCode::BadInput,
            Error::Model(_) => ErrorCode::ModelBroken,
            Error::ModelMissing(_) => ErrorCode::ModelMissing,
            Error::Download(_) => ErrorCode::Download,
            Error::Cancelled(_) => ErrorCode::Cancelled,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_error_has_its_code() {
        assert_eq!(Error::UnknownSku("X".into()).code().as_str(), "unknown_sku");
        assert_eq!(
            Error::ModelMissing("m".into()).code(),
            ErrorCode::ModelMissing
        );
        assert_eq!(Error::InvalidInput("x".into()).code().as_str(), "bad_input");
        let corrupt = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        );
        assert_eq!(Error::from(corrupt).code().as_str(), "catalog_corrupt");
    }
}
