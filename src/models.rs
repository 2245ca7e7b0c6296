//! The model registry: which models Vitrine knows (the manifests in `models/`, plus folders a
//! user registers), where their files live, checking them, and downloading them from the
//! Hugging Face hub.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::download::{Fetch, Hub};
use crate::encoders::{ClipEncoder, DeviceChoice, Precision, TextEncoder, clip, open_clip, text};

/// The `architecture` of manifests for OpenCLIP's SigLIP layout (Marqo's models).
pub const OPEN_CLIP_ARCHITECTURE: &str = "OpenCLIP-SigLIP";
use crate::error::{Error, Result};

/// The manifests shipped in `models/`.
const BUILT_IN: &[&str] = &[
    include_str!("../models/clip-vit-base-patch32.json"),
    include_str!("../models/clip-vit-base-patch16.json"),
    include_str!("../models/clip-vit-b-32-laion2b.json"),
    include_str!("../models/siglip2-base-patch16-224.json"),
    include_str!("../models/marqo-ecommerce-embeddings-b.json"),
    include_str!("../models/marqo-ecommerce-embeddings-l.json"),
    include_str!("../models/all-minilm-l6-v2.json"),
];

/// The file a download leaves in a model folder: every file's checksum as downloaded, for the
/// files whose manifest could not pin one.
const LOCK_FILE: &str = "vitrine-lock.json";

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Images and text into one space.
    Clip,
    /// Product text (a sentence-transformers model).
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub display_name: String,
    pub kind: ModelKind,
    /// Hugging Face repository; empty for a folder the user registered.
    #[serde(default)]
    pub hf_repo: String,
    #[serde(default)]
    pub revision: String,
    /// Sub-folder of the models folder holding the files.
    #[serde(default)]
    pub folder: String,
    /// Absolute folder of a model registered with `models add`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    pub architecture: String,
    pub embedding_dim: usize,
    /// About how many megabytes a download fetches (for the app to say before it starts).
    #[serde(default)]
    pub download_mb: Option<u32>,
    #[serde(default)]
    pub licence: String,
    #[serde(default)]
    pub default: bool,
    /// Understands queries in many languages.
    #[serde(default)]
    pub multilingual: bool,
    /// The languages it reads, in words.
    #[serde(default)]
    pub languages: String,
    /// What it is good at, in a merchant's words.
    #[serde(default)]
    pub good_at: String,
    pub files: Vec<ManifestFile>,
    #[serde(default)]
    pub notes: String,
}

/// One file's check against its expected checksum.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileCheck {
    Ok {
        name: String,
    },
    Missing {
        name: String,
    },
    Mismatch {
        name: String,
        expected: String,
        actual: String,
    },
    /// No checksum to compare with (not pinned and not downloaded by Vitrine).
    Unpinned {
        name: String,
        actual: String,
    },
}

impl FileCheck {
    pub fn is_bad(&self) -> bool {
        matches!(self, FileCheck::Missing { .. } | FileCheck::Mismatch { .. })
    }
}

/// Where models live, and which ones are known.
#[derive(Debug, Clone)]
pub struct Models {
    dir: PathBuf,
    manifests: Vec<Manifest>,
    precision: Precision,
    hub: Hub,
}

pub fn built_in() -> Vec<Manifest> {
    BUILT_IN
        .iter()
        .map(|s| serde_json::from_str(s).expect("built-in manifests are valid (checked by a test)"))
        .collect()
}

impl Models {
    /// `dir`: the models folder (`--models-dir`, `VITRINE_MODELS`, or [`Models::default_dir`]).
    /// `added`: models registered with `models add`.
    pub fn new(dir: impl Into<PathBuf>, added: Vec<Manifest>) -> Models {
        let mut manifests = built_in();
        for a in added {
            manifests.retain(|m| m.id != a.id);
            manifests.push(a);
        }
        Models {
            dir: dir.into(),
            manifests,
            precision: Precision::F32,
            hub: Hub::from_env(),
        }
    }

