//! Image-and-text encoders (CLIP, and SigLIP and SigLIP 2 at fixed resolution): tokenizer,
//! preprocessing and model, loaded from a Hugging Face-layout folder (`model.safetensors`,
//! `config.json`, `tokenizer.json`, `preprocessor_config.json`); the architecture comes from
//! the config's `model_type`.

use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use image::DynamicImage;
use tokenizers::{Tokenizer, TruncationParams};

use super::clip_model::{ClipConfig, TextTower, VisionTower, normalize, to_f32_rows};
use super::open_clip::{self, TextClean};
use super::preprocess::Preprocessor;
use super::siglip_model::{SiglipConfig, SiglipText, SiglipVision};
use super::{DeviceChoice, Precision, load_weights, model_err, on_pool, tokenizer_from};
use crate::error::{Error, Result};

pub const REQUIRED_FILES: &[&str] = &[
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "preprocessor_config.json",
];

pub struct ClipEncoder {
    towers: Towers,
    tokenizer: Tokenizer,
    preprocessor: Preprocessor,
    device: Device,
    /// Size of the embeddings.
    pub dim: usize,
}

/// The two towers of each architecture, and how its text is fed.
enum Towers {
    Clip {
        vision: VisionTower,
        text: TextTower,
        eos_id: Option<u32>,
    },
    /// Texts are cleaned (lower-cased; SigLIP's own tokenizer and OpenCLIP's SigLIP models
    /// also drop punctuation) and padded with `pad_id` to the fixed context length.
    Siglip {
        vision: SiglipVision,
        text: SiglipText,
        pad_id: u32,
        clean: TextClean,
    },
}

/// How a SigLIP folder's text is cleaned before tokenising, as its reference tokenizer does:
/// SigLIP's own (SentencePiece) lower-cases and removes punctuation; SigLIP 2's (Gemma) only
/// lower-cases. Told from `tokenizer_config.json`'s class, else from the vocabulary's size
/// (Gemma's has 256,000 tokens, SigLIP's 32,000).
fn siglip_text_clean(dir: &Path, vocab_size: usize) -> TextClean {
    let class = std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["tokenizer_class"].as_str().map(str::to_string))
        .unwrap_or_default();
    if class.starts_with("Gemma") || class.starts_with("Siglip2") {
        TextClean::Lower
    } else if class.starts_with("Siglip") || vocab_size < 100_000 {
        TextClean::Canonicalize
    } else {
        TextClean::Lower
    }
}

/// A model folder's architecture, from `config.json`.
pub(crate) enum Architecture {
    Clip(ClipConfig),
    Siglip(SiglipConfig),
}

pub(crate) fn read_config(dir: &Path) -> Result<Architecture> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let bad = |e: &dyn std::fmt::Display| {
        Error::Model(format!(
            "{}: not a usable model config: {e}",
            path.display()
        ))
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    match value.get("model_type").and_then(|t| t.as_str()) {
        Some("siglip") => {
            let c: SiglipConfig = serde_json::from_value(value).map_err(|e| bad(&e))?;
            c.embedding_dim().map_err(|e| bad(&e))?;
            Ok(Architecture::Siglip(c))
        }
        Some("siglip2") => Err(bad(
            &"SigLIP 2 with flexible resolution (NaFlex) is not supported; use a fixed-resolution SigLIP 2 checkpoint such as siglip2-base-patch16-224",
        )),
        _ => serde_json::from_value(value)
            .map(Architecture::Clip)
            .map_err(|e| bad(&e)),
    }
}

impl ClipEncoder {
    /// Loads a CLIP model folder.
    pub fn load(dir: &Path, device: DeviceChoice, precision: Precision) -> Result<ClipEncoder> {
        ClipEncoder::load_on(dir, &device.device()?, precision)
    }

    pub(crate) fn load_on(
        dir: &Path,
        device: &Device,
        precision: Precision,
    ) -> Result<ClipEncoder> {
        if open_clip::is_open_clip(dir) {
            let o = open_clip::load(dir, device)?;
            let config = Architecture::Siglip(o.config);
            let prep = Some((o.preprocessor, o.clean));
            return ClipEncoder::build(dir, &config, o.vb, device, precision, prep);
        }
        let config = read_config(dir)?;
        let vb = load_weights(dir, device)?;
        ClipEncoder::build(dir, &config, vb, device, precision, None)
    }

    /// The architecture of `dir`'s config.json (its tokenizer and preprocessing too) with the
    /// random weights of `weights`, on the CPU: for benchmarks and tests at real model sizes
    /// where no trained weights are at hand. Encoders made from one `RandomWeights` share them.
    pub fn with_random_weights(
        dir: &Path,
        weights: &RandomWeights,
        precision: Precision,
    ) -> Result<ClipEncoder> {
        let config = read_config(dir)?;
        let vb = VarBuilder::from_varmap(&weights.0, candle_core::DType::F32, &Device::Cpu);
        ClipEncoder::build(dir, &config, vb, &Device::Cpu, precision, None)
    }

