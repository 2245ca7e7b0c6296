//! Finding photos in folders.

use std::path::{Path, PathBuf};

use crate::domain::{ImportErrorRecord, SkipKind};
use crate::photo::has_photo_extension;

/// A photo file found under a scanned folder.
#[derive(Debug, Clone)]
pub struct FoundPhoto {
    /// Absolute path, valid UTF-8.
    pub path: PathBuf,
    /// Path relative to the scanned folder, with `/` between parts.
    pub rel: String,
    /// The scanned folder.
    pub root: PathBuf,
}

/// Why a file name cannot be used, if it cannot: it must be UTF-8 without control characters.
pub fn odd_name(path: &Path) -> Option<String> {
    match path.to_str() {
        None => Some(format!(
            "the file name is not valid UTF-8 ({}); rename the file",
            path.to_string_lossy()
        )),
        Some(s) if s.chars().any(char::is_control) => Some(format!(
            "the file name contains control characters ({}); rename the file",
            s.escape_debug()
        )),
        Some(_) => None,
    }
}

/// Walks `root` (canonical) recursively for photo files, skipping hidden folders. Links are
/// followed only while they stay inside `root`, unless `allow_outside`; each link out is
/// reported once and not entered.
pub fn scan_folder(
    root: &Path,
    allow_outside: bool,
    errors: &mut Vec<ImportErrorRecord>,
) -> Vec<FoundPhoto> {
    let mut found = Vec::new();
    let mut outside = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.') {
                return false;
            }
            if allow_outside || !e.path_is_symlink() {
                return true;
            }
            let inside = std::fs::canonicalize(e.path()).is_ok_and(|t| t.starts_with(root));
            if !inside {
                outside.push(ImportErrorRecord {
                    item: e.path().to_string_lossy().to_string(),
                    line: None,
                    kind: SkipKind::OutsideImport,
                    message: "a link to outside the imported folder, not followed; import its target folder too, or allow links out (--allow-outside)".into(),
                });
            }
            inside
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.push(ImportErrorRecord {
                    item: e
                        .path()
                        .map(|p| p.to_string_lossy().to_string())
                        .unwrap_or_else(|| root.to_string_lossy().to_string()),
                    line: None,
                    kind: SkipKind::UnreadableFile,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let lossy = PathBuf::from(path.to_string_lossy().to_string());
        if !has_photo_extension(&lossy) {
            continue;
        }
        if let Some(why) = odd_name(path) {
            errors.push(ImportErrorRecord {
                item: lossy.to_string_lossy().to_string(),
                line: None,
                kind: SkipKind::OddFileName,
                message: why,
            });
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        found.push(FoundPhoto {
            path: path.to_path_buf(),
            rel,
            root: root.to_path_buf(),
        });
    }
    errors.append(&mut outside);
    found
}
