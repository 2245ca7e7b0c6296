//! Model management and the embedding pipeline, with the tiny CLIP fixture and real MiniLM.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use common::*;
use vitrine::Catalog;
use vitrine::embed::EmbedOptions;
use vitrine::encoders::{ClipEncoder, DeviceChoice, Precision};
use vitrine::model_choice::Encoders;
use vitrine::models::{FileCheck, ModelKind, Models};

fn tiny_dir() -> PathBuf {
    shared().join("fixtures/clip-tiny")
}

/// A copy of the tiny CLIP with `model.safetensors` replaced by `weights`.
fn tiny_with_weights(weights: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(tiny_dir().join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("model.safetensors"), weights).unwrap();
    dir
}

fn load_err(dir: &Path) -> String {
    match ClipEncoder::load(dir, DeviceChoice::Cpu, Precision::F32) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn corrupt_weights_are_rejected_with_a_clear_error() {
    let dir = tiny_with_weights(b"this is not a safetensors file at all, just text");
    let msg = load_err(dir.path());
    assert!(msg.contains("corrupt or truncated"), "{msg}");
}

#[test]
fn truncated_weights_are_rejected_with_a_clear_error() {
    let full = std::fs::read(tiny_dir().join("model.safetensors")).unwrap();
    let dir = tiny_with_weights(&full[..full.len() * 2 / 3]);
    let msg = load_err(dir.path());
    assert!(msg.contains("corrupt or truncated"), "{msg}");
}

/// The tiny CLIP's load error once `edit` has changed its vision config.
fn load_err_with_vision_config(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let full = std::fs::read(tiny_dir().join("model.safetensors")).unwrap();
    let dir = tiny_with_weights(&full);
    let cfg = std::fs::read_to_string(tiny_dir().join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    edit(&mut v["vision_config"]);
    std::fs::write(dir.path().join("config.json"), v.to_string()).unwrap();
    load_err(dir.path())
}

#[test]
fn weights_of_the_wrong_shapes_are_rejected_with_a_clear_error() {
    // The config now claims a wider model than the weights hold.
    let msg = load_err_with_vision_config(|v| v["hidden_size"] = 128.into());
    assert!(msg.contains("shape"), "{msg}");
}

#[test]
fn an_image_size_that_is_not_whole_patches_is_rejected_with_a_clear_error() {
    let msg = load_err_with_vision_config(|v| {
        let patch = v["patch_size"].as_u64().unwrap();
        v["image_size"] = (3 * patch + 1).into();
    });
    assert!(msg.contains("not a multiple of the patch size"), "{msg}");
}

#[test]
fn a_file_with_the_wrong_checksum_is_rejected_and_verify_reports_it() {
    let models = tempfile::tempdir().unwrap();
    let dest = models.path().join("all-MiniLM-L6-v2");
    copy_tree(&shared().join("models/all-MiniLM-L6-v2"), &dest);
    let weights = dest.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40; // one flipped bit in a weight: still loadable, but not the published file
    std::fs::write(&weights, &bytes).unwrap();

    let registry = Models::new(models.path(), vec![]);
    let m = registry.default_for(ModelKind::Text).unwrap().clone();
    let err = registry
        .load_text(&m, DeviceChoice::Cpu)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    let checks = registry.verify(&m).unwrap();
    assert!(
        checks
            .iter()
            .any(|c| matches!(c, FileCheck::Mismatch { name, .. } if name == "model.safetensors"))
    );
    assert!(
        checks
            .iter()
            .any(|c| matches!(c, FileCheck::Ok { name } if name == "config.json"))
    );
}

#[test]
fn a_damaged_local_model_is_refused_with_advice_that_fits_and_a_restored_file_loads_again() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("my-clip");
    copy_tree(&tiny_dir(), &folder);
    let m = Models::describe_folder(&folder, Some("my-clip")).unwrap();
    let registry = Models::new(dir.path().join("models"), vec![m.clone()]);
    registry.load_clip(&m, DeviceChoice::Cpu).unwrap();

    let weights = folder.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    let when = std::fs::metadata(&weights).unwrap().modified().unwrap();
    let put = |bytes: &[u8]| {
        std::fs::write(&weights, bytes).unwrap();
        let f = std::fs::File::options().write(true).open(&weights).unwrap();
        f.set_modified(when).unwrap(); // as a copy that keeps times would
    };
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    put(&bad);
    let err = registry
        .load_clip(&m, DeviceChoice::Cpu)
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(
        msg.contains("Put the original file back") && !msg.contains("download"),
        "a local model cannot be downloaded: {msg}"
    );

    // The same size and time as the damaged copy: the cache must not keep calling it damaged.
    put(&good);
    registry.load_clip(&m, DeviceChoice::Cpu).unwrap();
}

#[test]
fn a_missing_model_says_how_to_get_it_and_import_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let empty_models = dir.path().join("models");
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    let models = vitrine::model_choice::registry(&catalog, &empty_models).unwrap();
    let enc = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    assert!(enc.clip.is_none() && enc.text.is_none());
    let clip = enc
        .unavailable
        .iter()
        .find(|u| u.kind == ModelKind::Clip)
        .unwrap();
    assert!(
        clip.reason
            .contains("vitrine models download clip-vit-base-patch32"),
        "{}",
        clip.reason
    );

    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for f in ["mb01-blue-0.jpg", "wj01-red_main.jpg"] {
        std::fs::copy(luma().join("images").join(f), photos.join(f)).unwrap();
    }
    let r = import(&mut catalog, &[photos]);
    assert_eq!(r.products_added, 2);
    let e = embed(&mut catalog, &enc);
    assert_eq!((e.photos_embedded, e.products_embedded), (0, 0));
    assert_eq!(e.phashes_added, 0, "perceptual hashes are taken at import");
    assert_eq!(e.unavailable.len(), 2);
}

