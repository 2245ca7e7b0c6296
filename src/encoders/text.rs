//! The product-text encoder: a sentence-transformers BERT model (all-MiniLM-L6-v2 by default;
//! `bert.rs`), mean-pooled over the attention mask and L2-normalised.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::bert::{Bert, BertConfig};
use super::clip_model::{normalize, to_f32_rows};
use super::{DeviceChoice, load_weights, model_err, on_pool, tokenizer_from};
use crate::error::{Error, Result};

/// Inputs are truncated at this many tokens, as sentence-transformers does for MiniLM.
pub const MAX_TOKENS: usize = 256;

pub const REQUIRED_FILES: &[&str] = &["model.safetensors", "config.json", "tokenizer.json"];

/// Token ids and attention masks, one row per text.
pub type IdsAndMasks = (Vec<Vec<u32>>, Vec<Vec<u32>>);

pub struct TextEncoder {
    model: Bert,
    tokenizer: Tokenizer,
    device: Device,
    pub dim: usize,
}

impl TextEncoder {
    pub fn load(dir: &Path, device: DeviceChoice) -> Result<TextEncoder> {
        TextEncoder::load_on(dir, &device.device()?)
    }

    pub(crate) fn load_on(dir: &Path, device: &Device) -> Result<TextEncoder> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let config: BertConfig = serde_json::from_str(&text)
            .map_err(|e| Error::Model(format!("{}: not a BERT config: {e}", path.display())))?;
        let vb = load_weights(dir, device)?;
        let model = Bert::load(vb, &config).map_err(model_err(dir))?;
        let mut tokenizer = tokenizer_from(&dir.join("tokenizer.json"))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| Error::Model(format!("tokenizer: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        Ok(TextEncoder {
            model,
            tokenizer,
            device: device.clone(),
            dim: config.hidden_size,
        })
    }

    /// Whether the tokenizer has `word` whole (see [`super::is_one_token`]).
    pub fn knows_word(&self, word: &str) -> bool {
        super::is_one_token(&self.tokenizer, word)
    }

    /// Token ids and attention masks, padded to the batch's longest member.
    pub fn tokenize(&self, texts: &[&str]) -> Result<IdsAndMasks> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Model(format!("tokenizer: {e}")))?;
        Ok(enc
            .iter()
            .map(|e| (e.get_ids().to_vec(), e.get_attention_mask().to_vec()))
            .unzip())
    }

    /// L2-normalised sentence embeddings.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, mask) = self.tokenize(texts)?;
        let err = model_err(Path::new("text encoder"));
        let (b, n) = (ids.len(), ids[0].len());
        let ids = Tensor::from_vec(ids.concat(), (b, n), &self.device).map_err(&err)?;
        let mask = Tensor::from_vec(mask.concat(), (b, n), &self.device).map_err(&err)?;
        let pooled = on_pool(|| {
            let hidden = self.model.forward(&ids, &mask)?;
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let sum = hidden.broadcast_mul(&m)?.sum(1)?;
            let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
            normalize(&sum.broadcast_div(&count)?)
        })
        .map_err(&err)?;
        to_f32_rows(&pooled).map_err(err)
    }
}
