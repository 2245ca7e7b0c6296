#![allow(dead_code)]
//! Helpers shared by the integration tests.

pub mod hub;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use vitrine::embed::{EmbedOptions, EmbedReport};
use vitrine::encoders::DeviceChoice;
use vitrine::model_choice::Encoders;
use vitrine::search::Searcher;
use vitrine::{Catalog, ImportOptions, ImportReport};

/// `../shared` beside the checkout: the Luma catalog, models and fixtures.
pub fn shared() -> PathBuf {
    let p = workspace_root().join("../shared");
    assert!(
        p.is_dir(),
        "the shared folder is missing at {}",
        p.display()
    );
    p
}

/// The checkout: the folder of the workspace's Cargo.lock, above the crate being tested.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(here)
        .to_path_buf()
}

pub fn luma() -> PathBuf {
    shared().join("catalogs/luma")
}

pub fn luma_sources() -> Vec<PathBuf> {
    vec![luma().join("products.csv"), luma().join("images")]
}

pub fn import(catalog: &mut Catalog, sources: &[PathBuf]) -> ImportReport {
    import_with(
        catalog,
        ImportOptions {
            sources: sources.to_vec(),
            ..ImportOptions::default()
        },
    )
}

pub fn import_with(catalog: &mut Catalog, opts: ImportOptions) -> ImportReport {
    vitrine::import::run(catalog, &opts, &|_| {}, &AtomicBool::new(false)).expect("import runs")
}

/// Copies a folder tree (the tests modify their copy, never ../shared). A file that is gone
/// by the time it is copied is left out: other tests opening the same catalog write its
/// derived files through temporary files renamed into place.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else if let Err(err) = std::fs::copy(e.path(), dest) {
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        }
    }
}

pub fn write_jpeg(path: &Path, w: u32, h: u32, seed: u8) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(seed),
            (y as u8).wrapping_add(seed),
            seed,
        ])
    });
    img.save(path).unwrap();
}

/// The catalog's encoders, with models from ../shared/models.
pub fn encoders(catalog: &Catalog) -> Encoders {
    let models = vitrine::model_choice::registry(catalog, &shared().join("models")).unwrap();
    Encoders::load(catalog, &models, DeviceChoice::Cpu).unwrap()
}

/// Imports `sources` into a catalog at `dir` and embeds it with the models present.
pub fn embedded(dir: &Path, sources: &[PathBuf]) -> Catalog {
    let mut catalog = Catalog::open(dir).unwrap();
    import(&mut catalog, sources);
    let enc = encoders(&catalog);
    embed(&mut catalog, &enc);
    catalog
}

/// Embeds what is missing with `enc`, default batch size.
pub fn embed(catalog: &mut Catalog, enc: &Encoders) -> EmbedReport {
    vitrine::embed::run(
        catalog,
        enc,
        &EmbedOptions::default(),
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap()
}

pub fn searcher(catalog: &Catalog) -> Searcher {
    Searcher::open(catalog, encoders(catalog)).unwrap()
}

/// One Luma catalog with the tiny CLIP fixture as its CLIP model, imported and embedded once
/// per test binary.
pub fn catalog_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let mut catalog = Catalog::open(&dir).unwrap();
        import(&mut catalog, &luma_sources());
        vitrine::model_choice::add_model(
            &catalog,
            &shared().join("fixtures/clip-tiny"),
            Some("tiny"),
        )
        .unwrap();
        let models = vitrine::model_choice::registry(&catalog, &shared().join("models")).unwrap();
        vitrine::model_choice::use_model(&catalog, &models, "tiny").unwrap();
        let enc = Encoders::load(&catalog, &models, DeviceChoice::Cpu).unwrap();
        let r = embed(&mut catalog, &enc);
        assert_eq!((r.photos_embedded, r.products_embedded), (723, 196));
        dir
    })
}

/// Reproducible numbers in [-0.5, 0.5) from `seed` (xorshift), for synthetic vectors.
pub fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut x = seed.max(1);
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}
