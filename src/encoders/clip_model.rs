//! The CLIP architecture (vision and text towers with their projections), following the
//! reference implementation's layout and weight names, built from `config.json`.
//!
//! A small copy rather than candle-transformers' CLIP: that one hard-codes quick-GELU and the
//! layer-norm epsilon (LAION's models use exact GELU), and pools text at the largest token id
//! rather than at the first end-of-text token. Keeping the model here also lets us tune its
//! CPU path without forking candle.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::Deserialize;

use super::Precision;
use super::activation::{Act, bias_act};
use super::attention::attend;
use super::gemm::{self, Packed};
use super::norm::{self, Norm};
use super::qgemm::QPacked;

/// A linear layer. On the CPU the weight is packed for the own kernels (f32, or int8 with one
/// scale per output); elsewhere candle's matrix product, dense or q8_0 (blocks of 32 weights
/// sharing one scale, activations quantised the same way on the fly).
pub(crate) enum Proj {
    Packed(Box<Packed>),
    QPacked(Box<QPacked>),
    /// The weight is kept transposed, `[in, out]`, as the matrix product reads it.
    Dense {
        wt: Tensor,
        b: Option<Tensor>,
    },
    Int8 {
        w: QMatMul,
        b: Option<Tensor>,
    },
}

impl Proj {
    pub(crate) fn new(l: Linear, p: Precision) -> Result<Proj> {
        let k = l.weight().dim(1)?;
        let b = l.bias().cloned();
        match p {
            Precision::F32 => {
                if let Some(packed) = Packed::from_linear(&l)? {
                    return Ok(Proj::Packed(Box::new(packed)));
                }
            }
            Precision::Int8 => {
                if let Some(packed) = QPacked::from_linear(&l)? {
                    return Ok(Proj::QPacked(Box::new(packed)));
                }
                // q8_0 needs the input size in whole blocks; other layers stay dense.
                if k.is_multiple_of(GgmlDType::Q8_0.block_size()) {
                    // Quantisation reads the storage from its start: a weight that is a slice
                    // of a larger tensor (an offset into shared storage) is copied out first.
                    let w = l.weight();
                    let own = Tensor::from_vec(
                        w.flatten_all()?.to_vec1::<f32>()?,
                        w.shape(),
                        w.device(),
                    )?;
                    let q = QTensor::quantize(&own, GgmlDType::Q8_0)?;
                    let w = QMatMul::from_qtensor(q)?;
                    return Ok(Proj::Int8 { w, b });
                }
            }
        }
        let wt = l.weight().t()?.contiguous()?;
        Ok(Proj::Dense { wt, b })
    }

    /// `act(xs·Wᵀ + b)` over the last dimension of `xs`.
    pub(crate) fn forward(&self, xs: &Tensor, act: Option<Act>) -> Result<Tensor> {
        self.run(xs, act, None)
    }

    /// `xs·Wᵀ + b + add`: a residual added as the output is made (`add` of the output's shape).
    pub(crate) fn forward_add(&self, xs: &Tensor, add: &Tensor) -> Result<Tensor> {
        self.run(xs, None, Some(add))
    }

    fn run(&self, xs: &Tensor, act: Option<Act>, add: Option<&Tensor>) -> Result<Tensor> {
        let mut dims = xs.dims().to_vec();
        let k = dims.pop().unwrap_or(1);
        let rows = xs.elem_count() / k.max(1);
        let x2 = xs.reshape((rows, k))?;
        let add = add.map(|a| a.reshape((rows, ()))).transpose()?;
        let plus = |y: Tensor| match &add {
            Some(a) => y + a,
            None => Ok(y),
        };
        let y = match self {
            Proj::Packed(w) => gemm::apply(&**w, &x2.contiguous()?, act, add.as_ref())?,
            Proj::QPacked(w) => gemm::apply(&**w, &x2.contiguous()?, act, add.as_ref())?,
            Proj::Dense { wt, b } => plus(bias_act(x2.matmul(wt)?, b.as_ref(), act)?)?,
            Proj::Int8 { w, b } => plus(bias_act(w.forward(&x2.contiguous()?)?, b.as_ref(), act)?)?,
        };
        dims.push(y.dim(1)?);
        y.reshape(dims)
    }
}

/// A patch embedding: a convolution whose stride is its kernel size, run as one linear layer
/// over the image's patches, each read in the convolution weight's order (channels × rows ×
/// columns).
pub(crate) struct Patches {
    proj: Proj,
    size: usize,
}

