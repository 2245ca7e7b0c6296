//! Bad input is skipped with a recorded reason; the good items of the same import land.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use vitrine::{Catalog, ImportOptions, ImportReport};

struct Case {
    _dir: tempfile::TempDir,
    root: PathBuf,
    catalog: Catalog,
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("input");
    std::fs::create_dir_all(&root).unwrap();
    write_jpeg(&root.join("good-one.jpg"), 48, 32, 1);
    write_jpeg(&root.join("good-two.jpg"), 32, 48, 2);
    let catalog = Catalog::open(dir.path().join("cat")).unwrap();
    Case {
        _dir: dir,
        root,
        catalog,
    }
}

/// Imports the case's folder and checks that exactly one item was skipped for `kind`, that the
/// two good photos landed, and that `vitrine errors` would show the same record.
fn expect_one_skip(c: &mut Case, sources: &[PathBuf], kind: &str, item_ends: &str) -> ImportReport {
    let r = import(&mut c.catalog, sources);
    let hits: Vec<_> = r.skipped.iter().filter(|e| e.kind == kind).collect();
    assert_eq!(hits.len(), 1, "expected one {kind}, got {:?}", r.skipped);
    assert!(hits[0].item.ends_with(item_ends), "{:?}", hits[0]);
    assert!(!hits[0].message.is_empty());
    assert_eq!(
        c.catalog.import_errors(None).unwrap(),
        r.skipped,
        "errors are recorded"
    );
    assert!(c.catalog.product("good-one.jpg").is_ok());
    assert!(c.catalog.product("good-two.jpg").is_ok());
    assert_eq!(c.catalog.integrity_check().unwrap(), "ok");
    r
}

#[test]
fn a_corrupt_image_is_skipped() {
    let mut c = case();
    // A real JPEG header followed by garbage where the image data should be.
    let mut bytes = std::fs::read(c.root.join("good-one.jpg")).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n / 3..n - 2] {
        *b = 0xFF;
    }
    std::fs::write(c.root.join("corrupt.jpg"), &bytes).unwrap();
    let root = c.root.clone();
    expect_one_skip(&mut c, &[root], "corrupt_image", "corrupt.jpg");
    assert_eq!(c.catalog.stats().unwrap().products, 2);
}

#[test]
fn a_truncated_image_is_skipped() {
    let mut c = case();
    for (name, ext) in [("cut-jpeg", "jpg"), ("cut-png", "png")] {
        let full = c.root.join(format!("full.{ext}"));
        write_jpeg(&full, 64, 64, 5);
        let bytes = std::fs::read(&full).unwrap();
        std::fs::remove_file(&full).unwrap();
        std::fs::write(
            c.root.join(format!("{name}.{ext}")),
            &bytes[..bytes.len() / 2],
        )
        .unwrap();
    }
    let root = c.root.clone();
    let r = import(&mut c.catalog, &[root]);
    let kinds: Vec<(&str, &str)> = r
        .skipped
        .iter()
        .map(|e| (e.kind.as_str(), e.item.as_str()))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        kinds
            .iter()
            .all(|(k, _)| *k == "truncated_image" || *k == "corrupt_image"),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(k, i)| *k == "truncated_image" && i.ends_with("cut-jpeg.jpg"))
    );
    assert_eq!(c.catalog.stats().unwrap().products, 2);
}

#[test]
fn a_text_file_with_an_image_extension_is_skipped() {
    let mut c = case();
    std::fs::write(
        c.root.join("notes.png"),
        "this is a shopping list, not a photo",
    )
    .unwrap();
    let root = c.root.clone();
    expect_one_skip(&mut c, &[root], "not_an_image", "notes.png");
}

