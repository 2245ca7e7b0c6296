//! Reading files a user names, safely: only regular files (a device such as `/dev/zero`, a
//! named pipe or a socket would never end, or block), and never more than a limit. And the
//! temporary names that files are written under before they are renamed into place.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Query files (evaluation sets) are read whole up to this size.
pub const MAX_QUERY_FILE_BYTES: u64 = 64 << 20;
/// Product CSVs are read whole up to this size.
pub const MAX_CSV_BYTES: u64 = 1 << 30;

/// Why a path cannot be read as a file.
pub fn not_regular(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() || m.is_dir() => None,
        Ok(_) => Some(format!(
            "{}: not a regular file (a device, pipe or socket); give a file or a folder",
            path.display()
        )),
        Err(_) => None,
    }
}

/// A fresh name beside `path` to write it under before renaming it into place: unique to this
/// process and this call, so that two threads (two photos with the same content share one
/// thumbnail) or two processes writing the same file never write into each other's.
pub fn temp_beside(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Reads a regular file of at most `limit` bytes; anything else is a clear error.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::InvalidInput(not_regular(path).unwrap_or_else(
            || format!("{}: a folder, not a file", path.display()),
        )));
    }
    let too_large = || {
        Error::InvalidInput(format!(
            "{}: the file is over the limit of {} MB",
            path.display(),
            limit >> 20
        ))
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: stop one byte past the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_folders_and_large_files_are_refused() {
        let err = read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        assert!(read_regular(dir.path(), 10).is_err());
        let f = dir.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"12345");
        let err = read_regular(&f, 4).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
    }
}