    /// The architecture `config` with weights from `vb`; the preprocessing and text cleaning
    /// from `prep`, else from the folder's `preprocessor_config.json` and the architecture.
    fn build(
        dir: &Path,
        config: &Architecture,
        vb: VarBuilder,
        device: &Device,
        precision: Precision,
        prep: Option<(Preprocessor, TextClean)>,
    ) -> Result<ClipEncoder> {
        let err = model_err(dir);
        let mut tokenizer = tokenizer_from(&dir.join("tokenizer.json"))?;
        let (towers, context, dim) = match config {
            Architecture::Clip(c) => {
                let vision =
                    VisionTower::new(vb.clone(), &c.vision_config, c.projection_dim, precision)
                        .map_err(&err)?;
                let text = TextTower::new(vb, &c.text_config, c.projection_dim, precision)
                    .map_err(&err)?;
                let context = text.context_length;
                let eos_id = tokenizer
                    .token_to_id("<|endoftext|>")
                    .or(c.text_config.eos_token_id);
                let towers = Towers::Clip {
                    vision,
                    text,
                    eos_id,
                };
                (towers, context, c.projection_dim)
            }
            Architecture::Siglip(c) => {
                let vision =
                    SiglipVision::new(vb.clone(), &c.vision_config, precision).map_err(&err)?;
                let text = SiglipText::new(vb, &c.text_config, precision).map_err(&err)?;
                let context = text.context_length;
                let pad_id = tokenizer
                    .get_padding()
                    .map(|p| p.pad_id)
                    .or_else(|| tokenizer.token_to_id("<pad>"))
                    .or(c.text_config.pad_token_id)
                    .unwrap_or(0);
                let dim = c.embedding_dim().map_err(Error::Model)?;
                let clean = match &prep {
                    Some(p) => p.1,
                    None => siglip_text_clean(dir, c.text_config.vocab_size),
                };
                let towers = Towers::Siglip {
                    vision,
                    text,
                    pad_id,
                    clean,
                };
                (towers, context, dim)
            }
        };
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: context,
                ..Default::default()
            }))
            .map_err(|e| Error::Model(format!("tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        let preprocessor = match prep {
            Some((p, _)) => p,
            None => Preprocessor::load(&dir.join("preprocessor_config.json"))?,
        };
        let encoder = ClipEncoder {
            towers,
            tokenizer,
            preprocessor,
            device: device.clone(),
            dim,
        };
        let size = encoder.image_size() as u32;
        if encoder.preprocessor.out != (size, size) {
            return Err(Error::Model(format!(
                "{}: the preprocessor makes {:?} px images but the model takes {size} px",
                dir.display(),
                encoder.preprocessor.out,
            )));
        }
        Ok(encoder)
    }

    pub fn image_size(&self) -> usize {
        match &self.towers {
            Towers::Clip { vision, .. } => vision.image_size,
            Towers::Siglip { vision, .. } => vision.image_size,
        }
    }

    /// The fixed length texts are padded to, for models that read them so.
    pub fn fixed_text_length(&self) -> Option<usize> {
        match &self.towers {
            Towers::Clip { .. } => None,
            Towers::Siglip { text, .. } => Some(text.context_length),
        }
    }

    /// What to pass [`crate::photo::decode_for_model`] as `model_side`.
    pub fn decode_side(&self) -> u32 {
        self.preprocessor.resize_side()
    }

    /// Model input for one photo: 3 × size × size floats, channels first.
    pub fn preprocess(&self, img: &DynamicImage) -> Vec<f32> {
        self.preprocessor.apply(img)
    }

    /// Whether the tokenizer has `word` whole (see [`super::is_one_token`]).
    pub fn knows_word(&self, word: &str) -> bool {
        super::is_one_token(&self.tokenizer, word)
    }

    /// Token ids with the tokenizer's special tokens, truncated to the context length (not
    /// padded). SigLIP-family models read cleaned text (see [`Towers::Siglip`]).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let texts: Vec<String> = match self.towers {
            Towers::Clip { .. } => texts.iter().map(|t| t.to_string()).collect(),
            Towers::Siglip { clean, .. } => texts.iter().map(|t| clean.apply(t)).collect(),
        };
        let enc = self
            .tokenizer
            .encode_batch(texts, true)
            .map_err(|e| Error::Model(format!("tokenizer: {e}")))?;
        Ok(enc.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// L2-normalised embeddings of preprocessed images.
    pub fn embed_pixels(&self, pixels: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        self.pixel_rows(pixels, true)
    }

    /// Projected image features of preprocessed images, before normalisation (for parity
    /// checks against the reference implementation).
    pub fn image_features_of(&self, pixels: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        self.pixel_rows(pixels, false)
    }

    fn pixel_rows(&self, pixels: &[Vec<f32>], normalised: bool) -> Result<Vec<Vec<f32>>> {
        if pixels.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.image_size();
        let flat = pixels.concat();
        let t = Tensor::from_vec(flat, (pixels.len(), 3, s, s), &self.device)
            .map_err(model_err(Path::new("clip")))?;
        let f = self.image_features(&t)?;
        if normalised {
            rows(normalize(&f))
        } else {
            rows(Ok(f))
        }
    }

    /// Projected text features of token ids padded to `pad_to` (default: the longest row),
    /// before normalisation (for parity checks).
    pub fn text_features_of(
        &self,
        ids: &[Vec<u32>],
        pad_to: Option<usize>,
    ) -> Result<Vec<Vec<f32>>> {
        rows(Ok(self.text_features(ids, pad_to)?))
    }

    fn image_features(&self, pixels: &Tensor) -> Result<Tensor> {
        on_pool(|| match &self.towers {
            Towers::Clip { vision, .. } => vision.forward(pixels),
            Towers::Siglip { vision, .. } => vision.forward(pixels),
        })
        .map_err(model_err(Path::new("vision tower")))
    }

    /// L2-normalised embeddings of texts, the batch padded only to its longest member.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.tokenize(texts)?;
        let f = self.text_features(&ids, None)?;
        rows(normalize(&f))
    }

    /// Text features of token ids. CLIP: rows padded to `pad_to` (default: the longest row),
    /// which cannot change them under its causal mask. SigLIP: always to its fixed length.
    fn text_features(&self, ids: &[Vec<u32>], pad_to: Option<usize>) -> Result<Tensor> {
        let err = model_err(Path::new("text tower"));
        let longest = ids.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let padded = |n: usize, pad: u32| -> Result<Tensor> {
            let mut flat = Vec::with_capacity(ids.len() * n);
            for row in ids {
                let row = &row[..row.len().min(n)];
                flat.extend_from_slice(row);
                flat.extend(std::iter::repeat_n(pad, n - row.len()));
            }
            Tensor::from_vec(flat, (ids.len(), n), &self.device).map_err(&err)
        };
        match &self.towers {
            Towers::Clip { text, eos_id, .. } => {
                let n = pad_to.unwrap_or(longest).max(longest);
                // Pool at the first end-of-text token; without one known, at the last real token.
                let pool_at: Vec<usize> = ids
                    .iter()
                    .map(|row| {
                        eos_id
                            .and_then(|eos| row.iter().position(|&t| t == eos))
                            .unwrap_or(row.len().saturating_sub(1))
                    })
                    .collect();
                let t = padded(n, eos_id.unwrap_or(0))?;
                on_pool(|| text.forward(&t, &pool_at)).map_err(&err)
            }
            Towers::Siglip { text, pad_id, .. } => {
                let t = padded(text.context_length, *pad_id)?;
                on_pool(|| text.forward(&t)).map_err(&err)
            }
        }
    }
}

