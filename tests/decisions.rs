//! Duplicate decisions hold in the groups and the merge map.

mod common;

use common::*;
use vitrine::Catalog;
use vitrine::duplicates::{self, Decision, Thresholds, write_merge_map};

/// Records that `a` and `b` are not duplicates.
fn decide_apart(catalog: &Catalog, a: &str, b: &str) {
    duplicates::decide(catalog, Decision::NotDuplicate, &[a.into(), b.into()], None).unwrap();
}

#[test]
fn the_merge_map_never_merges_products_decided_apart() {
    let dir = tempfile::tempdir().unwrap();
    write_jpeg(&dir.path().join("same.jpg"), 80, 60, 3);
    let csv = dir.path().join("products.csv");
    std::fs::write(
        &csv,
        "sku,title,category,price,image\n\
         A,Canvas tote,Bags,20,same.jpg\n\
         B,Canvas tote bag,Bags,20,same.jpg\n\
         C,Tote in canvas,Bags,20,same.jpg\n",
    )
    .unwrap();
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    import(&mut catalog, &[csv]);
    let t = Thresholds::default();
    let before = duplicates::find(&catalog, None, None, &t).unwrap();
    assert_eq!(before.groups.len(), 1);
    assert_eq!(before.groups[0].skus, ["A", "B", "C"]);

    decide_apart(&catalog, "A", "B");
    let after = duplicates::find(&catalog, None, None, &t).unwrap();
    for g in &after.groups {
        assert!(
            !(g.skus.contains(&"A".to_string()) && g.skus.contains(&"B".to_string())),
            "A and B were decided apart but share group {:?}",
            g.skus
        );
    }
    let mut out = Vec::new();
    write_merge_map(&after, &mut out).unwrap();
    let mut r = csv::Reader::from_reader(out.as_slice());
    for row in r.records() {
        let row = row.unwrap();
        let pair = [&row[0], &row[1]];
        assert!(
            !(pair.contains(&"A") && pair.contains(&"B")),
            "the merge map merges A and B: {row:?}"
        );
    }
    // Undone, the three are one group again.
    duplicates::undecide(&catalog, &["A".into(), "B".into()]).unwrap();
    let undone = duplicates::find(&catalog, None, None, &t).unwrap();
    assert_eq!(undone.groups.len(), 1);
    assert_eq!(undone.groups[0].skus, ["A", "B", "C"]);
    decide_apart(&catalog, "A", "B");
    let after = duplicates::find(&catalog, None, None, &t).unwrap();
    // C is still proposed as a duplicate of one of them.
    assert_eq!(after.groups.len(), 1);
    assert!(after.groups[0].skus.contains(&"C".to_string()));
}

#[test]
fn decisions_survive_a_product_pruned_and_imported_again() {
    let dir = tempfile::tempdir().unwrap();
    write_jpeg(&dir.path().join("same.jpg"), 80, 60, 3);
    write_jpeg(&dir.path().join("other.jpg"), 60, 80, 4);
    let csv = dir.path().join("products.csv");
    let all = "sku,title,category,price,image\n\
               A,Canvas tote,Bags,20,same.jpg\n\
               B,Canvas tote bag,Bags,20,same.jpg|other.jpg\n";
    std::fs::write(&csv, all).unwrap();
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    import(&mut catalog, std::slice::from_ref(&csv));
    let t = Thresholds::default();
    assert_eq!(
        duplicates::find(&catalog, None, None, &t)
            .unwrap()
            .groups
            .len(),
        1
    );
    decide_apart(&catalog, "A", "B");
    assert!(
        duplicates::find(&catalog, None, None, &t)
            .unwrap()
            .groups
            .is_empty()
    );

    // B leaves the CSV and is pruned, with its two photos.
    std::fs::write(
        &csv,
        "sku,title,category,price,image\nA,Canvas tote,Bags,20,same.jpg\n",
    )
    .unwrap();
    let r = import_with(
        &mut catalog,
        vitrine::ImportOptions {
            sources: vec![csv.clone()],
            prune: true,
            ..Default::default()
        },
    );
    assert_eq!((r.pruned_products, r.pruned_images), (1, 2), "{r:?}");
    assert!(catalog.product("B").is_err());

    // B comes back with the same photos: the decision still holds.
    std::fs::write(&csv, all).unwrap();
    import(&mut catalog, std::slice::from_ref(&csv));
    let again = duplicates::find(&catalog, None, None, &t).unwrap();
    assert!(
        again.groups.is_empty(),
        "A and B were decided apart before B was pruned: {:?}",
        again.groups.iter().map(|g| &g.skus).collect::<Vec<_>>()
    );
}