#[test]
fn embeddings_are_stored_per_model_and_follow_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    std::fs::create_dir_all(&data).unwrap();
    for f in [
        "mb01-blue-0.jpg",
        "mh01-black_main.jpg",
        "wj01-red_main.jpg",
    ] {
        std::fs::copy(luma().join("images").join(f), data.join(f)).unwrap();
    }
    std::fs::write(
        data.join("products.csv"),
        "sku,title,category,color,price,image\n\
         B1,Joust Duffle Bag,Gear/Bags,Blue,34,mb01-blue-0.jpg\n\
         H1,Chaz Kangeroo Hoodie,Men/Tops/Hoodies,Black,52,mh01-black_main.jpg\n\
         J1,Stellar Solar Jacket,Women/Tops/Jackets,Red,75,wj01-red_main.jpg\n",
    )
    .unwrap();
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    import(&mut catalog, &[data.join("products.csv")]);

    let tiny = vitrine::model_choice::add_model(&catalog, &tiny_dir(), Some("tiny")).unwrap();
    assert_eq!((tiny.kind, tiny.embedding_dim), (ModelKind::Clip, 32));
    let models = vitrine::model_choice::registry(&catalog, &shared().join("models")).unwrap();
    vitrine::model_choice::use_model(&catalog, &models, "tiny").unwrap();
    let enc = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    assert!(enc.unavailable.is_empty(), "{:?}", enc.unavailable);
    let run = |catalog: &mut Catalog| {
        vitrine::embed::run(
            catalog,
            &enc,
            &EmbedOptions { batch_size: 2 },
            &|_| {},
            &AtomicBool::new(false),
        )
        .unwrap()
    };
    let first = run(&mut catalog);
    assert_eq!((first.photos_embedded, first.products_embedded), (3, 3));
    let stats = catalog.stats().unwrap();
    assert!(
        stats
            .embeddings
            .contains(&("tiny".into(), "image".into(), 3))
    );
    assert!(
        stats
            .embeddings
            .contains(&("all-minilm-l6-v2".into(), "product".into(), 3))
    );

    // The stored vectors are the encoder's: the same photo embedded directly agrees.
    let clip = ClipEncoder::load(&tiny_dir(), DeviceChoice::Cpu, Precision::F32).unwrap();
    let img = vitrine::photo::decode_for_model(
        &std::fs::read(data.join("wj01-red_main.jpg")).unwrap(),
        1 << 30,
        clip.decode_side(),
    )
    .unwrap();
    let direct = clip
        .embed_pixels(&[clip.preprocess(&img)])
        .unwrap()
        .remove(0);
    let stored = catalog
        .photo_vector("tiny", &catalog.product("J1").unwrap().images[0].hash)
        .unwrap()
        .unwrap();
    let cos: f32 = direct.iter().zip(&stored).map(|(a, b)| a * b).sum();
    assert!(cos > 0.99999, "cosine {cos}");

    // Nothing to do the second time; a changed title re-embeds just that product.
    let again = run(&mut catalog);
    assert_eq!((again.photos_embedded, again.products_embedded), (0, 0));
    std::fs::write(
        data.join("products.csv"),
        "sku,title,category,color,price,image\n\
         B1,Joust Duffle Bag,Gear/Bags,Blue,34,mb01-blue-0.jpg\n\
         H1,Chaz Kangaroo Hoodie (fleece),Men/Tops/Hoodies,Black,52,mh01-black_main.jpg\n\
         J1,Stellar Solar Jacket,Women/Tops/Jackets,Red,75,wj01-red_main.jpg\n",
    )
    .unwrap();
    import(&mut catalog, &[data.join("products.csv")]);
    let after = run(&mut catalog);
    assert_eq!((after.photos_embedded, after.products_embedded), (0, 1));

    // A switch to another model: the old vectors keep serving until the new ones are complete.
    vitrine::model_choice::add_model(&catalog, &tiny_dir(), Some("tiny-2")).unwrap();
    let models = vitrine::model_choice::registry(&catalog, &shared().join("models")).unwrap();
    vitrine::model_choice::use_model(&catalog, &models, "tiny-2").unwrap();
    let during = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    assert_eq!(
        during.clip.as_ref().unwrap().0.id,
        "tiny",
        "the complete vectors serve"
    );
    assert_eq!(during.clip_pending.as_ref().unwrap().0.id, "tiny-2");
    let r = embed(&mut catalog, &during);
    assert_eq!(
        (r.clip_model.as_deref(), r.photos_embedded),
        (Some("tiny-2"), 3)
    );
    let after = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    assert_eq!(after.clip.as_ref().unwrap().0.id, "tiny-2");
    assert!(after.clip_pending.is_none());
    let stats = catalog.stats().unwrap();
    assert!(
        stats
            .embeddings
            .contains(&("tiny".into(), "image".into(), 3)),
        "vectors stay apart per model"
    );
    assert!(
        stats
            .embeddings
            .contains(&("tiny-2".into(), "image".into(), 3))
    );

    // A model that is not present: the complete vectors serve, and the reason is reported.
    vitrine::model_choice::use_model(&catalog, &models, "clip-vit-base-patch32").unwrap();
    let missing = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    assert_eq!(missing.clip.as_ref().unwrap().0.id, "tiny-2");
    assert!(
        missing
            .unavailable
            .iter()
            .any(|u| u.model_id == "clip-vit-base-patch32")
    );
}

