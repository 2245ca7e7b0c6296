//! The names of the events the app sends to the UI, in one place (`ui/src/api.ts` listens).

/// A long job's progress ([`crate::jobs::Progress`]), about ten a second.
pub const JOB_PROGRESS: &str = "job";
/// A long job ended ([`crate::jobs::Done`]).
pub const JOB_DONE: &str = "job-done";
/// The catalog's contents changed (an import ran): views showing it reload.
pub const CATALOG_CHANGED: &str = "catalog-changed";
