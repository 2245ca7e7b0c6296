//! Search quality may not slip: the Luma query sets (made by scripts/luma-queries.py, and the
//! reviews written by hand in eval/written-reviews.jsonl) must score at least the floors in
//! eval/floors.json, for the signals that need no CLIP weights
//! (product text, keywords, perceptual hash). The floors sit slightly below the figures in
//! docs/quality.md; raise them when search gets better. The pseudo-run `fused - best single`
//! bounds the default fused nDCG@10 minus that of the best signal alone: 0 where the fusion
//! must not lose to any of its signals.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use vitrine::Catalog;
use vitrine::eval::{EvalReport, evaluate, read_queries};
use vitrine::query::Weights;
use vitrine::search::Searcher;

type Floors = BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>;

fn catalog_from(dir: &Path, sources: &[std::path::PathBuf]) -> (Catalog, Searcher) {
    let catalog = embedded(dir, sources);
    let searcher = searcher(&catalog);
    (catalog, searcher)
}

fn check(set: &str, report: &EvalReport, floors: &Floors, failures: &mut Vec<String>) {
    let Some(want) = floors.get(set) else {
        failures.push(format!("no floors for {set}"));
        return;
    };
    for (config, metrics) in want {
        if config == "fused - best single" {
            let ndcg = |r: &vitrine::eval::ConfigResult| r.overall.metrics.ndcg_10;
            let fused = report
                .results
                .iter()
                .find(|r| r.config == "fused")
                .map(ndcg);
            let best = report
                .results
                .iter()
                .filter(|r| r.config.ends_with(" only"))
                .map(ndcg)
                .fold(f64::MIN, f64::max);
            let floor = metrics["ndcg_10"];
            match fused {
                Some(f) if f - best >= floor - 1e-9 => {}
                _ => failures.push(format!(
                    "{set}: fused nDCG@10 {fused:?} minus the best single signal's {best:.3} is below {floor}"
                )),
            }
            continue;
        }
        let Some(got) = report.results.iter().find(|r| &r.config == config) else {
            failures.push(format!("{set}: no {config} run"));
            continue;
        };
        let m = serde_json::to_value(got.overall.metrics).unwrap();
        for (name, floor) in metrics {
            let value = m[name].as_f64().unwrap();
            if value < *floor {
                failures.push(format!(
                    "{set} {config} {name}: {value:.3} < floor {floor:.3}"
                ));
            }
        }
    }
}

#[test]
fn luma_quality_stays_above_its_floors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let floors: Floors =
        serde_json::from_str(&std::fs::read_to_string(root.join("eval/floors.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sets = dir.path().join("sets");
    let status = std::process::Command::new("python3")
        .arg(root.join("scripts/luma-queries.py"))
        .arg(luma())
        .arg(&sets)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success());

    let mut failures = Vec::new();
    let (_catalog, searcher) = catalog_from(&dir.path().join("full"), &luma_sources());
    for set in [
        "attributes.jsonl",
        "titles.jsonl",
        "filters.jsonl",
        "descriptions.jsonl",
        "uses.jsonl",
        "synonyms.jsonl",
        "reviews.jsonl",
    ] {
        let queries = read_queries(&sets.join(set)).unwrap();
        let report = evaluate(&searcher, &queries, &Weights::default()).unwrap();
        check(set, &report, &floors, &mut failures);
    }
    // Reviews written by hand, not by rule (eval/written-reviews.jsonl).
    let queries = read_queries(&root.join("eval/written-reviews.jsonl")).unwrap();
    let report = evaluate(&searcher, &queries, &Weights::default()).unwrap();
    check("written-reviews.jsonl", &report, &floors, &mut failures);
    // That CSV names the Luma photos by absolute path, outside its own folder: allowed here.
    let searcher = {
        let mut catalog = Catalog::open(dir.path().join("main")).unwrap();
        import_with(
            &mut catalog,
            vitrine::ImportOptions {
                sources: vec![sets.join("products-main-views.csv")],
                allow_outside: true,
                ..Default::default()
            },
        );
        let enc = encoders(&catalog);
        embed(&mut catalog, &enc);
        common::searcher(&catalog)
    };
    let queries = read_queries(&sets.join("photos.jsonl")).unwrap();
    let report = evaluate(&searcher, &queries, &Weights::default()).unwrap();
    check("photos.jsonl", &report, &floors, &mut failures);
    assert!(
        failures.is_empty(),
        "search quality fell below its floors:\n{}",
        failures.join("\n")
    );
}