    /// Downloads come from `hub` (by default the Hugging Face hub, or `HF_ENDPOINT`).
    pub fn with_hub(mut self, hub: Hub) -> Models {
        self.hub = hub;
        self
    }

    /// CLIP models load with `p` (f32 by default).
    pub fn with_precision(mut self, p: Precision) -> Models {
        self.precision = p;
        self
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn default_dir() -> Result<PathBuf> {
        directories::ProjectDirs::from("app", "Vitrine", "vitrine")
            .map(|d| d.data_dir().join("models"))
            .ok_or(Error::NoDefaultLocation)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifests(&self) -> &[Manifest] {
        &self.manifests
    }

    pub fn get(&self, id: &str) -> Result<&Manifest> {
        self.manifests.iter().find(|m| m.id == id).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no model {id:?}; known models: {}",
                self.manifests
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// The default model of a kind.
    pub fn default_for(&self, kind: ModelKind) -> Option<&Manifest> {
        self.manifests.iter().find(|m| m.kind == kind && m.default)
    }

    pub fn folder(&self, m: &Manifest) -> PathBuf {
        m.path.clone().unwrap_or_else(|| self.dir.join(&m.folder))
    }

    fn required(m: &Manifest) -> &'static [&'static str] {
        match m.kind {
            ModelKind::Clip if m.architecture == OPEN_CLIP_ARCHITECTURE => {
                open_clip::REQUIRED_FILES
            }
            ModelKind::Clip => clip::REQUIRED_FILES,
            ModelKind::Text => text::REQUIRED_FILES,
        }
    }

    /// The files the model needs that are not in its folder.
    pub fn missing_files(&self, m: &Manifest) -> Vec<&'static str> {
        let dir = self.folder(m);
        Self::required(m)
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .collect()
    }

    pub fn is_present(&self, m: &Manifest) -> bool {
        self.missing_files(m).is_empty()
    }

    /// What to tell someone whose model is not there.
    pub fn how_to_get(&self, m: &Manifest) -> String {
        let dir = self.folder(m);
        let missing = self.missing_files(m).join(", ");
        if m.path.is_some() {
            format!(
                "model {} is missing {missing} in {}; put the files back or register the folder again with `vitrine models add --path DIR`",
                m.id,
                dir.display()
            )
        } else {
            format!(
                "model {} ({}) is not downloaded (missing {missing} in {}). Get it with `vitrine models download {}`, \
                 or copy the files of https://huggingface.co/{} into that folder, or point --models-dir (VITRINE_MODELS) at a folder that has them",
                m.id,
                m.display_name,
                dir.display(),
                m.id,
                m.hf_repo
            )
        }
    }

    fn expected_sums(&self, m: &Manifest) -> HashMap<String, String> {
        let mut sums: HashMap<String, String> = serde_json::from_slice::<HashMap<String, String>>(
            &std::fs::read(self.folder(m).join(LOCK_FILE)).unwrap_or_default(),
        )
        .unwrap_or_default();
        for f in &m.files {
            if let Some(s) = &f.sha256 {
                sums.insert(f.name.clone(), s.clone());
            }
        }
        sums
    }

    /// Checks every file of the model against its checksum.
    pub fn verify(&self, m: &Manifest) -> Result<Vec<FileCheck>> {
        let dir = self.folder(m);
        let sums = self.expected_sums(m);
        let mut out = Vec::new();
        for f in &m.files {
            let path = dir.join(&f.name);
            if !path.is_file() {
                out.push(FileCheck::Missing {
                    name: f.name.clone(),
                });
                continue;
            }
            let actual = sha256_file(&path)?;
            out.push(match sums.get(&f.name) {
                Some(exp) if exp.eq_ignore_ascii_case(&actual) => FileCheck::Ok {
                    name: f.name.clone(),
                },
                Some(exp) => FileCheck::Mismatch {
                    name: f.name.clone(),
                    expected: exp.clone(),
                    actual,
                },
                None => FileCheck::Unpinned {
                    name: f.name.clone(),
                    actual,
                },
            });
        }
        Ok(out)
    }

    /// Present and matching its checksums, else a clear error. Checksums are cached by file
    /// size and time, so a model is hashed once, not at every start.
    fn check_before_load(&self, m: &Manifest) -> Result<PathBuf> {
        if !self.is_present(m) {
            return Err(Error::ModelMissing(self.how_to_get(m)));
        }
        let dir = self.folder(m);
        let sums = self.expected_sums(m);
        for f in &m.files {
            let Some(expected) = sums.get(&f.name) else {
                continue;
            };
            let path = dir.join(&f.name);
            if !path.is_file() {
                continue;
            }
            let actual = vouched_sha256(&path, expected)?;
            if !expected.eq_ignore_ascii_case(&actual) {
                let fix = if m.path.is_some() {
                    format!(
                        "Put the original file back in {}, or register the folder again with `vitrine models add --path DIR` if it changed on purpose",
                        dir.display()
                    )
                } else {
                    format!(
                        "Download the model again with `vitrine models download {}`",
                        m.id
                    )
                };
                return Err(Error::Model(format!(
                    "{}: checksum mismatch (expected sha256 {expected}, found {actual}); the file is damaged or not the one registered. {fix}",
                    path.display(),
                )));
            }
        }
        Ok(dir)
    }

    pub fn load_clip(&self, m: &Manifest, device: DeviceChoice) -> Result<ClipEncoder> {
        self.load_clip_on(m, &device.device()?)
    }

    pub(crate) fn load_clip_on(
        &self,
        m: &Manifest,
        device: &candle_core::Device,
    ) -> Result<ClipEncoder> {
        if m.kind != ModelKind::Clip {
            return Err(Error::InvalidInput(format!("{} is not a CLIP model", m.id)));
        }
        ClipEncoder::load_on(&self.check_before_load(m)?, device, self.precision)
    }

    pub fn load_text(&self, m: &Manifest, device: DeviceChoice) -> Result<TextEncoder> {
        self.load_text_on(m, &device.device()?)
    }

    pub(crate) fn load_text_on(
        &self,
        m: &Manifest,
        device: &candle_core::Device,
    ) -> Result<TextEncoder> {
        if m.kind != ModelKind::Text {
            return Err(Error::InvalidInput(format!(
                "{} is not a product-text model",
                m.id
            )));
        }
        TextEncoder::load_on(&self.check_before_load(m)?, device)
    }

    /// A manifest for a model folder that is not in the registry (a fine-tuned model, say):
    /// Hugging Face layout, or OpenCLIP's SigLIP layout. Its kind and size come from its
    /// configuration; the checksums taken now guard it from later damage.
    pub fn describe_folder(dir: &Path, id: Option<&str>) -> Result<Manifest> {
        let dir = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
        let open_clip = open_clip::is_open_clip(&dir);
        let cfg_path = dir.join(if open_clip {
            open_clip::CONFIG
        } else {
            "config.json"
        });
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?)
                .map_err(|e| Error::Model(format!("{}: {e}", cfg_path.display())))?;
        let mut arch = cfg["architectures"][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let model_type = cfg["model_type"].as_str().unwrap_or_default();
        // A tokenizer of 100,000 tokens or more is multilingual (SigLIP 2's and mSigLIP's have
        // about 250,000; English SigLIP's 32,000).
        let mut multilingual = false;
        let (kind, dim) = if open_clip {
            arch = OPEN_CLIP_ARCHITECTURE.into();
            (
                ModelKind::Clip,
                cfg["model_cfg"]["embed_dim"].as_u64().unwrap_or(0) as usize,
            )
        } else if arch.starts_with("CLIP") || model_type == "clip" {
            (
                ModelKind::Clip,
                cfg["projection_dim"].as_u64().unwrap_or(0) as usize,
            )
        } else if model_type == "siglip" {
            let dim = match clip::read_config(&dir)? {
                clip::Architecture::Siglip(c) => {
                    multilingual = c.text_config.vocab_size >= 100_000;
                    c.embedding_dim().map_err(Error::Model)?
                }
                clip::Architecture::Clip(c) => c.projection_dim,
            };
            (ModelKind::Clip, dim)
        } else if model_type == "bert" || arch.starts_with("Bert") {
            (
                ModelKind::Text,
                cfg["hidden_size"].as_u64().unwrap_or(0) as usize,
            )
        } else {
            return Err(Error::Model(format!(
                "{}: architecture {arch:?} (model_type {model_type:?}) is not supported; Vitrine runs CLIP, SigLIP and BERT models",
                cfg_path.display()
            )));
        };
        if let Some(given) = id
            && (given.trim().is_empty()
                || given.trim() != given
                || given.contains(['/', '\\'])
                || given.chars().any(char::is_control))
        {
            return Err(Error::InvalidInput(format!(
                "{given:?} cannot be a model id: give a name without slashes or surrounding spaces"
            )));
        }
        let id = id
            .map(str::to_string)
            .or_else(|| dir.file_name().map(|n| n.to_string_lossy().to_lowercase()))
            .unwrap_or_else(|| "local-model".into());
        let required = match kind {
            ModelKind::Clip if open_clip => open_clip::REQUIRED_FILES,
            ModelKind::Clip => clip::REQUIRED_FILES,
            ModelKind::Text => text::REQUIRED_FILES,
        };
        let mut files = Vec::new();
        for name in required {
            let p = dir.join(name);
            if !p.is_file() {
                return Err(Error::Model(format!(
                    "{}: {name} is missing",
                    dir.display()
                )));
            }
            files.push(ManifestFile {
                name: name.to_string(),
                sha256: Some(sha256_file(&p)?),
            });
        }
        Ok(Manifest {
            display_name: format!("{id} (local folder)"),
            id,
            kind,
            hf_repo: String::new(),
            revision: String::new(),
            folder: String::new(),
            path: Some(dir),
            architecture: arch,
            embedding_dim: dim,
            download_mb: None,
            licence: String::new(),
            default: false,
            multilingual,
            languages: String::new(),
            good_at: String::new(),
            files,
            notes: String::new(),
        })
    }

    /// Downloads the model's files from the hub into its folder, each checked against its
    /// checksum before it is installed; an interrupted download resumes. `progress(file,
    /// done_bytes, total_bytes)`; `cancel` stops it between two reads.
    pub fn download(
        &self,
        m: &Manifest,
        progress: &mut dyn FnMut(&str, u64, u64),
        cancel: &AtomicBool,
    ) -> Result<PathBuf> {
        if m.hf_repo.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{} is a local folder, not a hub model",
                m.id
            )));
        }
        let dest = self.folder(m);
        std::fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
        let revision = if m.revision.is_empty() {
            "main"
        } else {
            m.revision.as_str()
        };
        let sums = self.expected_sums(m);
        let mut lock: HashMap<String, String> = HashMap::new();
        for f in &m.files {
            let target = dest.join(&f.name);
            // A file already there and matching its pinned checksum is not fetched again.
            if let (Some(exp), true) = (&f.sha256, target.is_file())
                && sha256_file(&target)?.eq_ignore_ascii_case(exp)
            {
                lock.insert(f.name.clone(), exp.to_lowercase());
                continue;
            }
            let fetch = Fetch {
                repo: &m.hf_repo,
                revision,
                name: &f.name,
                sha256: f.sha256.as_deref(),
            };
            let sum = self.hub.fetch(
                &fetch,
                &target,
                &mut |done, total| progress(&f.name, done, total),
                cancel,
            )?;
            lock.insert(f.name.clone(), sum);
        }
        // Unpinned files keep the checksum they arrived with, to notice later damage.
        for (name, sum) in sums {
            lock.entry(name).or_insert(sum);
        }
        let lock_path = dest.join(LOCK_FILE);
        std::fs::write(&lock_path, serde_json::to_vec_pretty(&lock)?)
            .map_err(|e| Error::io(&lock_path, e))?;
        Ok(dest)
    }
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// The user's cache of file checksums, keyed by path, size, modification and change time.
struct SumCache {
    path: Option<PathBuf>,
    known: HashMap<String, String>,
}

