//! An import killed with SIGKILL leaves a consistent store, and a rerun resumes without
//! reading any committed photo again.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use vitrine::Catalog;

#[test]
fn sigkill_mid_import_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat");
    let sources = luma_sources();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .arg("--catalog")
        .arg(&cat)
        .arg("import")
        .arg("--json")
        .args(&sources)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut killed_at = None;
    for line in BufReader::new(stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["event"] == "progress" {
            let (committed, total) = (
                v["committed"].as_u64().unwrap(),
                v["total"].as_u64().unwrap(),
            );
            if committed >= 100 && committed + 100 < total {
                child.kill().unwrap(); // SIGKILL on Unix
                killed_at = Some(committed);
                break;
            }
        }
    }
    child.wait().unwrap();
    let killed_at = killed_at.expect("the import was killed mid-way");

    let catalog = Catalog::open(&cat).unwrap();
    assert_eq!(catalog.integrity_check().unwrap(), "ok");
    let stats = catalog.stats().unwrap();
    let done_before = stats.distinct_photos as usize;
    assert!(
        done_before as u64 >= killed_at && done_before < 723,
        "{done_before} photos in store"
    );
    assert_eq!(
        stats.products, 196,
        "CSV products are committed before photos"
    );
    // Its process is gone, so the run no longer shows as running.
    let runs = catalog.import_runs(1).unwrap();
    assert_eq!(runs[0].status, "interrupted");
    drop(catalog);

    let out = vitrine(
        &cat,
        &[
            "import",
            "--json",
            sources[0].to_str().unwrap(),
            sources[1].to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "summary")
        .unwrap();
    assert_eq!(
        summary["photos_processed"].as_u64().unwrap() + summary["photos_reused"].as_u64().unwrap(),
        (723 - done_before) as u64,
        "no photo is read twice"
    );

    let catalog = Catalog::open(&cat).unwrap();
    assert_eq!(catalog.integrity_check().unwrap(), "ok");
    let stats = catalog.stats().unwrap();
    assert_eq!(
        (stats.products, stats.images, stats.distinct_photos),
        (196, 733, 723)
    );
    let runs = catalog.import_runs(10).unwrap();
    assert_eq!(runs[0].status, "completed");
    assert_eq!(runs[1].status, "interrupted");
}