impl Patches {
    /// `weight` `[hidden, channels, size, size]` (and `bias` when `bias`) under `vb`, for
    /// images of `image` × `image` pixels, computing in `p`.
    pub(crate) fn new(
        vb: VarBuilder,
        [channels, hidden, size, image]: [usize; 4],
        bias: bool,
        p: Precision,
    ) -> Result<Self> {
        if size == 0 || !image.is_multiple_of(size) {
            candle_core::bail!("image size {image} is not a multiple of the patch size {size}");
        }
        let w = vb
            .get((hidden, channels, size, size), "weight")?
            .reshape((hidden, channels * size * size))?;
        let b = if bias {
            Some(vb.get(hidden, "bias")?)
        } else {
            None
        };
        Ok(Patches {
            proj: Proj::new(Linear::new(w, b), p)?,
            size,
        })
    }

    /// `[batch, channels, h, w]` → `[batch, patches, hidden]`, the patches row by row.
    pub(crate) fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = pixels.dims4()?;
        let p = self.size;
        let x = pixels
            .reshape((b, c, h / p, p, w / p, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b, (h / p) * (w / p), c * p * p))?;
        self.proj.forward(&x, None)
    }
}

pub(crate) fn linear(i: usize, o: usize, vb: VarBuilder, p: Precision) -> Result<Proj> {
    Proj::new(candle_nn::linear(i, o, vb)?, p)
}

fn default_eps() -> f64 {
    1e-5
}
fn default_act() -> String {
    "quick_gelu".into()
}
fn default_channels() -> usize {
    3
}

#[derive(Debug, Clone, Deserialize)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub image_size: usize,
    pub patch_size: usize,
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

/// `config.json` of a CLIP model in the Hugging Face layout.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipConfig {
    pub text_config: TextConfig,
    pub vision_config: VisionConfig,
    pub projection_dim: usize,
}

pub(crate) struct Attention {
    /// Query, key and value projections in one product; the query part pre-scaled.
    qkv: Proj,
    out: Proj,
    heads: usize,
}

impl Attention {
    fn new(vb: VarBuilder, dim: usize, heads: usize, p: Precision) -> Result<Self> {
        let q = candle_nn::linear(dim, dim, vb.pp("q_proj"))?;
        let k = candle_nn::linear(dim, dim, vb.pp("k_proj"))?;
        let v = candle_nn::linear(dim, dim, vb.pp("v_proj"))?;
        let out = linear(dim, dim, vb.pp("out_proj"), p)?;
        Attention::from_parts([&q, &k, &v], out, heads, p)
    }

    /// From the query, key and value projections (`dim` → `dim`) and the output projection.
    pub(crate) fn from_parts(
        [q, k, v]: [&Linear; 3],
        out: Proj,
        heads: usize,
        p: Precision,
    ) -> Result<Self> {
        let dim = q.weight().dim(0)?;
        if heads == 0 || !dim.is_multiple_of(heads) {
            candle_core::bail!("hidden size {dim} is not divisible by {heads} attention heads");
        }
        let scale = ((dim / heads) as f64).powf(-0.5);
        let bias = |l: &Linear| match l.bias() {
            Some(b) => Ok(b.clone()),
            None => Tensor::zeros(dim, l.weight().dtype(), l.weight().device()),
        };
        // (x·Wqᵀ + bq)·s = x·(s·Wq)ᵀ + s·bq: the scale folds into the weights.
        let w = Tensor::cat(&[&(q.weight() * scale)?, k.weight(), v.weight()], 0)?;
        let b = Tensor::cat(&[&(bias(q)? * scale)?, &bias(k)?, &bias(v)?], 0)?;
        Ok(Attention {
            qkv: Proj::new(Linear::new(w, Some(b)), p)?,
            out,
            heads,
        })
    }

    /// `mask` is added to the attention scores (broadcast to [batch, heads, len, len]);
    /// `residual` (of `xs`'s shape) to the output.
    pub(crate) fn forward(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let out = |o: &Tensor| match residual {
            Some(r) => self.out.forward_add(o, r),
            None => self.out.forward(o, None),
        };
        out(&self.mix(xs, mask)?)
    }

    /// The attention's output before its output projection, [batch, len, dim].
    fn mix(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        attend(&self.qkv.forward(xs, None)?, self.heads, mask)
    }
}

pub(crate) struct Layer {
    attn: Attention,
    ln1: Norm,
    fc1: Proj,
    fc2: Proj,
    ln2: Norm,
    act: Act,
}