/// A workspace on `dir/cat` whose CLIP model is `clip` (registered as `id`), models from
/// ../shared/models.
fn workspace_with(dir: &Path, clip: &Path, id: &str) -> vitrine::workspace::Workspace {
    let settings = vitrine::workspace::Settings {
        models_dir: shared().join("models"),
        device: DeviceChoice::Cpu,
        precision: Precision::F32,
    };
    let ws = vitrine::workspace::Workspace::open(dir.join("cat"), settings).unwrap();
    vitrine::model_choice::add_model(ws.catalog(), clip, Some(id)).unwrap();
    ws.use_model(id).unwrap();
    ws
}

#[test]
fn an_import_with_embedding_decodes_each_photo_once_and_stores_what_two_passes_would() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    std::fs::create_dir_all(&data).unwrap();
    // A Luma photo as is, the same enlarged to a phone's size (decoded at half size, its
    // thumbnail made from that decode), as a PNG, and a damaged file.
    let luma_photo = luma().join("images/wj01-red_main.jpg");
    std::fs::copy(&luma_photo, data.join("small.jpg")).unwrap();
    let img = image::open(&luma_photo).unwrap();
    img.resize_exact(2268, 3024, image::imageops::FilterType::Triangle)
        .to_rgb8()
        .save(data.join("phone.jpg"))
        .unwrap();
    img.save(data.join("flat.png")).unwrap();
    std::fs::write(data.join("broken.jpg"), b"\xFF\xD8 not a photo").unwrap();
    std::fs::write(
        data.join("products.csv"),
        "sku,title,image\nS,Small,small.jpg\nP,Phone,phone.jpg\nF,Flat,flat.png\nB,Broken,broken.jpg\n",
    )
    .unwrap();
    let opts = vitrine::ImportOptions {
        sources: vec![data.join("products.csv")],
        ..Default::default()
    };
    let never = AtomicBool::new(false);

    let one = dir.path().join("one");
    let mut ws = workspace_with(&one, &tiny_dir(), "tiny");
    let planned = std::sync::Mutex::new(Vec::new());
    let on_stage = |stage: vitrine::workspace::Stage| {
        if let vitrine::workspace::Stage::Embed(vitrine::embed::EmbedEvent::Planned {
            photos,
            ..
        }) = stage
        {
            planned.lock().unwrap().push(*photos);
        }
    };
    let outcome = ws.import_and_index(&opts, true, &on_stage, &never).unwrap();
    // The photos were embedded during the import: none was left for the embedding after it.
    assert_eq!(*planned.lock().unwrap(), [0]);
    assert_eq!(outcome.import.photos_processed, 3);
    assert_eq!(
        outcome.import.skipped.len(),
        1,
        "{:?}",
        outcome.import.skipped
    );
    let embed = outcome.embed.unwrap();
    assert_eq!(
        (
            embed.photos_embedded,
            embed.photos_during_import,
            embed.products_embedded
        ),
        (3, 3, 4)
    );

    // Two passes: an import without a model, then the embedding (decoding each photo again).
    let two = dir.path().join("two");
    let mut ws2 = workspace_with(&two, &tiny_dir(), "tiny");
    vitrine::import::run(ws2.catalog_mut(), &opts, &|_| {}, &never).unwrap();
    let enc = ws2.encoders().unwrap();
    let (report, _) = ws2.embed_and_index(&enc, 32, &|_| {}, &never).unwrap();
    assert_eq!(report.photos_embedded, 3);

    for sku in ["S", "P", "F"] {
        let (a, b) = (
            ws.catalog().product(sku).unwrap().images.remove(0),
            ws2.catalog().product(sku).unwrap().images.remove(0),
        );
        assert_eq!((a.width, a.height), (b.width, b.height));
        let vector = |ws: &vitrine::workspace::Workspace, hash: &str| {
            ws.catalog().photo_vector("tiny", hash).unwrap().unwrap()
        };
        assert_eq!(vector(&ws, &a.hash), vector(&ws2, &b.hash), "{sku}");
        let bits = (a.phash.unwrap().0 ^ b.phash.unwrap().0).count_ones();
        // The phone-sized photo's thumbnail comes from the model's decode (within a level of
        // the other); the rest are the same.
        assert!(bits <= if sku == "P" { 2 } else { 0 }, "{sku}: {bits} bits");
    }
    // Nothing is left to embed.
    let enc = ws.encoders().unwrap();
    let again = ws.embed_and_index(&enc, 32, &|_| {}, &never).unwrap().0;
    assert_eq!((again.photos_embedded, again.products_embedded), (0, 0));
}

