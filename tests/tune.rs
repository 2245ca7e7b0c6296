//! `tune` on the Luma catalog with queries whose keywords mislead: the synonyms amid everyday
//! review chatter ("good value, the color looks great"), whose words the catalog has only by
//! chance, so that keyword matches pull the default fusion below product text alone. Fitted on
//! other folds, the weights must do better on the held-out queries than the defaults, by
//! counting keywords less than product text, be kept with the catalog, and go on `reset`.

mod common;

use std::path::Path;

use common::*;
use vitrine::Catalog;
use vitrine::eval::read_queries;
use vitrine::query::Weights;

fn query_sets(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("python3")
        .arg(root.join("scripts/luma-queries.py"))
        .arg(luma())
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success());
}

#[test]
fn tuning_learns_to_count_misleading_keywords_less_and_is_kept_until_reset() {
    let sets = tempfile::tempdir().unwrap();
    query_sets(sets.path());
    let catalog = Catalog::open(catalog_dir()).unwrap();
    let searcher = searcher(&catalog);
    let queries = read_queries(&sets.path().join("chatter.jsonl")).unwrap();

    let dry = vitrine::tune::tune(&catalog, &searcher, &queries, 4, true).unwrap();
    assert_eq!(dry.folds.len(), 4);
    assert!(dry.improved, "{dry:?}");
    // The default fusion is already near its best here (0.222 against product text's 0.225),
    // so the gain is small, but held out.
    assert!(dry.after > dry.before, "{} -> {}", dry.before, dry.after);
    assert!(
        dry.weights.keyword < dry.weights.text,
        "keywords count less than product text: {:?}",
        dry.weights
    );
    assert_eq!(
        vitrine::tune::weights(&catalog).unwrap(),
        Weights::default()
    );

    let kept = vitrine::tune::tune(&catalog, &searcher, &queries, 4, false).unwrap();
    assert_eq!(vitrine::tune::weights(&catalog).unwrap(), kept.weights);
    // A second run starts from the kept weights.
    let again = vitrine::tune::tune(&catalog, &searcher, &queries, 4, true).unwrap();
    assert_eq!(again.start, kept.weights);

    vitrine::tune::reset(&catalog).unwrap();
    assert_eq!(
        vitrine::tune::weights(&catalog).unwrap(),
        Weights::default()
    );

    // Too few labelled queries: a clear error.
    let err = vitrine::tune::tune(&catalog, &searcher, &queries[..3], 4, true).unwrap_err();
    assert!(err.to_string().contains("at least 8 queries"), "{err}");
}