/// Random weights for [`ClipEncoder::with_random_weights`], drawn when first used.
pub struct RandomWeights(VarMap);

impl RandomWeights {
    pub fn new() -> RandomWeights {
        RandomWeights(VarMap::new())
    }

    /// Writes the weights drawn so far as a `model.safetensors` with the checkpoint's names
    /// (a stand-in model of real size, for tests of downloading and loading).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.0.save(path).map_err(model_err(path))
    }
}

impl Default for RandomWeights {
    fn default() -> Self {
        RandomWeights::new()
    }
}

fn rows(t: candle_core::Result<Tensor>) -> Result<Vec<Vec<f32>>> {
    let err = model_err(Path::new("clip"));
    to_f32_rows(&t.map_err(&err)?).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siglip_text_is_cleaned_as_its_tokenizer_does() {
        let dir = tempfile::tempdir().unwrap();
        let class = |c: &str| {
            let cfg = serde_json::json!({ "tokenizer_class": c }).to_string();
            std::fs::write(dir.path().join("tokenizer_config.json"), cfg).unwrap();
        };
        class("SiglipTokenizer");
        assert_eq!(
            siglip_text_clean(dir.path(), 250_000),
            TextClean::Canonicalize
        );
        class("GemmaTokenizer");
        assert_eq!(siglip_text_clean(dir.path(), 256_000), TextClean::Lower);
        std::fs::remove_file(dir.path().join("tokenizer_config.json")).unwrap();
        assert_eq!(
            siglip_text_clean(dir.path(), 32_000),
            TextClean::Canonicalize
        );
        assert_eq!(siglip_text_clean(dir.path(), 256_000), TextClean::Lower);
    }
}
