//! Where the app finds its catalog and models, and how it runs them: the command line, then the
//! environment (`VITRINE_CATALOG`, `VITRINE_MODELS`, `VITRINE_PRECISION`), then what Settings
//! saved, then the defaults.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager};
use vitrine::Catalog;
use vitrine::encoders::{DeviceChoice, Precision};
use vitrine::models::Models;

use crate::state::Location;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    catalog: Option<PathBuf>,
    models: Option<PathBuf>,
    device: Option<String>,
    #[serde(default)]
    precision: Option<String>,
}

const FILE: &str = "settings.json";

fn saved(app: &AppHandle) -> Saved {
    app.path()
        .app_config_dir()
        .ok()
        .and_then(|d| std::fs::read(d.join(FILE)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// A device or precision name, from the command line, the environment, Settings or the UI.
pub fn parse_setting<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T> {
    s.parse().map_err(|e: String| anyhow::anyhow!(e))
}

/// `cli` holds what the command line gave.
pub fn resolve(app: &AppHandle, cli: &crate::Args) -> Result<Location> {
    let s = saved(app);
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let catalog = match cli
        .catalog
        .clone()
        .or_else(|| env("VITRINE_CATALOG"))
        .or(s.catalog)
    {
        Some(c) => c,
        None => Catalog::default_dir()?,
    };
    let models = match cli
        .models_dir
        .clone()
        .or_else(|| env("VITRINE_MODELS"))
        .or(s.models)
    {
        Some(m) => m,
        None => Models::default_dir()?,
    };
    let device = match cli.device.clone().or(s.device) {
        Some(d) => parse_setting(&d)?,
        None => DeviceChoice::Auto,
    };
    let precision = match cli
        .precision
        .clone()
        .or_else(|| {
            std::env::var("VITRINE_PRECISION")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .or(s.precision)
    {
        Some(p) => parse_setting(&p)?,
        None => Precision::F32,
    };
    Ok(Location {
        catalog,
        models,
        device,
        precision,
    })
}

pub fn save(app: &AppHandle, loc: &Location) -> Result<()> {
    let dir = app.path().app_config_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let s = Saved {
        catalog: Some(loc.catalog.clone()),
        models: Some(loc.models.clone()),
        device: Some(format!("{:?}", loc.device).to_lowercase()),
        precision: Some(loc.precision.name().to_string()),
    };
    let path = dir.join(FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(&s)?)
        .with_context(|| format!("cannot write {}", path.display()))
}