/// The sizes of one transformer layer.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    pub dim: usize,
    pub inter: usize,
    pub heads: usize,
    pub eps: f64,
}

impl Layer {
    fn new(vb: VarBuilder, s: Shape, act: Act, p: Precision) -> Result<Self> {
        let Shape {
            dim,
            inter,
            heads,
            eps,
        } = s;
        Ok(Layer {
            attn: Attention::new(vb.pp("self_attn"), dim, heads, p)?,
            ln1: norm::layer_norm(dim, eps, vb.pp("layer_norm1"))?,
            fc1: linear(dim, inter, vb.pp("mlp").pp("fc1"), p)?,
            fc2: linear(inter, dim, vb.pp("mlp").pp("fc2"), p)?,
            ln2: norm::layer_norm(dim, eps, vb.pp("layer_norm2"))?,
            act,
        })
    }

    pub(crate) fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let h = self.attn.forward(&self.ln1.forward(xs)?, mask, Some(xs))?;
        self.mlp(&h)
    }

    fn mlp(&self, h: &Tensor) -> Result<Tensor> {
        let m = self.fc1.forward(&self.ln2.forward(h)?, Some(self.act))?;
        self.fc2.forward_add(&m, h)
    }

    /// [`Layer::forward`] for the positions `rows` only (indices into batch × len), [rows, dim]:
    /// every position still feeds the attention's keys and values, but the output projection
    /// and the MLP, most of a layer's work, run on those rows alone.
    fn forward_rows(&self, xs: &Tensor, mask: Option<&Tensor>, rows: &Tensor) -> Result<Tensor> {
        let (b, n, d) = xs.dims3()?;
        let pick = |t: &Tensor| t.reshape((b * n, d))?.index_select(rows, 0);
        let mixed = pick(&self.attn.mix(&self.ln1.forward(xs)?, mask)?)?;
        let h = self.attn.out.forward_add(&mixed, &pick(xs)?)?;
        self.mlp(&h)
    }
}

/// Runs `layers` over `x` [batch, len, dim] and returns the output at the positions `rows`
/// (indices into batch × len), [rows, dim]: a tower that pools one position per input reads
/// nothing else of the last layer, so that layer computes only those rows (the same numbers).
pub(crate) fn run_to_rows(
    layers: &[Layer],
    mut x: Tensor,
    mask: Option<&Tensor>,
    rows: &[usize],
) -> Result<Tensor> {
    let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
    let idx = Tensor::new(idx.as_slice(), x.device())?;
    let Some((last, before)) = layers.split_last() else {
        let (b, n, d) = x.dims3()?;
        return x.reshape((b * n, d))?.index_select(&idx, 0);
    };
    for l in before {
        x = l.forward(&x, mask)?;
    }
    last.forward_rows(&x, mask, &idx)
}

pub(crate) fn encoder(
    vb: VarBuilder,
    n: usize,
    s: Shape,
    act: &str,
    p: Precision,
) -> Result<Vec<Layer>> {
    let act = Act::parse(act)?;
    let vb = vb.pp("encoder").pp("layers");
    (0..n)
        .map(|i| Layer::new(vb.pp(i.to_string()), s, act, p))
        .collect()
}

pub struct VisionTower {
    patch: Patches,
    class: Tensor,
    positions: Tensor,
    pre_ln: Norm,
    layers: Vec<Layer>,
    post_ln: Norm,
    projection: Linear,
    pub image_size: usize,
}

impl VisionTower {
    pub fn new(
        vb: VarBuilder,
        c: &VisionConfig,
        projection_dim: usize,
        p: Precision,
    ) -> Result<Self> {
        let m = vb.pp("vision_model");
        let e = m.pp("embeddings");
        let patches = (c.image_size / c.patch_size).pow(2);
        Ok(VisionTower {
            patch: Patches::new(
                e.pp("patch_embedding"),
                [c.num_channels, c.hidden_size, c.patch_size, c.image_size],
                false,
                p,
            )?,
            class: e.get(c.hidden_size, "class_embedding")?,
            positions: e
                .pp("position_embedding")
                .get((patches + 1, c.hidden_size), "weight")?,
            pre_ln: norm::layer_norm(c.hidden_size, c.layer_norm_eps, m.pp("pre_layrnorm"))?,
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
            projection: candle_nn::linear_no_bias(
                c.hidden_size,
                projection_dim,
                vb.pp("visual_projection"),
            )?,
            image_size: c.image_size,
        })
    }

