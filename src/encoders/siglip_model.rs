//! The SigLIP architecture (SigLIP and SigLIP 2 at fixed resolution), following the reference
//! implementation's layout and weight names (`SiglipModel`), built from `config.json`.
//!
//! Its transformer layers and text trunk are CLIP's (same names and maths), so they are
//! shared with `clip_model`. What differs: no class token and no pre-norm in the vision
//! tower, which pools with a small attention head (a learned probe attends over the patches);
//! a text tower without a causal mask that reads the last position of text padded to its
//! fixed length; no separate projections. Not candle-transformers' SigLIP, to share the int8
//! path and the fused CPU activations with CLIP; Marqo's OpenCLIP checkpoints load into this
//! module by renaming their weights (see `open_clip`).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::Deserialize;

use super::Precision;
use super::activation::Act;
use super::clip_model::{Layer, Patches, Proj, Shape, TextTrunk, encoder, linear};
use super::norm::{self, Norm};

fn eps() -> f64 {
    1e-6
}
fn act() -> String {
    "gelu_pytorch_tanh".into()
}
fn d768() -> usize {
    768
}
fn d3072() -> usize {
    3072
}
fn d12() -> usize {
    12
}
fn vocab() -> usize {
    32000
}
fn context() -> usize {
    64
}
fn channels() -> usize {
    3
}
fn image() -> usize {
    224
}
fn patch() -> usize {
    16
}
fn yes() -> bool {
    true
}

/// `text_config`; absent fields take the reference's defaults, as released configs rely on.
#[derive(Debug, Clone, Deserialize)]
pub struct SiglipTextConfig {
    #[serde(default = "vocab")]
    pub vocab_size: usize,
    #[serde(default = "d768")]
    pub hidden_size: usize,
    #[serde(default = "d3072")]
    pub intermediate_size: usize,
    #[serde(default = "d12")]
    pub num_hidden_layers: usize,
    #[serde(default = "d12")]
    pub num_attention_heads: usize,
    #[serde(default = "context")]
    pub max_position_embeddings: usize,
    #[serde(default = "act")]
    pub hidden_act: String,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// Size of the text embedding; the hidden size when absent.
    #[serde(default)]
    pub projection_size: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SiglipVisionConfig {
    #[serde(default = "d768")]
    pub hidden_size: usize,
    #[serde(default = "d3072")]
    pub intermediate_size: usize,
    #[serde(default = "d12")]
    pub num_hidden_layers: usize,
    #[serde(default = "d12")]
    pub num_attention_heads: usize,
    #[serde(default = "channels")]
    pub num_channels: usize,
    #[serde(default = "image")]
    pub image_size: usize,
    #[serde(default = "patch")]
    pub patch_size: usize,
    #[serde(default = "act")]
    pub hidden_act: String,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "yes")]
    pub vision_use_head: bool,
}

/// `config.json` of a SigLIP model (`model_type` `siglip`).
#[derive(Debug, Clone, Deserialize)]
pub struct SiglipConfig {
    #[serde(default = "empty_text")]
    pub text_config: SiglipTextConfig,
    #[serde(default = "empty_vision")]
    pub vision_config: SiglipVisionConfig,
}

fn empty_text() -> SiglipTextConfig {
    serde_json::from_str("{}").expect("every field has a default")
}
fn empty_vision() -> SiglipVisionConfig {
    serde_json::from_str("{}").expect("every field has a default")
}

impl SiglipConfig {
    /// Size of the embeddings; both towers must agree.
    pub fn embedding_dim(&self) -> std::result::Result<usize, String> {
        let text = self
            .text_config
            .projection_size
            .unwrap_or(self.text_config.hidden_size);
        let image = self.vision_config.hidden_size;
        if text == image {
            Ok(text)
        } else {
            Err(format!(
                "the text tower embeds in {text} dimensions but the vision tower in {image}"
            ))
        }
    }
}

/// Attention pooling: a learned probe attends over the patch states, then a residual MLP.
struct PoolingHead {
    /// The probe's query, already projected and scaled: [1, 1, dim].
    q: Tensor,
    kv: Proj,
    out: Proj,
    norm: Norm,
    fc1: Proj,
    fc2: Proj,
    act: Act,
    heads: usize,
}