impl SumCache {
    fn open() -> SumCache {
        let path = directories::ProjectDirs::from("app", "Vitrine", "vitrine")
            .map(|d| d.cache_dir().join("checksums.json"));
        let known = path
            .as_ref()
            .and_then(|c| std::fs::read(c).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        SumCache { path, known }
    }

    fn key(file: &Path) -> Result<String> {
        let meta = std::fs::metadata(file).map_err(|e| Error::io(file, e))?;
        let nanos = |t: std::io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos())
        };
        #[cfg(unix)]
        let changed = {
            use std::os::unix::fs::MetadataExt;
            (meta.ctime(), meta.ctime_nsec(), meta.ino())
        };
        #[cfg(not(unix))]
        let changed = (0, 0, 0);
        Ok(format!(
            "{}|{}|{}|{:?}",
            file.display(),
            meta.len(),
            nanos(meta.modified()),
            changed
        ))
    }

    fn save(&self) {
        let Some(c) = &self.path else { return };
        if let Some(parent) = c.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let tmp = crate::files::temp_beside(c);
        if std::fs::write(&tmp, serde_json::to_vec(&self.known).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&tmp, c);
        }
    }
}

/// sha256 of a file. The user's cache answers only when it remembers `expected` for the file:
/// a cached sum vouches for a file, never against it (a restored file can keep the size and
/// time of a damaged one), so anything else reads the file and updates the cache.
fn vouched_sha256(path: &Path, expected: &str) -> Result<String> {
    let mut cache = SumCache::open();
    let key = SumCache::key(path)?;
    if let Some(s) = cache.known.get(&key)
        && s.eq_ignore_ascii_case(expected)
    {
        return Ok(s.clone());
    }
    let sum = sha256_file(path)?;
    cache.known.insert(key, sum.clone());
    cache.save();
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_manifests_parse_and_have_one_default_per_kind() {
        let all = built_in();
        assert_eq!(all.len(), 7);
        assert!(
            all.iter()
                .all(|m| !m.languages.is_empty() && !m.good_at.is_empty())
        );
        for kind in [ModelKind::Clip, ModelKind::Text] {
            assert_eq!(
                all.iter().filter(|m| m.kind == kind && m.default).count(),
                1
            );
        }
        let m = Models::new("/nowhere", vec![]);
        let clip = m.default_for(ModelKind::Clip).unwrap();
        assert_eq!(clip.hf_repo, "openai/clip-vit-base-patch32");
        let msg = m.how_to_get(clip);
        assert!(
            msg.contains("vitrine models download clip-vit-base-patch32"),
            "{msg}"
        );
    }

    #[test]
    fn a_siglip_folder_with_a_large_vocabulary_is_described_as_multilingual() {
        for (vocab, multilingual) in [(256_000, true), (32_000, false)] {
            let dir = tempfile::tempdir().unwrap();
            let config = serde_json::json!({
                "model_type": "siglip",
                "architectures": ["SiglipModel"],
                "text_config": { "vocab_size": vocab },
            });
            std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
            for f in [
                "model.safetensors",
                "tokenizer.json",
                "preprocessor_config.json",
            ] {
                std::fs::write(dir.path().join(f), b"{}").unwrap();
            }
            let m = Models::describe_folder(dir.path(), Some("s")).unwrap();
            assert_eq!((m.kind, m.embedding_dim), (ModelKind::Clip, 768));
            assert_eq!(m.architecture, "SiglipModel");
            assert_eq!(m.multilingual, multilingual, "vocabulary {vocab}");
        }
    }
}
