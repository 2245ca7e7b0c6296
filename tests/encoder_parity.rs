//! Parity with the reference implementations (../shared/fixtures, see its README for tolerances).

mod common;

use candle_core::{Device, Tensor};
use common::shared;
use vitrine::encoders::{ClipEncoder, DeviceChoice, Precision, TextEncoder};

fn fixture(name: &str) -> std::path::PathBuf {
    shared().join("fixtures").join(name)
}

fn inputs(name: &str) -> serde_json::Value {
    inputs_in(&fixture(name))
}

fn expected(name: &str) -> std::collections::HashMap<String, Tensor> {
    expected_in(&fixture(name))
}

fn inputs_in(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("inputs.json")).unwrap()).unwrap()
}

fn expected_in(dir: &std::path::Path) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2::<f32>().unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((*x - *y) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    diff / b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
}

/// Same inputs, same features: cosine ≥ 0.99999 and relative error ≤ 1e-4 per row (fixture README).
fn assert_same_features(what: &str, got: &[Vec<f32>], expected: &[Vec<f32>]) {
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            cosine(g, e) >= 0.99999,
            "{what} {i}: cosine {}",
            cosine(g, e)
        );
        assert!(
            rel_err(g, e) <= 1e-4,
            "{what} {i}: relative error {}",
            rel_err(g, e)
        );
    }
}

fn ids_rows(t: &Tensor) -> Vec<Vec<u32>> {
    t.to_vec2::<i64>()
        .unwrap()
        .into_iter()
        .map(|r| r.into_iter().map(|v| v as u32).collect())
        .collect()
}

fn tiny() -> ClipEncoder {
    ClipEncoder::load(&fixture("clip-tiny"), DeviceChoice::Cpu, Precision::F32).unwrap()
}

#[test]
fn clip_image_tower_matches_the_reference_on_its_pixels() {
    let enc = tiny();
    let exp = expected("clip-tiny");
    let pixels = rows(&exp["pixel_values"].flatten_from(1).unwrap());
    let got = enc.image_features_of(&pixels).unwrap();
    assert_same_features("image", &got, &rows(&exp["image_embeds"]));
}

#[test]
fn clip_text_tower_matches_the_reference_on_its_ids() {
    let enc = tiny();
    let exp = expected("clip-tiny");
    let ids = ids_rows(&exp["input_ids"]);
    let got = enc.text_features_of(&ids, None).unwrap();
    assert_same_features("text", &got, &rows(&exp["text_embeds"]));
}

#[test]
fn clip_tokenizer_reproduces_the_reference_ids() {
    let enc = tiny();
    let inp = inputs("clip-tiny");
    let texts: Vec<&str> = inp["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let counts: Vec<usize> = inp["token_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap() as usize)
        .collect();
    let reference = ids_rows(&expected("clip-tiny")["input_ids"]);
    let ours = enc.tokenize(&texts).unwrap();
    for i in 0..texts.len() {
        assert_eq!(
            ours[i],
            reference[i][..counts[i]],
            "text {i}: {:?}",
            texts[i]
        );
    }
}

/// Own decoding and preprocessing of the photos `inp` names (from the shared CLIP fixture's
/// images) against the reference's: mean and largest absolute error per photo within
/// `(mae, max)`, and embeddings within cosine 0.9995 of the reference's normalised ones.
fn assert_own_preprocessing(
    enc: &ClipEncoder,
    inp: &serde_json::Value,
    exp: &std::collections::HashMap<String, Tensor>,
    (mae_bound, max_bound): (f32, f32),
) {
    let reference = rows(&exp["pixel_values"].flatten_from(1).unwrap());
    let ref_embeds = rows(&exp["image_embeds_normalized"]);
    let mut pixels = Vec::new();
    for (i, name) in inp["images"].as_array().unwrap().iter().enumerate() {
        let path = fixture("clip-tiny")
            .join("images")
            .join(name.as_str().unwrap());
        let img = vitrine::photo::decode_for_model(
            &std::fs::read(&path).unwrap(),
            100_000_000,
            enc.decode_side(),
        )
        .unwrap();
        let ours = enc.preprocess(&img);
        let diffs: Vec<f32> = ours
            .iter()
            .zip(&reference[i])
            .map(|(a, b)| (a - b).abs())
            .collect();
        let mae = diffs.iter().sum::<f32>() / diffs.len() as f32;
        let max = diffs.iter().cloned().fold(0f32, f32::max);
        assert!(
            mae <= mae_bound && max <= max_bound,
            "{name}: mean abs error {mae}, max {max}"
        );
        pixels.push(ours);
    }
    let ours = enc.embed_pixels(&pixels).unwrap();
    for (i, (g, e)) in ours.iter().zip(&ref_embeds).enumerate() {
        assert!(cosine(g, e) >= 0.9995, "image {i}: cosine {}", cosine(g, e));
    }
}