#[test]
fn an_image_over_the_pixel_limit_is_refused_from_its_header() {
    let mut c = case();
    // A PNG header claiming 20000×20000 pixels (400 MP), with no pixel data at all: only a header
    // check can say "too many pixels" rather than "corrupt".
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(20000u32.to_be_bytes());
    ihdr.extend(20000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    for (kind, data) in [
        (&b"IDAT"[..], &[0x78u8, 0x9c, 0x01, 0x02][..]),
        (b"IEND", b""),
    ] {
        let chunk = [kind, data].concat();
        png.extend((data.len() as u32).to_be_bytes());
        png.extend(&chunk);
        png.extend(crc32(&chunk).to_be_bytes());
    }
    std::fs::write(c.root.join("huge.png"), &png).unwrap();
    let root = c.root.clone();
    let r = expect_one_skip(&mut c, &[root], "too_many_pixels", "huge.png");
    assert!(
        r.skipped[0].message.contains("400.0 megapixels"),
        "{}",
        r.skipped[0].message
    );

    // The limit is the user's to set.
    write_jpeg(&c.root.join("medium.jpg"), 200, 100, 7);
    let r = import_with(
        &mut c.catalog,
        ImportOptions {
            sources: vec![c.root.clone()],
            max_pixels: 10_000,
            ..ImportOptions::default()
        },
    );
    assert!(
        r.skipped
            .iter()
            .any(|e| e.kind == "too_many_pixels" && e.item.ends_with("medium.jpg"))
    );
    assert!(c.catalog.product("medium.jpg").is_err());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn csv_case(body: &str) -> (Case, PathBuf) {
    let c = case();
    let csv = c.root.join("products.csv");
    std::fs::write(&csv, body).unwrap();
    (c, csv)
}

fn expect_csv_skip(body: &str, kind: &str, line: i64) {
    let (mut c, csv) = csv_case(body);
    let root = c.root.clone();
    let r = import(&mut c.catalog, &[csv, root]);
    let hits: Vec<_> = r.skipped.iter().filter(|e| e.kind == kind).collect();
    assert_eq!(hits.len(), 1, "expected one {kind}, got {:?}", r.skipped);
    assert_eq!(hits[0].line, Some(line), "{:?}", hits[0]);
    assert_eq!(c.catalog.import_errors(None).unwrap(), r.skipped);
    let good = c.catalog.product("A1").unwrap();
    assert_eq!(good.title, "Canvas Tote");
    assert_eq!(good.images.len(), 1);
    assert!(
        c.catalog.product("good-two.jpg").is_ok(),
        "unmapped photos still land"
    );
}

const HEADER: &str = "sku,title,price,image\nA1,Canvas Tote,19.90,good-one.jpg\n";

#[test]
fn an_empty_csv_row_is_skipped() {
    expect_csv_skip(&format!("{HEADER},,,\nB2,Mug,4,\n"), "empty_row", 3);
}

#[test]
fn a_malformed_csv_row_is_skipped() {
    expect_csv_skip(
        &format!("{HEADER}B2,Mug,4,,extra,fields\nC3,Cup,5,\n"),
        "malformed_row",
        3,
    );
}

#[test]
fn a_bad_price_is_skipped() {
    expect_csv_skip(
        &format!("{HEADER}B2,Mug,four dollars,\nC3,Cup,5,\n"),
        "bad_price",
        3,
    );
}

#[test]
fn a_duplicate_sku_with_another_title_is_skipped() {
    expect_csv_skip(
        &format!("{HEADER}A1,Steel Bottle,12,\n"),
        "duplicate_sku",
        3,
    );
}

#[test]
fn a_missing_photo_in_a_csv_is_reported_and_the_product_lands() {
    let (mut c, csv) = csv_case(&format!("{HEADER}B2,Mug,4,no-such-photo.jpg\n"));
    let r = import(&mut c.catalog, &[csv]);
    assert!(
        r.skipped
            .iter()
            .any(|e| e.kind == "image_not_found" && e.line == Some(3))
    );
    assert!(c.catalog.product("B2").unwrap().images.is_empty());
}

#[test]
fn a_non_utf8_file_name_is_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let mut c = case();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9-mug.jpg");
    write_jpeg(&c.root.join(name), 20, 20, 4);
    let root = c.root.clone();
    expect_one_skip(&mut c, &[root], "odd_file_name", "-mug.jpg");
}

#[test]
fn a_file_name_with_control_characters_is_skipped() {
    let mut c = case();
    write_jpeg(&c.root.join("two\nlines.jpg"), 20, 20, 4);
    let root = c.root.clone();
    expect_one_skip(&mut c, &[root], "odd_file_name", "lines.jpg");
}

#[test]
fn odd_csvs_are_read() {
    // Windows-1252 bytes, a BOM-less semicolon file, European prices and a header override.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    std::fs::write(
        &csv,
        b"Ref;D\xe9signation;Prix;Couleur\nX1;Caf\xe9 cup;12,50;Rouge\n",
    )
    .unwrap();
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    let r = import_with(
        &mut catalog,
        ImportOptions {
            sources: vec![csv.clone()],
            mapping: vec![
                ("sku".parse().unwrap(), "Ref".into()),
                ("title".parse().unwrap(), "Désignation".into()),
                ("price".parse().unwrap(), "Prix".into()),
                ("color".parse().unwrap(), "Couleur".into()),
            ],
            ..ImportOptions::default()
        },
    );
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let p = catalog.product("X1").unwrap();
    assert_eq!(
        (p.title.as_str(), p.price, p.color.as_str()),
        ("Café cup", Some(12.5), "Rouge")
    );

    // Without the override the title column is not found, and the error says how to map it.
    let other = tempfile::tempdir().unwrap();
    let mut catalog = Catalog::open(other.path()).unwrap();
    let r = import(&mut catalog, &[csv]);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].kind, "unmapped_columns");
    assert!(r.skipped[0].message.contains("--map"));
}

#[test]
fn a_missing_source_is_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = Catalog::open(dir.path()).unwrap();
    let err = vitrine::import::run(
        &mut catalog,
        &ImportOptions {
            sources: vec![Path::new("/no/such/folder").to_path_buf()],
            ..ImportOptions::default()
        },
        &|_| {},
        &Default::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no such file or folder"), "{err}");
    assert_eq!(catalog.stats().unwrap().import_runs, 0);
}