    /// Projected (not normalised) image features of `pixels` [batch, 3, size, size].
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let b = pixels.dim(0)?;
        let x = self.patch.forward(pixels)?;
        let dim = self.class.dim(0)?;
        let class = self.class.reshape((1, 1, dim))?.broadcast_as((b, 1, dim))?;
        let x = Tensor::cat(&[&class, &x], 1)?.broadcast_add(&self.positions.unsqueeze(0)?)?;
        let x = self.pre_ln.forward(&x)?;
        // Pooled at the class token, each image's first position.
        let n = x.dim(1)?;
        let class_rows: Vec<usize> = (0..b).map(|i| i * n).collect();
        let pooled = run_to_rows(&self.layers, x, None, &class_rows)?;
        self.projection.forward(&self.post_ln.forward(&pooled)?)
    }
}

/// A text transformer as CLIP and SigLIP share it (under `text_model`): token and position
/// embeddings, the layers, the final layer norm. They differ in the mask and in what they read.
pub(crate) struct TextTrunk {
    tokens: Embedding,
    positions: Tensor,
    layers: Vec<Layer>,
    final_ln: Norm,
    /// How many positions it has.
    pub context_length: usize,
}

impl TextTrunk {
    pub(crate) fn new(
        m: VarBuilder,
        vocab: usize,
        context: usize,
        n_layers: usize,
        s: Shape,
        act: &str,
        p: Precision,
    ) -> Result<Self> {
        let e = m.pp("embeddings");
        Ok(TextTrunk {
            tokens: candle_nn::embedding(vocab, s.dim, e.pp("token_embedding"))?,
            positions: e.pp("position_embedding").get((context, s.dim), "weight")?,
            layers: encoder(m.clone(), n_layers, s, act, p)?,
            final_ln: norm::layer_norm(s.dim, s.eps, m.pp("final_layer_norm"))?,
            context_length: context,
        })
    }

    /// Hidden states after the final norm of `ids` [batch, len] (u32) at one position per row,
    /// `pool_at[i]` in row i: [batch, dim].
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        mask: Option<&Tensor>,
        pool_at: &[usize],
    ) -> Result<Tensor> {
        let (_, n) = ids.dims2()?;
        let x = self
            .tokens
            .forward(ids)?
            .broadcast_add(&self.positions.narrow(0, 0, n)?.unsqueeze(0)?)?;
        let rows: Vec<usize> = pool_at.iter().enumerate().map(|(i, p)| i * n + p).collect();
        self.final_ln
            .forward(&run_to_rows(&self.layers, x, mask, &rows)?)
    }
}

pub struct TextTower {
    trunk: TextTrunk,
    projection: Linear,
    pub context_length: usize,
}

impl TextTower {
    pub fn new(
        vb: VarBuilder,
        c: &TextConfig,
        projection_dim: usize,
        p: Precision,
    ) -> Result<Self> {
        let shape = Shape {
            dim: c.hidden_size,
            inter: c.intermediate_size,
            heads: c.num_attention_heads,
            eps: c.layer_norm_eps,
        };
        let trunk = TextTrunk::new(
            vb.pp("text_model"),
            c.vocab_size,
            c.max_position_embeddings,
            c.num_hidden_layers,
            shape,
            &c.hidden_act,
            p,
        )?;
        Ok(TextTower {
            context_length: trunk.context_length,
            trunk,
            projection: candle_nn::linear_no_bias(
                c.hidden_size,
                projection_dim,
                vb.pp("text_projection"),
            )?,
        })
    }

    /// Projected (not normalised) text features. `ids` [batch, len] (u32); `pool_at[i]` is the
    /// position of row i's end-of-text token. Under the causal mask, tokens after it (padding)
    /// cannot change it, so rows may be padded with anything.
    pub fn forward(&self, ids: &Tensor, pool_at: &[usize]) -> Result<Tensor> {
        let (_, n) = ids.dims2()?;
        let mask = causal_mask(n, ids.device())?;
        let pooled = self.trunk.forward(ids, Some(&mask), pool_at)?;
        self.projection.forward(&pooled)
    }
}

fn causal_mask(n: usize, device: &Device) -> Result<Tensor> {
    let m: Vec<f32> = (0..n)
        .flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_slice(&m, (1, 1, n, n), device)
}

/// L2-normalises each row.
pub fn normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}

pub fn to_f32_rows(x: &Tensor) -> Result<Vec<Vec<f32>>> {
    x.to_dtype(DType::F32)?.to_vec2()
}