#[test]
fn clip_preprocessing_and_embeddings_of_own_decoding_match_the_reference() {
    // The same pixels as the reference, within float rounding (one level of 255 is about 0.015
    // after normalisation): JPEGs decode through libjpeg-turbo, as in Pillow.
    assert_own_preprocessing(
        &tiny(),
        &inputs("clip-tiny"),
        &expected("clip-tiny"),
        (1e-5, 1e-5),
    );
}

#[test]
fn clip_text_padding_to_the_longest_equals_padding_to_77() {
    let enc = tiny();
    let texts = [
        "red bag",
        "a much longer product title with many words in it",
        "",
    ];
    let ids = enc.tokenize(&texts).unwrap();
    let short = enc.text_features_of(&ids, None).unwrap();
    let full = enc.text_features_of(&ids, Some(77)).unwrap();
    for (a, b) in short.iter().zip(&full) {
        assert!(rel_err(a, b) <= 1e-5, "relative error {}", rel_err(a, b));
    }
    // And the public path (normalised, padded to the longest) agrees with the reference.
    let exp = rows(&expected("clip-tiny")["text_embeds_normalized"]);
    let inp = inputs("clip-tiny");
    let all: Vec<&str> = inp["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for (i, (g, e)) in enc.embed_texts(&all).unwrap().iter().zip(&exp).enumerate() {
        assert!(cosine(g, e) >= 0.99999, "text {i}");
    }
}

#[test]
fn minilm_reproduces_the_reference_sentence_embeddings() {
    let enc =
        TextEncoder::load(&shared().join("models/all-MiniLM-L6-v2"), DeviceChoice::Cpu).unwrap();
    let inp = inputs("minilm");
    let exp = expected("minilm");
    let texts: Vec<&str> = inp["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let (ids, mask) = enc.tokenize(&texts).unwrap();
    assert_eq!(ids, ids_rows(&exp["input_ids"]));
    assert_eq!(mask, ids_rows(&exp["attention_mask"]));
    let got = enc.embed(&texts).unwrap();
    for (i, (g, e)) in got
        .iter()
        .zip(rows(&exp["embeddings_normalized"]))
        .enumerate()
    {
        assert!(
            cosine(g, &e) >= 0.99999,
            "text {i}: cosine {}",
            cosine(g, &e)
        );
    }
}

/// A tiny model made by `scripts/make-model-fixtures` (in the repository), with the photos of
/// the shared CLIP fixture.
fn repo_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn texts_of(inp: &serde_json::Value) -> Vec<String> {
    inp["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// The reference's towers on the reference's inputs; the tokenizer's ids (the reference pads
/// them to the fixed length); own preprocessing of the photos; and the public path.
fn check_image_text_parity(name: &str, enc: &ClipEncoder) {
    let exp = expected_in(&repo_fixture(name));
    let inp = inputs_in(&repo_fixture(name));
    let pixels = rows(&exp["pixel_values"].flatten_from(1).unwrap());
    let got = enc.image_features_of(&pixels).unwrap();
    assert_same_features("image", &got, &rows(&exp["image_embeds"]));

    let reference_ids = ids_rows(&exp["input_ids"]);
    let got = enc.text_features_of(&reference_ids, None).unwrap();
    assert_same_features("text", &got, &rows(&exp["text_embeds"]));

    let texts = texts_of(&inp);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = enc.tokenize(&refs).unwrap();
    let fixed = enc.fixed_text_length().expect("a fixed text length");
    for (i, (o, r)) in ours.iter().zip(&reference_ids).enumerate() {
        assert_eq!(r.len(), fixed);
        assert_eq!(o[..], r[..o.len()], "text {i}: {:?}", texts[i]);
        let pad = r[r.len() - 1];
        assert!(
            r[o.len()..].iter().all(|&t| t == pad),
            "text {i}: the rest is padding"
        );
    }
    let public = enc.embed_texts(&refs).unwrap();
    for (i, (g, e)) in public
        .iter()
        .zip(rows(&exp["text_embeds_normalized"]))
        .enumerate()
    {
        assert!(cosine(g, &e) >= 0.99999, "text {i}: {}", cosine(g, &e));
    }

    // Close, not equal: these references' bilinear resize rounds differently (a level here and
    // there; up to 9 levels on the transparent photo in open_clip's).
    assert_own_preprocessing(enc, &inp, &exp, (0.01, 0.1));
}

#[test]
fn siglip_matches_the_reference_towers_tokenizer_and_preprocessing() {
    let enc = ClipEncoder::load(
        &repo_fixture("siglip-tiny"),
        DeviceChoice::Cpu,
        Precision::F32,
    )
    .unwrap();
    assert_eq!(enc.dim, 128);
    check_image_text_parity("siglip-tiny", &enc);
}

#[test]
fn marqo_layout_loads_by_renaming_onto_siglip_and_matches_open_clip() {
    let enc = ClipEncoder::load(
        &repo_fixture("marqo-tiny"),
        DeviceChoice::Cpu,
        Precision::F32,
    )
    .unwrap();
    assert_eq!(enc.dim, 128);
    check_image_text_parity("marqo-tiny", &enc);
}
