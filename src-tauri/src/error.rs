//! Errors as the UI receives them: a stable code to react to and a sentence to show.

use serde::Serialize;

/// A command's error: `code` is the core's error code (`model_missing`, `bad_input`…), or
/// `app` for the shell's own conditions (a job already running, an expired query).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CmdError {
    pub code: &'static str,
    pub message: String,
}

pub type CmdResult<T> = Result<T, CmdError>;

impl CmdError {
    /// An error of the app itself, with its sentence.
    pub fn app(message: impl Into<String>) -> CmdError {
        CmdError {
            code: "app",
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for CmdError {
    fn from(e: anyhow::Error) -> CmdError {
        let code = e
            .chain()
            .find_map(|c| c.downcast_ref::<vitrine::Error>())
            .map_or("app", |v| v.code().as_str());
        CmdError {
            code,
            message: format!("{e:#}"),
        }
    }
}

impl From<vitrine::Error> for CmdError {
    fn from(e: vitrine::Error) -> CmdError {
        CmdError {
            code: e.code().as_str(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_keep_their_code_through_context() {
        let e = anyhow::Error::from(vitrine::Error::UnknownSku("X".into())).context("opening");
        let c = CmdError::from(e);
        assert_eq!(c.code, "unknown_sku");
        assert!(c.message.starts_with("opening: "), "{}", c.message);
        assert_eq!(CmdError::from(anyhow::anyhow!("busy")).code, "app");
    }
}
