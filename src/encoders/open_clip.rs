//! OpenCLIP's SigLIP layout (Marqo-Ecommerce-B and -L: a timm SigLIP vision tower and
//! OpenCLIP's text tower without a causal mask), loaded into the SigLIP module by renaming its
//! weights: `open_clip_config.json`, `open_clip_model.safetensors`, `tokenizer.json`.
//!
//! The sizes come from the weights' shapes (attention heads, which shapes do not show, from the
//! config for text and from the timm model's name for vision); both towers use exact GELU, as
//! timm and OpenCLIP do by default.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::{Value, json};

use super::preprocess::Preprocessor;
use super::siglip_model::{SiglipConfig, SiglipTextConfig, SiglipVisionConfig};
use crate::error::{Error, Result};

pub const CONFIG: &str = "open_clip_config.json";
pub const WEIGHTS: &str = "open_clip_model.safetensors";
pub const REQUIRED_FILES: &[&str] = &[WEIGHTS, CONFIG, "tokenizer.json"];

/// Whether `dir` holds a model in OpenCLIP's layout.
pub fn is_open_clip(dir: &Path) -> bool {
    dir.join(CONFIG).is_file()
}

/// How OpenCLIP's tokenizer cleans text before tokenising it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TextClean {
    /// Lower case (SigLIP 2's tokenizer).
    Lower,
    /// Lower case, ASCII punctuation removed, underscores and runs of spaces as one space.
    Canonicalize,
    /// Runs of spaces as one space.
    Whitespace,
}

impl TextClean {
    pub fn apply(self, text: &str) -> String {
        let spaced = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        match self {
            TextClean::Lower => text.to_lowercase(),
            TextClean::Whitespace => spaced(text),
            TextClean::Canonicalize => {
                let t: String = text
                    .replace('_', " ")
                    .chars()
                    .filter(|c| !c.is_ascii_punctuation())
                    .collect();
                spaced(&t.to_lowercase())
            }
        }
    }
}

/// What loading an OpenCLIP folder gives: the SigLIP configuration, the weights under SigLIP's
/// names, the preprocessing and the text cleaning.
pub struct Loaded {
    pub config: SiglipConfig,
    pub vb: VarBuilder<'static>,
    pub preprocessor: Preprocessor,
    pub clean: TextClean,
}

pub fn load(dir: &Path, device: &Device) -> Result<Loaded> {
    let cfg_path = dir.join(CONFIG);
    let bad = |what: String| Error::Model(format!("{}: {what}", cfg_path.display()));
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
    let cfg: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let model = &cfg["model_cfg"];
    let text_cfg = &model["text_cfg"];
    let vision_cfg = &model["vision_cfg"];
    if !text_cfg["no_causal_mask"].as_bool().unwrap_or(false)
        || text_cfg["pool_type"].as_str() != Some("last")
        || vision_cfg["timm_pool"].as_str() != Some("map")
    {
        return Err(bad(
            "only OpenCLIP's SigLIP models are supported (timm SigLIP vision tower with attention pooling, text without a causal mask read at its last position)".into(),
        ));
    }
    let weights = read_weights(dir)?;
    let (tensors, config) = rename(weights, text_cfg, vision_cfg).map_err(bad)?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    let clean = match text_cfg["tokenizer_kwargs"]["clean"].as_str() {
        Some("canonicalize") => TextClean::Canonicalize,
        Some("lower") => TextClean::Lower,
        _ => TextClean::Whitespace,
    };
    let preprocessor = preprocessing(&cfg["preprocess_cfg"], config.vision_config.image_size)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Loaded {
        config,
        vb,
        preprocessor,
        clean,
    })
}

fn read_weights(dir: &Path) -> Result<HashMap<String, Tensor>> {
    let path = dir.join(WEIGHTS);
    if !path.is_file() {
        return Err(Error::Model(format!("{}: no {WEIGHTS}", dir.display())));
    }
    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    // SAFETY: the map is read-only and dropped once the tensors are copied out of it; a model
    // file rewritten while loading is outside our contract (as for `load_weights`).
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
    let corrupt = |e: &dyn std::fmt::Display| {
        Error::Model(format!(
            "{}: corrupt or truncated weights file ({e}); download the model again",
            path.display()
        ))
    };
    safetensors::SafeTensors::deserialize(&bytes).map_err(|e| corrupt(&e))?;
    candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| corrupt(&e))
}

/// OpenCLIP's preprocessing as the reference image processor's configuration.
fn preprocessing(p: &Value, image_size: usize) -> Result<Preprocessor> {
    let squash = p["resize_mode"].as_str() == Some("squash");
    let resample = match p["interpolation"].as_str() {
        Some("bilinear") => 2,
        _ => 3,
    };
    let mean = p.get("mean").cloned().unwrap_or(json!([0.5, 0.5, 0.5]));
    let std = p.get("std").cloned().unwrap_or(json!([0.5, 0.5, 0.5]));
    let square = json!({ "height": image_size, "width": image_size });
    let cfg = json!({
        "size": if squash { square.clone() } else { json!({ "shortest_edge": image_size }) },
        "crop_size": square,
        "do_center_crop": !squash,
        "image_mean": mean,
        "image_std": std,
        "resample": resample,
    });
    Preprocessor::from_value(cfg, Path::new(CONFIG))
}