/// A device or a named pipe named on the command line is refused at once, never read.
#[test]
fn devices_and_pipes_are_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    let fifo = dir.path().join("x.jpg");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for source in [std::path::PathBuf::from("/dev/zero"), fifo.clone()] {
        let err = vitrine::import::run(
            &mut catalog,
            &ImportOptions {
                sources: vec![source.clone()],
                ..ImportOptions::default()
            },
            &|_| {},
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("not a regular file"),
            "{source:?}: {err}"
        );
        assert_eq!(err.code(), vitrine::ErrorCode::BadInput);
    }
    // A query photo or a query file that is a device: an error, not an endless read.
    let err = vitrine::photo::read_file(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    let err = vitrine::photo::read_file(&fifo).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    let err = vitrine::eval::read_queries(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

/// An empty or foreign `catalog.sqlite` is reported as damage, with how to recover, and is
/// never replaced by a new empty catalog.
#[test]
fn a_damaged_catalog_file_is_reported_not_emptied() {
    for (contents, why) in [
        (&b""[..], "empty"),
        (b"hello, not a database", "not an SQLite"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("catalog.sqlite"), contents).unwrap();
        let err = Catalog::open(dir.path()).err().expect("refused");
        assert_eq!(err.code(), vitrine::ErrorCode::CatalogCorrupt);
        let text = err.to_string();
        assert!(text.contains(why) && text.contains(".recover"), "{text}");
        assert_eq!(
            std::fs::read(dir.path().join("catalog.sqlite")).unwrap(),
            contents,
            "the file was changed"
        );
    }
}

/// A store error's text appears once in an error chain, not once per level.
#[test]
fn a_store_error_is_said_once() {
    let e = vitrine::Error::from(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
        Some("database disk image is malformed".into()),
    ));
    let chain = format!("{:#}", anyhow_like(&e));
    assert_eq!(chain.matches("malformed").count(), 1, "{chain}");
}

/// The error and its sources, as `anyhow`'s `{:#}` prints them.
fn anyhow_like(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out += &format!(": {s}");
        source = s.source();
    }
    out
}

#[test]
fn photos_outside_the_import_are_not_read_unless_allowed() {
    let (mut c, csv) = csv_case(HEADER);
    let outside = c.root.parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let secret = outside.join("secret.jpg");
    write_jpeg(&secret, 40, 40, 9);
    // A FIFO would hang whoever opens it: the rule must refuse it from its path alone.
    let pipe = outside.join("pipe.jpg");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap()
            .success()
    );
    let rows = format!(
        "{HEADER}B2,Mug,4,../elsewhere/secret.jpg\nC3,Cup,5,{}\nD4,Pipe,6,{}\nE5,Passwd,7,../../../../../../../../etc/passwd\n",
        secret.display(),
        pipe.display()
    );
    std::fs::write(&csv, rows).unwrap();
    std::os::unix::fs::symlink(&outside, c.root.join("linked-folder")).unwrap();
    std::os::unix::fs::symlink(&secret, c.root.join("linked.jpg")).unwrap();
    std::os::unix::fs::symlink(c.root.join("good-two.jpg"), c.root.join("inside-link.jpg"))
        .unwrap();
    let root = c.root.clone();

    let r = import(&mut c.catalog, &[csv.clone(), root.clone()]);
    let mut outside_lines: Vec<_> = r
        .skipped
        .iter()
        .filter(|e| e.kind == "outside_import")
        .map(|e| e.line)
        .collect();
    outside_lines.sort();
    assert_eq!(
        outside_lines,
        vec![None, None, Some(3), Some(4), Some(5), Some(6)],
        "{:#?}",
        r.skipped
    );
    assert!(
        r.skipped.iter().any(|e| e.item.ends_with("linked-folder"))
            && r.skipped.iter().any(|e| e.item.ends_with("linked.jpg")),
        "each link out is reported: {:#?}",
        r.skipped
    );
    for sku in ["B2", "C3", "D4", "E5"] {
        assert!(c.catalog.product(sku).unwrap().images.is_empty(), "{sku}");
    }
    let all = c.catalog.products(&Default::default()).unwrap();
    assert!(
        all.iter()
            .flat_map(|p| &p.images)
            .all(|i| !i.path.contains("elsewhere") && !i.path.contains("secret")),
        "nothing from outside landed"
    );
    assert!(
        c.catalog.product("inside-link.jpg").is_ok(),
        "a link that stays inside the folder is followed"
    );

    // Allowed: the same sources read the outside photo (the FIFO and passwd still are not photos).
    std::fs::remove_file(&pipe).unwrap();
    let r = import_with(
        &mut c.catalog,
        ImportOptions {
            sources: vec![csv, root],
            allow_outside: true,
            ..ImportOptions::default()
        },
    );
    assert!(
        r.skipped.iter().all(|e| e.kind != "outside_import"),
        "{:#?}",
        r.skipped
    );
    assert_eq!(c.catalog.product("B2").unwrap().images.len(), 1);
    assert_eq!(c.catalog.product("C3").unwrap().images.len(), 1);
}
