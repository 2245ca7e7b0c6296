//! BERT, as sentence-transformers' all-MiniLM-L6-v2 uses it for product text: post-norm layers
//! built on CLIP's attention and linear layers, so that on the CPU it runs the own matrix
//! products with GELU fused into them (candle-transformers' BERT runs candle's products and a
//! separate GELU pass). Weight names and `config.json` as transformers' `BertModel`.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};
use serde::Deserialize;

use super::Precision;
use super::activation::Act;
use super::clip_model::{Attention, Proj, linear};
use super::norm::{self, Norm};

fn default_eps() -> f64 {
    1e-12
}

/// The fields of a BERT `config.json` that inference reads.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

struct BertLayer {
    attn: Attention,
    attn_ln: Norm,
    up: Proj,
    down: Proj,
    out_ln: Norm,
    act: Act,
}

impl BertLayer {
    fn new(vb: VarBuilder, c: &BertConfig, act: Act) -> Result<Self> {
        let (dim, eps, p) = (c.hidden_size, c.layer_norm_eps, Precision::F32);
        let a = vb.pp("attention");
        let s = a.pp("self");
        let q = candle_nn::linear(dim, dim, s.pp("query"))?;
        let k = candle_nn::linear(dim, dim, s.pp("key"))?;
        let v = candle_nn::linear(dim, dim, s.pp("value"))?;
        let out = linear(dim, dim, a.pp("output").pp("dense"), p)?;
        Ok(BertLayer {
            attn: Attention::from_parts([&q, &k, &v], out, c.num_attention_heads, p)?,
            attn_ln: norm::layer_norm(dim, eps, a.pp("output").pp("LayerNorm"))?,
            up: linear(
                dim,
                c.intermediate_size,
                vb.pp("intermediate").pp("dense"),
                p,
            )?,
            down: linear(c.intermediate_size, dim, vb.pp("output").pp("dense"), p)?,
            out_ln: norm::layer_norm(dim, eps, vb.pp("output").pp("LayerNorm"))?,
            act,
        })
    }

    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let h = self
            .attn_ln
            .forward(&self.attn.forward(x, Some(mask), Some(x))?)?;
        let m = self.up.forward(&h, Some(self.act))?;
        self.out_ln.forward(&self.down.forward_add(&m, &h)?)
    }
}

pub struct Bert {
    words: Embedding,
    positions: Tensor,
    /// Every token is of type 0: its embedding is added to all.
    type0: Tensor,
    embed_ln: Norm,
    layers: Vec<BertLayer>,
}

impl Bert {
    /// From weights named as `BertModel`'s, with or without a `bert.` prefix.
    pub fn load(vb: VarBuilder, c: &BertConfig) -> Result<Self> {
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp("bert")
        };
        let act = Act::parse(&c.hidden_act)?;
        let e = vb.pp("embeddings");
        let dim = c.hidden_size;
        let types = e.pp("token_type_embeddings").get((2, dim), "weight");
        // A model with a single token type stores one row.
        let types = types.or_else(|_| e.pp("token_type_embeddings").get((1, dim), "weight"))?;
        Ok(Bert {
            words: candle_nn::embedding(c.vocab_size, dim, e.pp("word_embeddings"))?,
            positions: e
                .pp("position_embeddings")
                .get((c.max_position_embeddings, dim), "weight")?,
            type0: types.get(0)?,
            embed_ln: norm::layer_norm(dim, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers: (0..c.num_hidden_layers)
                .map(|i| BertLayer::new(vb.pp("encoder").pp("layer").pp(i), c, act))
                .collect::<Result<_>>()?,
        })
    }

    /// Hidden states [batch, len, dim] of `ids` [batch, len] (u32) whose `mask` [batch, len]
    /// (u32) is 1 at tokens and 0 at padding, which no token attends to.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, n) = ids.dims2()?;
        if n > self.positions.dim(0)? {
            candle_core::bail!("{n} tokens where the model has {}", self.positions.dim(0)?);
        }
        let x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.narrow(0, 0, n)?.unsqueeze(0)?)?
            .broadcast_add(&self.type0)?;
        let mut x = self.embed_ln.forward(&x)?;
        // 0 where attended, the lowest f32 at padding (as transformers does).
        let low = f64::from(f32::MIN);
        let mask = mask
            .to_dtype(DType::F32)?
            .affine(-low, low)?
            .reshape((b, 1, 1, n))?;
        for l in &self.layers {
            x = l.forward(&x, &mask)?;
        }
        Ok(x)
    }
}