type Res<T> = std::result::Result<T, String>;

/// Moves weights from OpenCLIP's and timm's names to SigLIP's, naming any that is missing.
struct Renamer {
    from: HashMap<String, Tensor>,
    to: HashMap<String, Tensor>,
}

impl Renamer {
    fn take(&mut self, name: &str) -> Res<Tensor> {
        self.from
            .remove(name)
            .ok_or_else(|| format!("the weights have no {name}"))
    }

    fn put(&mut self, name: String, t: Tensor) {
        self.to.insert(name, t);
    }

    /// `a.weight` and `a.bias` as `b.weight` and `b.bias`.
    fn pair(&mut self, a: &str, b: &str) -> Res<()> {
        for p in ["weight", "bias"] {
            let t = self.take(&format!("{a}.{p}"))?;
            self.put(format!("{b}.{p}"), t);
        }
        Ok(())
    }

    /// The transformer layers `{from}0.`, `{from}1.`, … (while `{from}N.{marker}.weight`
    /// exists) as `{to}N.`: the fused query-key-value projection `qkv` (weight, bias) split
    /// into three, the others renamed by `pairs`. Returns how many, and their MLP's width.
    fn layers(
        &mut self,
        [from, to, marker]: [&str; 3],
        qkv: [&str; 2],
        pairs: &[(&str, &str)],
        dim: usize,
    ) -> Res<(usize, usize)> {
        let mut n = 0;
        while self
            .from
            .contains_key(&format!("{from}{n}.{marker}.weight"))
        {
            let (a, b) = (format!("{from}{n}."), format!("{to}{n}."));
            let w = self.take(&format!("{a}{}", qkv[0]))?;
            let bias = self.take(&format!("{a}{}", qkv[1]))?;
            for (i, name) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
                let part = |t: &Tensor| {
                    t.narrow(0, i * dim, dim)
                        .and_then(|t| t.contiguous())
                        .map_err(|e| e.to_string())
                };
                self.put(format!("{b}self_attn.{name}.weight"), part(&w)?);
                self.put(format!("{b}self_attn.{name}.bias"), part(&bias)?);
            }
            for (x, y) in pairs {
                self.pair(&format!("{a}{x}"), &format!("{b}{y}"))?;
            }
            n += 1;
        }
        let inter = self
            .to
            .get(&format!("{to}0.mlp.fc1.weight"))
            .map(|t| t.dims()[0])
            .ok_or_else(|| format!("no layers at {from}"))?;
        Ok((n, inter))
    }
}

