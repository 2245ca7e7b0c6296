//! A search answers while a duplicate scan of a large catalog runs: the searcher reads through
//! its own connection and never waits for the scan.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use vitrine::model_choice::Encoders;
use vitrine::query::{Query, Weights};
use vitrine::search::Searcher;
use vitrine::{Catalog, PHash};

/// `n` products, each with one photo embedded by `model` (random unit vectors).
fn synthetic(catalog: &Catalog, n: usize, dim: usize, model: &str) {
    let mut next = common::uniform(0x2545_f491_4f6c_dd1d);
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..dim).map(|_| next()).collect();
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            v.into_iter().map(|a| a / norm).collect()
        })
        .collect();
    let rows = vectors.iter().enumerate().map(|(i, v)| {
        (
            format!("SKU-{i}"),
            PHash((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            v.as_slice(),
        )
    });
    catalog.add_embedded_photos(rows, model).unwrap();
}

#[test]
fn a_search_answers_while_a_duplicate_scan_runs() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path()).unwrap();
    synthetic(&catalog, 8000, 512, "synthetic-clip");
    let searcher = Searcher::open(&catalog, Encoders::none()).unwrap();
    let q = Query {
        text: "SKU-42".into(),
        ..Query::default()
    };
    // The first search reads the catalog's words; the ones timed below only answer.
    assert_eq!(
        searcher.search(&q, &Weights::default(), 5, 0).unwrap().hits[0].sku,
        "SKU-42"
    );

    let scan_done = Arc::new(AtomicBool::new(false));
    let scan_started = Arc::new(AtomicBool::new(false));
    let scan = {
        let (done, started) = (scan_done.clone(), scan_started.clone());
        let path = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let catalog = Catalog::open(&path).unwrap();
            started.store(true, Ordering::SeqCst);
            let report = vitrine::duplicates::find(
                &catalog,
                Some("synthetic-clip"),
                None,
                &Default::default(),
            )
            .unwrap();
            done.store(true, Ordering::SeqCst);
            report
        })
    };
    while !scan_started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // Search again and again until the scan ends: a search that waited for the scan would
    // first answer after it.
    let mut answered_during_scan = 0;
    while !scan_done.load(Ordering::SeqCst) {
        let results = searcher.search(&q, &Weights::default(), 5, 0).unwrap();
        assert_eq!(results.hits[0].sku, "SKU-42");
        if !scan_done.load(Ordering::SeqCst) {
            answered_during_scan += 1;
        }
    }
    let report = scan.join().unwrap();
    assert!(report.candidate_pairs < 8000 * 8000);
    assert!(
        answered_during_scan > 0,
        "the search waited for the duplicate scan to finish"
    );
}