impl PoolingHead {
    fn new(vb: VarBuilder, c: &SiglipVisionConfig, p: Precision) -> Result<Self> {
        let dim = c.hidden_size;
        let heads = c.num_attention_heads;
        if heads == 0 || !dim.is_multiple_of(heads) {
            candle_core::bail!("hidden size {dim} is not divisible by {heads} attention heads");
        }
        let scale = ((dim / heads) as f64).powf(-0.5);
        let a = vb.pp("attention");
        let w = a.get((3 * dim, dim), "in_proj_weight")?;
        let b = a.get(3 * dim, "in_proj_bias")?;
        let probe = vb.get((1, 1, dim), "probe")?;
        // The probe does not depend on the input: its query is computed once.
        let wq = w.narrow(0, 0, dim)?;
        let bq = b.narrow(0, 0, dim)?;
        let q = (probe
            .reshape((1, dim))?
            .matmul(&wq.t()?)?
            .broadcast_add(&bq.unsqueeze(0)?)?
            * scale)?
            .reshape((1, 1, dim))?;
        let kv = Proj::new(
            Linear::new(
                w.narrow(0, dim, 2 * dim)?.contiguous()?,
                Some(b.narrow(0, dim, 2 * dim)?.contiguous()?),
            ),
            p,
        )?;
        Ok(PoolingHead {
            q,
            kv,
            out: linear(dim, dim, a.pp("out_proj"), p)?,
            norm: norm::layer_norm(dim, c.layer_norm_eps, vb.pp("layernorm"))?,
            fc1: linear(dim, c.intermediate_size, vb.pp("mlp").pp("fc1"), p)?,
            fc2: linear(c.intermediate_size, dim, vb.pp("mlp").pp("fc2"), p)?,
            act: Act::parse(&c.hidden_act)?,
            heads,
        })
    }

    /// [batch, patches, dim] → [batch, dim].
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, n, dim) = xs.dims3()?;
        let hd = dim / self.heads;
        let kv = self.kv.forward(xs, None)?;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, n, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let k = split(kv.narrow(2, 0, dim)?)?;
        let v = split(kv.narrow(2, dim, dim)?)?;
        let q = self
            .q
            .reshape((1, 1, self.heads, hd))?
            .transpose(1, 2)?
            .broadcast_as((b, self.heads, 1, hd))?
            .contiguous()?;
        let w = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?;
        let o = w.matmul(&v)?.transpose(1, 2)?.reshape((b, 1, dim))?;
        let h = self.out.forward(&o, None)?;
        let m = self.fc1.forward(&self.norm.forward(&h)?, Some(self.act))?;
        let h = self.fc2.forward_add(&m, &h)?;
        h.squeeze(1)
    }
}

pub struct SiglipVision {
    patch: Patches,
    positions: Tensor,
    layers: Vec<Layer>,
    post_ln: Norm,
    head: Option<PoolingHead>,
    pub image_size: usize,
}

impl SiglipVision {
    pub fn new(vb: VarBuilder, c: &SiglipVisionConfig, p: Precision) -> Result<Self> {
        let m = vb.pp("vision_model");
        let e = m.pp("embeddings");
        let patch = Patches::new(
            e.pp("patch_embedding"),
            [c.num_channels, c.hidden_size, c.patch_size, c.image_size],
            true,
            p,
        )?;
        let patches = (c.image_size / c.patch_size).pow(2);
        Ok(SiglipVision {
            patch,
            positions: e
                .pp("position_embedding")
                .get((patches, c.hidden_size), "weight")?,
            layers: encoder(
                m.clone(),
                c.num_hidden_layers,
                Shape {
                    dim: c.hidden_size,
                    inter: c.intermediate_size,
                    heads: c.num_attention_heads,
                    eps: c.layer_norm_eps,
                },
                &c.hidden_act,
                p,
            )?,
            post_ln: norm::layer_norm(c.hidden_size, c.layer_norm_eps, m.pp("post_layernorm"))?,
            head: if c.vision_use_head {
                Some(PoolingHead::new(m.pp("head"), c, p)?)
            } else {
                None
            },
            image_size: c.image_size,
        })
    }

    /// Image features (not normalised) of `pixels` [batch, 3, size, size].
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let mut x = self
            .patch
            .forward(pixels)?
            .broadcast_add(&self.positions.unsqueeze(0)?)?;
        for l in &self.layers {
            x = l.forward(&x, None)?;
        }
        let x = self.post_ln.forward(&x)?;
        match &self.head {
            Some(h) => h.forward(&x),
            // Without the head, the reference pools by averaging the patches.
            None => x.mean(1),
        }
    }
}

pub struct SiglipText {
    trunk: TextTrunk,
    head: Proj,
    /// The fixed length every text is padded (or cut) to.
    pub context_length: usize,
}

impl SiglipText {
    pub fn new(vb: VarBuilder, c: &SiglipTextConfig, p: Precision) -> Result<Self> {
        let m = vb.pp("text_model");
        let out = c.projection_size.unwrap_or(c.hidden_size);
        let shape = Shape {
            dim: c.hidden_size,
            inter: c.intermediate_size,
            heads: c.num_attention_heads,
            eps: c.layer_norm_eps,
        };
        let trunk = TextTrunk::new(
            m.clone(),
            c.vocab_size,
            c.max_position_embeddings,
            c.num_hidden_layers,
            shape,
            &c.hidden_act,
            p,
        )?;
        Ok(SiglipText {
            context_length: trunk.context_length,
            trunk,
            head: linear(c.hidden_size, out, m.pp("head"), p)?,
        })
    }

    /// Text features (not normalised) of `ids` [batch, context_length] (u32), already padded:
    /// the model attends over every position, padding included, as it was trained, and reads
    /// the last one.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, n) = ids.dims2()?;
        let last = vec![n.saturating_sub(1); b];
        self.head
            .forward(&self.trunk.forward(ids, None, &last)?, None)
    }
}
