//! CLIP image and text encoders: tokenizer, preprocessing and model, loaded from a Hugging
//! Face-layout folder (`model.safetensors`, `config.json`, `tokenizer.json`,
//! `preprocessor_config.json`).

use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use image::DynamicImage;
use tokenizers::{Tokenizer, TruncationParams};

use super::clip_model::{ClipConfig, TextTower, VisionTower, normalize, to_f32_rows};
use super::preprocess::Preprocessor;
use super::{DeviceChoice, Precision, load_weights, model_err, tokenizer_from};
use crate::error::{Error, Result};

pub const REQUIRED_FILES: &[&str] = &[
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "preprocessor_config.json",
];

pub struct ClipEncoder {
    vision: VisionTower,
    text: TextTower,
    tokenizer: Tokenizer,
    preprocessor: Preprocessor,
    device: Device,
    eos_id: Option<u32>,
    /// Size of the embeddings.
    pub dim: usize,
}

pub(crate) fn read_config(dir: &Path) -> Result<ClipConfig> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Model(format!("{}: not a CLIP config: {e}", path.display())))
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
        let config = read_config(dir)?;
        let vb = load_weights(dir, device)?;
        ClipEncoder::build(dir, &config, vb, device, precision)
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
        ClipEncoder::build(dir, &config, vb, &Device::Cpu, precision)
    }

    /// The architecture of `dir`'s config.json with weights from `vb`.
    fn build(
        dir: &Path,
        config: &ClipConfig,
        vb: VarBuilder,
        device: &Device,
        precision: Precision,
    ) -> Result<ClipEncoder> {
        let err = model_err(dir);
        let vision = VisionTower::new(
            vb.clone(),
            &config.vision_config,
            config.projection_dim,
            precision,
        )
        .map_err(&err)?;
        let text = TextTower::new(vb, &config.text_config, config.projection_dim, precision)
            .map_err(&err)?;
        let mut tokenizer = tokenizer_from(&dir.join("tokenizer.json"))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: text.context_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Model(format!("tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        let eos_id = tokenizer
            .token_to_id("<|endoftext|>")
            .or(config.text_config.eos_token_id);
        let preprocessor = Preprocessor::load(&dir.join("preprocessor_config.json"))?;
        if preprocessor.out != (vision.image_size as u32, vision.image_size as u32) {
            return Err(Error::Model(format!(
                "{}: the preprocessor crops to {:?} but the model takes {} px images",
                dir.display(),
                preprocessor.out,
                vision.image_size
            )));
        }
        Ok(ClipEncoder {
            vision,
            text,
            tokenizer,
            preprocessor,
            device: device.clone(),
            eos_id,
            dim: config.projection_dim,
        })
    }

    pub fn image_size(&self) -> usize {
        self.vision.image_size
    }

    /// Model input for one photo: 3 × size × size floats, channels first.
    pub fn preprocess(&self, img: &DynamicImage) -> Vec<f32> {
        self.preprocessor.apply(img)
    }

    /// Token ids with start and end tokens, truncated to the context length.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
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
        let flat: Vec<f32> = pixels.iter().flatten().copied().collect();
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
        self.vision
            .forward(pixels)
            .map_err(model_err(Path::new("clip vision")))
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

    fn text_features(&self, ids: &[Vec<u32>], pad_to: Option<usize>) -> Result<Tensor> {
        let longest = ids.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let n = pad_to.unwrap_or(longest).max(longest);
        let pad = self.eos_id.unwrap_or(0);
        let mut flat = Vec::with_capacity(ids.len() * n);
        let mut pool_at = Vec::with_capacity(ids.len());
        for row in ids {
            // Pool at the first end-of-text token; without one known, at the last real token.
            let at = self
                .eos_id
                .and_then(|eos| row.iter().position(|&t| t == eos))
                .unwrap_or(row.len().saturating_sub(1));
            pool_at.push(at);
            flat.extend_from_slice(row);
            flat.extend(std::iter::repeat_n(pad, n - row.len()));
        }
        let t = Tensor::from_vec(flat, (ids.len(), n), &self.device)
            .map_err(model_err(Path::new("clip")))?;
        self.text
            .forward(&t, &pool_at)
            .map_err(model_err(Path::new("clip text")))
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
