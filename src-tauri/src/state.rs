//! What the app holds between commands: the open catalog, its searcher, query photos and
//! prepared queries, and the one long job that may be running.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use anyhow::{Context, Result};
use vitrine::Workspace;
use vitrine::encoders::{DeviceChoice, Precision};
use vitrine::models::Models;
use vitrine::search::{Prepared, Searcher};
use vitrine::workspace::Settings;

/// Where the app looks for its catalog and models, and where and how the encoders run.
#[derive(Debug, Clone)]
pub struct Location {
    pub catalog: PathBuf,
    pub models: PathBuf,
    pub device: DeviceChoice,
    pub precision: Precision,
}

impl Location {
    /// Opens the catalog here with its models (a new connection; jobs use their own).
    pub fn open(&self) -> Result<Workspace> {
        let settings = Settings {
            models_dir: self.models.clone(),
            device: self.device,
            precision: self.precision,
        };
        Workspace::open(&self.catalog, settings)
            .with_context(|| format!("cannot open the catalog at {}", self.catalog.display()))
    }
}

/// A small most-recent-first cache keyed by id.
pub struct Recent<T> {
    items: VecDeque<(u64, Arc<T>)>,
    cap: usize,
}

impl<T> Recent<T> {
    pub fn new(cap: usize) -> Self {
        Recent {
            items: VecDeque::new(),
            cap,
        }
    }
    pub fn put(&mut self, id: u64, v: T) -> Arc<T> {
        let v = Arc::new(v);
        self.items.push_front((id, v.clone()));
        self.items.truncate(self.cap);
        v
    }
    pub fn get(&self, id: u64) -> Option<Arc<T>> {
        self.items
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.clone())
    }
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

/// A photo given as a query (dropped, pasted or picked).
pub struct QueryPhoto {
    pub bytes: Vec<u8>,
}

/// The running long job, if any.
pub struct Job {
    pub kind: &'static str,
    pub cancel: Arc<AtomicBool>,
}

pub struct AppState {
    location: RwLock<Location>,
    /// For reads from commands; jobs open their own connection, and the searcher holds what
    /// it searches in memory.
    workspace: Mutex<Workspace>,
    searcher: RwLock<Option<Arc<Searcher>>>,
    /// Serialises searcher loads, so that two first searches load the encoders once.
    loading: Mutex<()>,
    pub prepared: Mutex<Recent<Prepared>>,
    pub photos: Mutex<Recent<QueryPhoto>>,
    pub job: Mutex<Option<Job>>,
    next_id: AtomicU64,
}

impl AppState {
    pub fn open(location: Location) -> Result<AppState> {
        let workspace = location.open()?;
        Ok(AppState {
            location: RwLock::new(location),
            workspace: Mutex::new(workspace),
            searcher: RwLock::new(None),
            loading: Mutex::new(()),
            prepared: Mutex::new(Recent::new(16)),
            photos: Mutex::new(Recent::new(8)),
            job: Mutex::new(None),
            next_id: AtomicU64::new(1),
        })
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn location(&self) -> Location {
        read(&self.location).clone()
    }

    pub fn workspace(&self) -> MutexGuard<'_, Workspace> {
        self.workspace.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn models(&self) -> Result<Models> {
        Ok(self.workspace().models()?)
    }

    /// Switches to another catalog folder (created if new), models folder, device or precision.
    pub fn relocate(&self, location: Location) -> Result<()> {
        *self.workspace() = location.open()?;
        *self.location.write().unwrap_or_else(|e| e.into_inner()) = location;
        self.forget_searcher();
        Ok(())
    }

    /// The searcher, loading the encoders and vectors on first use.
    pub fn searcher(&self) -> Result<Arc<Searcher>> {
        if let Some(s) = read(&self.searcher).as_ref() {
            return Ok(s.clone());
        }
        let _one = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = read(&self.searcher).as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(self.workspace().searcher()?);
        self.set_searcher(s.clone());
        Ok(s)
    }

    pub fn loaded_searcher(&self) -> Option<Arc<Searcher>> {
        read(&self.searcher).clone()
    }

    /// A searcher built elsewhere (after an import) replaces the current one.
    pub fn set_searcher(&self, s: Arc<Searcher>) {
        *self.searcher.write().unwrap_or_else(|e| e.into_inner()) = Some(s);
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Drops the searcher: the next search reloads the catalog and the models.
    pub fn forget_searcher(&self) {
        *self.searcher.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keeps_the_newest_and_forgets_beyond_its_capacity() {
        let mut r = Recent::new(2);
        r.put(1, "a");
        r.put(2, "b");
        r.put(3, "c");
        assert!(r.get(1).is_none());
        assert_eq!(r.get(2).as_deref(), Some(&"b"));
        assert_eq!(r.get(3).as_deref(), Some(&"c"));
        r.clear();
        assert!(r.get(3).is_none());
    }
}
