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

/// Moves every weight to its SigLIP name; returns them with the configuration they imply.
fn rename(
    mut w: HashMap<String, Tensor>,
    text_cfg: &Value,
    vision_cfg: &Value,
) -> std::result::Result<(HashMap<String, Tensor>, SiglipConfig), String> {
    let mut out = HashMap::new();
    let mut take = |from: &str| -> std::result::Result<Tensor, String> {
        w.remove(from)
            .ok_or_else(|| format!("the weights have no {from}"))
    };
    let dims = |t: &Tensor| t.dims().to_vec();
    let err = |e: candle_core::Error| e.to_string();

    // Vision: timm's ViT.
    let v = "visual.trunk.";
    let patch = take(&format!("{v}patch_embed.proj.weight"))?;
    let (hidden, patch_size) = match dims(&patch)[..] {
        [d, 3, p, q] if p == q => (d, p),
        ref other => return Err(format!("unexpected patch embedding shape {other:?}")),
    };
    let positions = take(&format!("{v}pos_embed"))?;
    let patches = positions.dims().get(1).copied().unwrap_or(0);
    let side = (patches as f64).sqrt().round() as usize;
    if side * side != patches {
        return Err(format!(
            "{patches} position embeddings do not make a square grid"
        ));
    }
    let vm = "vision_model.";
    out.insert(format!("{vm}embeddings.patch_embedding.weight"), patch);
    out.insert(
        format!("{vm}embeddings.patch_embedding.bias"),
        take(&format!("{v}patch_embed.proj.bias"))?,
    );
    out.insert(
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
    let mut depth = 0;
    while w.contains_key(&format!("{v}blocks.{depth}.norm1.weight")) {
        let (from, to) = (
            format!("{v}blocks.{depth}."),
            format!("{vm}encoder.layers.{depth}."),
        );
        let qkv_w = w.remove(&format!("{from}attn.qkv.weight"));
        let qkv_b = w.remove(&format!("{from}attn.qkv.bias"));
        split_qkv(&mut out, &to, qkv_w, qkv_b, hidden)?;
        for (a, b) in [
            ("attn.proj", "self_attn.out_proj"),
            ("norm1", "layer_norm1"),
            ("norm2", "layer_norm2"),
            ("mlp.fc1", "mlp.fc1"),
            ("mlp.fc2", "mlp.fc2"),
        ] {
            for p in ["weight", "bias"] {
                let t = w
                    .remove(&format!("{from}{a}.{p}"))
                    .ok_or_else(|| format!("the weights have no {from}{a}.{p}"))?;
                out.insert(format!("{to}{b}.{p}"), t);
            }
        }
        depth += 1;
    }
    let vision_inter = out
        .get(&format!("{vm}encoder.layers.0.mlp.fc1.weight"))
        .map(|t| t.dims()[0])
        .ok_or("the vision tower has no layers")?;
    let mut moved = |w: &mut HashMap<String, Tensor>, a: &str, b: &str| {
        for p in ["weight", "bias"] {
            if let Some(t) = w.remove(&format!("{a}.{p}")) {
                out.insert(format!("{b}.{p}"), t);
            }
        }
    };
    moved(&mut w, &format!("{v}norm"), &format!("{vm}post_layernorm"));
    let ap = format!("{v}attn_pool.");
    let head = format!("{vm}head.");
    moved(
        &mut w,
        &format!("{ap}proj"),
        &format!("{head}attention.out_proj"),
    );
    moved(&mut w, &format!("{ap}norm"), &format!("{head}layernorm"));
    moved(&mut w, &format!("{ap}mlp.fc1"), &format!("{head}mlp.fc1"));
    moved(&mut w, &format!("{ap}mlp.fc2"), &format!("{head}mlp.fc2"));
    let head_inter = out
        .get(&format!("{head}mlp.fc1.weight"))
        .map(|t| t.dims()[0])
        .ok_or("the vision tower has no attention pooling")?;
    if head_inter != vision_inter {
        return Err(format!(
            "the pooling head's MLP ({head_inter}) differs in width from the layers' ({vision_inter})"
        ));
    }
    let mut take = |from: &str| -> std::result::Result<Tensor, String> {
        w.remove(from)
            .ok_or_else(|| format!("the weights have no {from}"))
    };
    out.insert(format!("{head}probe"), take(&format!("{ap}latent"))?);
    let in_w = Tensor::cat(
        &[
            take(&format!("{ap}q.weight"))?,
            take(&format!("{ap}kv.weight"))?,
        ],
        0,
    )
    .map_err(err)?;
    let in_b = Tensor::cat(
        &[
            take(&format!("{ap}q.bias"))?,
            take(&format!("{ap}kv.bias"))?,
        ],
        0,
    )
    .map_err(err)?;
    out.insert(format!("{head}attention.in_proj_weight"), in_w);
    out.insert(format!("{head}attention.in_proj_bias"), in_b);

    // Text: OpenCLIP's transformer.
    let tokens = take("text.token_embedding.weight")?;
    let (vocab, width) = (tokens.dims()[0], tokens.dims()[1]);
    let text_positions = take("text.positional_embedding")?;
    let context = text_positions.dims()[0];
    let tm = "text_model.";
    out.insert(format!("{tm}embeddings.token_embedding.weight"), tokens);
    out.insert(
        format!("{tm}embeddings.position_embedding.weight"),
        text_positions,
    );
    let mut layers = 0;
    while w.contains_key(&format!("text.transformer.resblocks.{layers}.ln_1.weight")) {
        let from = format!("text.transformer.resblocks.{layers}.");
        let to = format!("{tm}encoder.layers.{layers}.");
        let qkv_w = w.remove(&format!("{from}attn.in_proj_weight"));
        let qkv_b = w.remove(&format!("{from}attn.in_proj_bias"));
        split_qkv(&mut out, &to, qkv_w, qkv_b, width)?;
        for (a, b) in [
            ("attn.out_proj", "self_attn.out_proj"),
            ("ln_1", "layer_norm1"),
            ("ln_2", "layer_norm2"),
            ("mlp.c_fc", "mlp.fc1"),
            ("mlp.c_proj", "mlp.fc2"),
        ] {
            for p in ["weight", "bias"] {
                let t = w
                    .remove(&format!("{from}{a}.{p}"))
                    .ok_or_else(|| format!("the weights have no {from}{a}.{p}"))?;
                out.insert(format!("{to}{b}.{p}"), t);
            }
        }
        layers += 1;
    }
    let text_inter = out
        .get(&format!("{tm}encoder.layers.0.mlp.fc1.weight"))
        .map(|t| t.dims()[0])
        .ok_or("the text tower has no layers")?;
    for p in ["weight", "bias"] {
        let t = w
            .remove(&format!("text.ln_final.{p}"))
            .ok_or_else(|| format!("the weights have no text.ln_final.{p}"))?;
        out.insert(format!("{tm}final_layer_norm.{p}"), t);
    }
    // The projection: a linear layer (with bias), or a bare matrix applied as x·P.
    let (proj_w, proj_b) = match (
        w.remove("text.text_projection.weight"),
        w.remove("text.text_projection"),
    ) {
        (Some(pw), _) => {
            let b = match w.remove("text.text_projection.bias") {
                Some(b) => b,
                None => Tensor::zeros(pw.dims()[0], DType::F32, &Device::Cpu).map_err(err)?,
            };
            (pw, b)
        }
        (None, Some(p)) => {
            let pw = p.t().map_err(err)?.contiguous().map_err(err)?;
            let b = Tensor::zeros(pw.dims()[0], DType::F32, &Device::Cpu).map_err(err)?;
            (pw, b)
        }
        (None, None) => return Err("the weights have no text projection".into()),
    };
    let projection = proj_w.dims()[0];
    out.insert(format!("{tm}head.weight"), proj_w);
    out.insert(format!("{tm}head.bias"), proj_b);
    let text_heads = text_cfg["heads"].as_u64().unwrap_or(8) as usize;
    let text_eps = text_cfg["norm_kwargs"]["eps"].as_f64().unwrap_or(1e-5);
    let unused: Vec<&String> = w
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
    Ok((out, config))
}

/// A fused query-key-value projection as SigLIP's three.
fn split_qkv(
    out: &mut HashMap<String, Tensor>,
    to: &str,
    w: Option<Tensor>,
    b: Option<Tensor>,
    dim: usize,
) -> std::result::Result<(), String> {
    let (Some(w), Some(b)) = (w, b) else {
        return Err(format!("{to}: no fused attention projection"));
    };
    for (i, name) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
        let part = |t: &Tensor| {
            t.narrow(0, i * dim, dim)
                .and_then(|t| t.contiguous())
                .map_err(|e| e.to_string())
        };
        out.insert(format!("{to}self_attn.{name}.weight"), part(&w)?);
        out.insert(format!("{to}self_attn.{name}.bias"), part(&b)?);
    }
    Ok(())
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