#[test]
fn a_cancelled_import_with_embedding_keeps_each_committed_photo_with_its_vector_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(luma().join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names.iter().take(120) {
        std::fs::copy(p, photos.join(p.file_name().unwrap())).unwrap();
    }
    let mut ws = workspace_with(dir.path(), &tiny_dir(), "tiny");
    let opts = vitrine::ImportOptions {
        sources: vec![photos],
        batch_size: 4,
        ..Default::default()
    };
    let cancel = AtomicBool::new(false);
    let on_stage = |stage: vitrine::workspace::Stage| {
        if let vitrine::workspace::Stage::Import(vitrine::import::ImportEvent::Progress {
            committed,
            ..
        }) = stage
            && *committed >= 8
        {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let first = ws
        .import_and_index(&opts, true, &on_stage, &cancel)
        .unwrap();
    assert_eq!(first.import.status, vitrine::ImportStatus::Cancelled);
    assert!(first.embed.is_none());
    let count = |ws: &vitrine::workspace::Workspace, kind: &str| {
        let stats = ws.catalog().stats().unwrap();
        let vectors = stats
            .embeddings
            .iter()
            .find(|(m, k, _)| m == "tiny" && k == kind)
            .map_or(0, |e| e.2);
        (stats.images, vectors)
    };
    // Every photo committed came with its vector, in the same transaction.
    let (images, vectors) = count(&ws, "image");
    assert!((8..120).contains(&images), "{images} photos committed");
    assert_eq!(vectors, images);

    let again = AtomicBool::new(false);
    let second = ws.import_and_index(&opts, true, &|_| {}, &again).unwrap();
    assert_eq!(second.import.status, vitrine::ImportStatus::Completed);
    assert_eq!(second.import.photos_processed as i64, 120 - images);
    let embed = second.embed.unwrap();
    assert_eq!(embed.photos_during_import as i64, 120 - images);
    assert_eq!(count(&ws, "image"), (120, 120));
}

/// A copy of the tiny CLIP whose projections hold NaN: every vector it gives is NaN.
fn nan_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("nan-clip");
    copy_tree(&tiny_dir(), &out);
    let bytes = std::fs::read(tiny_dir().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    for (name, _, _, data) in &mut owned {
        if name == "visual_projection.weight" || name == "text_projection.weight" {
            for chunk in data.chunks_mut(4) {
                chunk.copy_from_slice(&f32::NAN.to_le_bytes());
            }
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, data)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), data).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        out.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    out
}

#[test]
fn a_model_that_gives_nan_is_refused_and_nothing_of_it_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..3 {
        write_jpeg(&photos.join(format!("p{i}.jpg")), 64, 48, 10 + i);
    }
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    import(&mut catalog, std::slice::from_ref(&photos));
    let nan = nan_clip(dir.path());
    vitrine::model_choice::add_model(&catalog, &nan, Some("nan-clip")).unwrap();
    let models = vitrine::model_choice::registry(&catalog, &shared().join("models")).unwrap();
    vitrine::model_choice::use_model(&catalog, &models, "nan-clip").unwrap();
    let enc = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    let report = embed(&mut catalog, &enc);
    assert_eq!(report.photos_embedded, 0);
    let bad: Vec<_> = report
        .skipped
        .iter()
        .filter(|s| s.kind == "bad_embedding")
        .collect();
    assert_eq!(bad.len(), 3, "{:?}", report.skipped);
    assert!(
        bad[0].message.contains("nan-clip is broken"),
        "{}",
        bad[0].message
    );
    let stats = catalog.stats().unwrap();
    assert!(
        !stats.embeddings.iter().any(|(m, _, _)| m == "nan-clip"),
        "{:?}",
        stats.embeddings
    );
    // Embedding during an import stores none of it either, and the embedding after the import
    // reports each photo.
    let mut ws = workspace_with(&dir.path().join("during"), &nan, "nan-clip");
    let opts = vitrine::ImportOptions {
        sources: vec![photos.clone()],
        ..Default::default()
    };
    let outcome = ws
        .import_and_index(&opts, true, &|_| {}, &AtomicBool::new(false))
        .unwrap();
    let during = outcome.embed.unwrap();
    assert_eq!(
        (during.photos_embedded, during.photos_during_import),
        (0, 0)
    );
    let bad = during.skipped.iter().filter(|s| s.kind == "bad_embedding");
    assert_eq!(bad.count(), 3, "{:?}", during.skipped);
    let stats = ws.catalog().stats().unwrap();
    assert!(!stats.embeddings.iter().any(|(m, _, _)| m == "nan-clip"));
    // A text query through it is an error that says so, not NaN scores.
    let searcher = vitrine::search::Searcher::open(&catalog, enc).unwrap();
    let q = vitrine::query::Query {
        text: "red bag".into(),
        ..Default::default()
    };
    let err = searcher
        .search(&q, &vitrine::query::Weights::default(), 5, 0)
        .expect_err("a NaN query vector is refused");
    assert!(err.to_string().contains("broken"), "{err}");
}

