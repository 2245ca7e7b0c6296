//! The commands the web UI calls, by domain. Each is a thin wrapper over the core API; work that
//! takes more than a moment runs on a blocking thread, never on the UI's main thread. Errors
//! cross as `{code, message}` ([`CmdError`]).

pub mod catalog;
pub mod dupes;
pub mod jobs;
pub mod models;
pub mod quality;
pub mod search;

use crate::error::{CmdError, CmdResult};

/// Runs `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> CmdResult<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| CmdError::app(e.to_string()))?
        .map_err(CmdError::from)
}
