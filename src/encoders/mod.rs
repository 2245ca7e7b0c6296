//! Encoders: CLIP and SigLIP (images and text into one space) and a sentence encoder for
//! product text.
//! Both load Hugging Face-layout folders and run through candle.

mod activation;
mod attention;
mod bert;
pub mod clip;
mod clip_model;
mod gemm;
mod norm;
pub mod open_clip;
pub mod preprocess;
mod qgemm;
mod siglip_model;
pub mod text;

use std::path::Path;
use std::str::FromStr;

use candle_core::Device;

use crate::error::{Error, Result};

pub use clip::ClipEncoder;
pub use text::TextEncoder;

/// The int8 matrix kernel this CPU runs ("avx-512 vnni 8-bit", "avx-vnni 8-bit", "avx2 16-bit"…),
/// for benchmarks' reports.
pub fn int8_cpu_kernel() -> &'static str {
    qgemm::kernel_name()
}

/// Runs a model's forward pass on a thread of the pool that its layers' parallel steps run on,
/// so that each of those many short steps starts and ends without waking the calling thread.
pub(crate) fn on_pool<R: Send>(forward: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| forward())
}

/// Where the encoders run.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA or Metal when built in and present, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda),
            "metal" => Ok(DeviceChoice::Metal),
            _ => Err(format!(
                "unknown device {s:?}: use auto, cpu, cuda or metal"
            )),
        }
    }
}

impl DeviceChoice {
    /// The candle device this choice resolves to (CUDA or Metal when asked for and present).
    pub(crate) fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda => Device::new_cuda(0).map_err(|e| {
                Error::Model(format!(
                    "cannot use CUDA ({e}); this build has CUDA only when built with `--features cuda`"
                ))
            }),
            DeviceChoice::Metal => Device::new_metal(0).map_err(|e| {
                Error::Model(format!(
                    "cannot use Metal ({e}); this build has Metal only when built with `--features metal`"
                ))
            }),
            DeviceChoice::Auto => {
                if candle_core::utils::cuda_is_available()
                    && let Ok(d) = Device::new_cuda(0)
                {
                    return Ok(d);
                }
                if candle_core::utils::metal_is_available()
                    && let Ok(d) = Device::new_metal(0)
                {
                    return Ok(d);
                }
                Ok(Device::Cpu)
            }
        }
    }
}

/// The numbers the visual model's linear layers run in: f32, or int8 weights quantised at load
/// (on the CPU one scale per output, each input row with its own, in 8-bit integers where the
/// CPU has AVX-512 VNNI and 16-bit elsewhere; off the CPU candle's q8_0): a quarter of the
/// weight memory, faster on the CPU, embeddings at a cosine of about 0.9995 to f32's.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Int8,
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "int8" | "i8" | "q8" | "q8_0" => Ok(Precision::Int8),
            _ => Err(format!("unknown precision {s:?}: use f32 or int8")),
        }
    }
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

/// Turns a candle error into one that names the model folder.
pub(crate) fn model_err(dir: &Path) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::Model(format!("{}: {e}", dir.display()))
}

/// Whether the tokenizer has `word` as one token of its own: a word of the language the model
/// learnt (a misspelling is split into pieces).
pub(crate) fn is_one_token(tokenizer: &tokenizers::Tokenizer, word: &str) -> bool {
    tokenizer
        .encode(word, false)
        .is_ok_and(|e| e.get_attention_mask().iter().filter(|&&m| m == 1).count() == 1)
}

pub(crate) fn tokenizer_from(path: &Path) -> Result<tokenizers::Tokenizer> {
    tokenizers::Tokenizer::from_file(path).map_err(|e| {
        Error::Model(format!(
            "{}: cannot load the tokenizer: {e}",
            path.display()
        ))
    })
}

/// Memory-maps `model.safetensors`, checking its header against the file size first so a
/// truncated or corrupt file is a clear error rather than a crash.
pub(crate) fn load_weights(dir: &Path, device: &Device) -> Result<candle_nn::VarBuilder<'static>> {
    let path = dir.join("model.safetensors");
    if !path.is_file() {
        return Err(Error::Model(format!(
            "{}: no model.safetensors",
            dir.display()
        )));
    }
    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    // SAFETY: the map is read-only; a model file rewritten while mapped is outside our contract.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
    safetensors::SafeTensors::deserialize(&mmap).map_err(|e| {
        Error::Model(format!(
            "{}: corrupt or truncated weights file ({e}); download the model again",
            path.display()
        ))
    })?;
    drop(mmap);
    // SAFETY: as above.
    unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(&[&path], candle_core::DType::F32, device)
    }
    .map_err(model_err(dir))
}