/// The tiny SigLIP made by `scripts/make-model-fixtures`.
fn siglip_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/siglip-tiny")
}

#[test]
fn switching_from_clip_to_siglip_and_back_keeps_search_answering() {
    use vitrine::query::{Query, Weights};
    use vitrine::search::{Searcher, Signal};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    std::fs::create_dir_all(&data).unwrap();
    let mut rows = String::from("sku,title,price,image\n");
    let photos = std::fs::read_dir(luma().join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".jpg"))
        .take(24)
        .collect::<Vec<_>>();
    for (i, f) in photos.iter().enumerate() {
        std::fs::copy(luma().join("images").join(f), data.join(f)).unwrap();
        rows.push_str(&format!("P{i},Product {f},{},{f}\n", 10 + i));
    }
    std::fs::write(data.join("products.csv"), rows).unwrap();
    let cat_dir = dir.path().join("cat");
    let mut catalog = Catalog::open(&cat_dir).unwrap();
    import(&mut catalog, &[data.join("products.csv")]);
    let siglip =
        vitrine::model_choice::add_model(&catalog, &siglip_dir(), Some("siglip-tiny")).unwrap();
    assert_eq!((siglip.kind, siglip.embedding_dim), (ModelKind::Clip, 128));
    vitrine::model_choice::add_model(&catalog, &tiny_dir(), Some("clip-tiny")).unwrap();
    let shared_models = shared().join("models");
    let models = vitrine::model_choice::registry(&catalog, &shared_models).unwrap();
    let choose = |id: &str| {
        let catalog = Catalog::open(&cat_dir).unwrap();
        vitrine::model_choice::use_model(&catalog, &models, id).unwrap();
    };
    // A text search and a "more like this" search; returns the model that served them.
    let search = |catalog: &Catalog| -> String {
        let enc = Encoders::load(catalog, &models, DeviceChoice::Cpu).unwrap();
        let serving = enc
            .clip
            .as_ref()
            .map(|c| c.0.id.clone())
            .unwrap_or_default();
        let s = Searcher::open(catalog, enc).unwrap();
        for q in [
            Query {
                text: "a red jacket".into(),
                ..Query::default()
            },
            Query {
                like: Some("P3".into()),
                ..Query::default()
            },
        ] {
            let r = s.search(&q, &Weights::default(), 10, 0).unwrap();
            assert_eq!(r.hits.len(), 10, "{serving}: {q:?}");
            let visual = if q.like.is_some() {
                Signal::Visual
            } else {
                Signal::Crossmodal
            };
            assert!(
                r.signals.contains(&visual),
                "{serving}: the visual model serves {q:?}"
            );
        }
        serving
    };

    choose("clip-tiny");
    let first = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    embed(&mut catalog, &first);
    assert_eq!(search(&catalog), "clip-tiny");

    // To SigLIP: CLIP's vectors keep serving while SigLIP's are made, searched all along.
    choose("siglip-tiny");
    let during = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    assert_eq!(during.clip_pending.as_ref().unwrap().0.id, "siglip-tiny");
    let done = std::sync::Arc::new(AtomicBool::new(false));
    // The embedding pauses at its first progress report until a search has been answered.
    let midway = std::sync::Arc::new(std::sync::Barrier::new(2));
    let embedding = {
        let (done, cat_dir, midway) = (done.clone(), cat_dir.clone(), midway.clone());
        std::thread::spawn(move || {
            let mut catalog = Catalog::open(&cat_dir).unwrap();
            let paused = AtomicBool::new(false);
            let r = vitrine::embed::run(
                &mut catalog,
                &during,
                &EmbedOptions { batch_size: 2 },
                &|_| {
                    if !paused.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        midway.wait();
                        midway.wait();
                    }
                },
                &AtomicBool::new(false),
            )
            .unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            r
        })
    };
    midway.wait();
    let mut served = vec![search(&Catalog::open(&cat_dir).unwrap())];
    midway.wait();
    loop {
        let finished = done.load(std::sync::atomic::Ordering::SeqCst);
        served.push(search(&Catalog::open(&cat_dir).unwrap()));
        if finished {
            break;
        }
    }
    let r = embedding.join().unwrap();
    assert_eq!(
        (r.clip_model.as_deref(), r.photos_embedded),
        (Some("siglip-tiny"), photos.len())
    );
    assert_eq!(served.first().map(String::as_str), Some("clip-tiny"));
    assert_eq!(served.last().map(String::as_str), Some("siglip-tiny"));
    assert_eq!(search(&catalog), "siglip-tiny");

    // And back: CLIP's vectors are complete, so it serves at once, nothing re-embedded.
    choose("clip-tiny");
    assert_eq!(search(&catalog), "clip-tiny");
    let enc = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
    assert!(enc.clip_pending.is_none());
    assert_eq!(embed(&mut catalog, &enc).photos_embedded, 0);

    // A query in another language: an English-only visual model says it may not understand
    // it; a multilingual one does not.
    let note = |multilingual: bool, text: &str| {
        let mut enc = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
        enc.clip.as_mut().unwrap().0.multilingual = multilingual;
        let q = Query {
            text: text.into(),
            ..Query::default()
        };
        let r = Searcher::open(&catalog, enc)
            .unwrap()
            .search(&q, &Weights::default(), 10, 0)
            .unwrap();
        assert_eq!(r.hits.len(), 10, "{text}: still answered");
        r.language_note
    };
    let said = note(false, "红色皮革手提包").expect("a note");
    assert_eq!(said.language, "Mandarin");
    assert_eq!(note(true, "红色皮革手提包"), None);
    assert_eq!(note(false, "red leather handbag"), None);
}

#[test]
fn a_damaged_or_foreign_marqo_layout_folder_is_refused_with_a_clear_error() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/marqo-tiny");
    let copy = |weights: &[u8], config: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        for f in ["open_clip_config.json", "tokenizer.json"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        std::fs::write(dir.path().join("open_clip_model.safetensors"), weights).unwrap();
        if let Some(c) = config {
            std::fs::write(dir.path().join("open_clip_config.json"), c).unwrap();
        }
        dir
    };
    let full = std::fs::read(src.join("open_clip_model.safetensors")).unwrap();
    let truncated = copy(&full[..full.len() / 2], None);
    let msg = load_err(truncated.path());
    assert!(msg.contains("corrupt or truncated"), "{msg}");
    // A CLIP (causal text, class token) in OpenCLIP's layout is not a SigLIP one.
    let clip_cfg = r#"{"model_cfg": {"text_cfg": {"pool_type": "argmax"}, "vision_cfg": {}}}"#;
    let foreign = copy(&full, Some(clip_cfg));
    let msg = load_err(foreign.path());
    assert!(msg.contains("only OpenCLIP's SigLIP models"), "{msg}");
}