/// Moves every weight to its SigLIP name; returns them with the configuration they imply.
fn rename(
    w: HashMap<String, Tensor>,
    text_cfg: &Value,
    vision_cfg: &Value,
) -> Res<(HashMap<String, Tensor>, SiglipConfig)> {
    let mut r = Renamer {
        from: w,
        to: HashMap::new(),
    };
    let err = |e: candle_core::Error| e.to_string();

    // Vision: timm's ViT.
    let v = "visual.trunk.";
    let patch = r.take(&format!("{v}patch_embed.proj.weight"))?;
    let (hidden, patch_size) = match patch.dims() {
        &[d, 3, p, q] if p == q => (d, p),
        other => return Err(format!("unexpected patch embedding shape {other:?}")),
    };
    let positions = r.take(&format!("{v}pos_embed"))?;
    let patches = positions.dims().get(1).copied().unwrap_or(0);
    let side = (patches as f64).sqrt().round() as usize;
    if side * side != patches {
        return Err(format!(
            "{patches} position embeddings do not make a square grid"
        ));
    }
    let vm = "vision_model.";
    r.put(format!("{vm}embeddings.patch_embedding.weight"), patch);
    let bias = r.take(&format!("{v}patch_embed.proj.bias"))?;
    r.put(format!("{vm}embeddings.patch_embedding.bias"), bias);
    r.put(
        format!("{vm}embeddings.position_embedding.weight"),
        positions.squeeze(0).map_err(err)?,
    );
    let name = vision_cfg["timm_model_name"].as_str().unwrap_or_default();
    // Heads do not show in the shapes: 64 wide, except in the shape-optimised SO400M.
    let vision_heads = if name.contains("so400m") {
        16
    } else {
        (hidden / 64).max(1)
    };
    let (depth, vision_inter) = r.layers(
        [
            &format!("{v}blocks."),
            &format!("{vm}encoder.layers."),
            "norm1",
        ],
        ["attn.qkv.weight", "attn.qkv.bias"],
        &[
            ("attn.proj", "self_attn.out_proj"),
            ("norm1", "layer_norm1"),
            ("norm2", "layer_norm2"),
            ("mlp.fc1", "mlp.fc1"),
            ("mlp.fc2", "mlp.fc2"),
        ],
        hidden,
    )?;
    r.pair(&format!("{v}norm"), &format!("{vm}post_layernorm"))?;
    let ap = format!("{v}attn_pool.");
    let head = format!("{vm}head.");
    for (a, b) in [
        ("proj", "attention.out_proj"),
        ("norm", "layernorm"),
        ("mlp.fc1", "mlp.fc1"),
        ("mlp.fc2", "mlp.fc2"),
    ] {
        r.pair(&format!("{ap}{a}"), &format!("{head}{b}"))?;
    }
    let head_inter = r.to[&format!("{head}mlp.fc1.weight")].dims()[0];
    if head_inter != vision_inter {
        return Err(format!(
            "the pooling head's MLP ({head_inter}) differs in width from the layers' ({vision_inter})"
        ));
    }
    let probe = r.take(&format!("{ap}latent"))?;
    r.put(format!("{head}probe"), probe);
    // The head's query and key-value projections as one input projection.
    for (p, joined) in [("weight", "in_proj_weight"), ("bias", "in_proj_bias")] {
        let q = r.take(&format!("{ap}q.{p}"))?;
        let kv = r.take(&format!("{ap}kv.{p}"))?;
        let t = Tensor::cat(&[q, kv], 0).map_err(err)?;
        r.put(format!("{head}attention.{joined}"), t);
    }

    // Text: OpenCLIP's transformer.
    let tokens = r.take("text.token_embedding.weight")?;
    let (vocab, width) = (tokens.dims()[0], tokens.dims()[1]);
    let text_positions = r.take("text.positional_embedding")?;
    let context = text_positions.dims()[0];
    let tm = "text_model.";
    r.put(format!("{tm}embeddings.token_embedding.weight"), tokens);
    r.put(
        format!("{tm}embeddings.position_embedding.weight"),
        text_positions,
    );
    let (layers, text_inter) = r.layers(
        [
            "text.transformer.resblocks.",
            &format!("{tm}encoder.layers."),
            "ln_1",
        ],
        ["attn.in_proj_weight", "attn.in_proj_bias"],
        &[
            ("attn.out_proj", "self_attn.out_proj"),
            ("ln_1", "layer_norm1"),
            ("ln_2", "layer_norm2"),
            ("mlp.c_fc", "mlp.fc1"),
            ("mlp.c_proj", "mlp.fc2"),
        ],
        width,
    )?;
    r.pair("text.ln_final", &format!("{tm}final_layer_norm"))?;
    // The projection: a linear layer (with bias), or a bare matrix applied as x·P.
    let proj_w = match r.take("text.text_projection.weight") {
        Ok(pw) => pw,
        Err(_) => r
            .take("text.text_projection")
            .map_err(|_| "the weights have no text projection".to_string())?
            .t()
            .and_then(|t| t.contiguous())
            .map_err(err)?,
    };
    let projection = proj_w.dims()[0];
    let proj_b = match r.take("text.text_projection.bias") {
        Ok(b) => b,
        Err(_) => Tensor::zeros(projection, DType::F32, &Device::Cpu).map_err(err)?,
    };
    r.put(format!("{tm}head.weight"), proj_w);
    r.put(format!("{tm}head.bias"), proj_b);
    let text_heads = text_cfg["heads"].as_u64().unwrap_or(8) as usize;
    let text_eps = text_cfg["norm_kwargs"]["eps"].as_f64().unwrap_or(1e-5);
    let unused: Vec<&String> = r
        .from
        .keys()
        .filter(|k| !matches!(k.as_str(), "logit_scale" | "logit_bias" | "text.attn_mask"))
        .collect();
    if !unused.is_empty() {
        return Err(format!(
            "weights this architecture does not have: {unused:?}"
        ));
    }
    let config = SiglipConfig {
        text_config: SiglipTextConfig {
            vocab_size: vocab,
            hidden_size: width,
            intermediate_size: text_inter,
            num_hidden_layers: layers,
            num_attention_heads: text_heads,
            max_position_embeddings: context,
            hidden_act: "gelu".into(),
            layer_norm_eps: text_eps,
            pad_token_id: None,
            projection_size: Some(projection),
        },
        vision_config: SiglipVisionConfig {
            hidden_size: hidden,
            intermediate_size: vision_inter,
            num_hidden_layers: depth,
            num_attention_heads: vision_heads,
            num_channels: 3,
            image_size: side * patch_size,
            patch_size,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-6,
            vision_use_head: true,
        },
    };
    config.embedding_dim()?;
    Ok((r.to, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_lower_case_without_punctuation_or_extra_spaces() {
        assert_eq!(
            TextClean::Canonicalize.apply("  Red_Leather  Bag, under $80! "),
            "red leather bag under 80"
        );
        assert_eq!(
            TextClean::Canonicalize.apply("红色 皮革—包"),
            "红色 皮革—包"
        );
        assert_eq!(TextClean::Lower.apply("Bolso ROJO"), "bolso rojo");
        assert_eq!(TextClean::Whitespace.apply(" a \t b "), "a b");
    }
}
