//! Duplicate listings on the Luma catalog plus edited copies of some of its photos listed as
//! new products (the fixture of `vitrine bench dupes-fixture`).

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use vitrine::Catalog;
use vitrine::duplicates::{Decision, DupesReport, Thresholds, write_merge_map};

fn fixture(out: &Path) -> serde_json::Value {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .current_dir(workspace_root())
        .args(["bench", "dupes-fixture", "--out"])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap()
}

fn scan(c: &Catalog) -> DupesReport {
    vitrine::duplicates::find(c, None, Some("all-minilm-l6-v2"), &Thresholds::default()).unwrap()
}

/// Truth clusters: the transitive closure of the true pairs.
struct Truth {
    parent: HashMap<String, String>,
}

impl Truth {
    fn root(&self, x: &str) -> String {
        let mut x = x.to_string();
        while let Some(p) = self.parent.get(&x).filter(|p| **p != x) {
            x = p.clone();
        }
        x
    }
    fn join(&mut self, a: &str, b: &str) {
        let (ra, rb) = (self.root(a), self.root(b));
        self.parent.insert(ra, rb);
    }
}

#[test]
fn edited_copies_are_found_with_high_precision() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fixture");
    let truth_json = fixture(&fx);
    let mut sources = luma_sources();
    sources.push(fx.join("duplicates.csv"));
    let catalog = embedded(&dir.path().join("cat"), &sources);
    let report = scan(&catalog);

    let mut truth = Truth {
        parent: HashMap::new(),
    };
    let mut edited: Vec<(String, String, String)> = Vec::new();
    for p in truth_json["pairs"].as_array().unwrap() {
        let (a, b, k) = (
            p[0].as_str().unwrap(),
            p[1].as_str().unwrap(),
            p[2].as_str().unwrap(),
        );
        truth.join(a, b);
        edited.push((a.into(), b.into(), k.into()));
    }
    for p in truth_json["variant_pairs"].as_array().unwrap() {
        truth.join(p[0].as_str().unwrap(), p[1].as_str().unwrap());
    }
    let group_of: HashMap<&str, usize> = report
        .groups
        .iter()
        .flat_map(|g| g.skus.iter().map(move |s| (s.as_str(), g.id)))
        .collect();
    let mut predicted = 0;
    let mut correct = 0;
    for g in &report.groups {
        for i in 0..g.skus.len() {
            for j in i + 1..g.skus.len() {
                predicted += 1;
                correct += (truth.root(&g.skus[i]) == truth.root(&g.skus[j])) as usize;
            }
        }
    }
    let precision = correct as f64 / predicted.max(1) as f64;
    let visible: Vec<&str> = truth_json["hash_visible"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut per_edit: HashMap<String, (usize, usize)> = HashMap::new();
    for (a, b, k) in &edited {
        let e = per_edit.entry(k.clone()).or_default();
        e.1 += 1;
        e.0 += (group_of.contains_key(a.as_str())
            && group_of.get(a.as_str()) == group_of.get(b.as_str())) as usize;
    }
    let (found, total) = visible.iter().fold((0, 0), |acc, k| {
        let (f, t) = per_edit.get(*k).copied().unwrap_or_default();
        (acc.0 + f, acc.1 + t)
    });
    let recall = found as f64 / total as f64;
    eprintln!(
        "precision {precision:.3} over {predicted} pairs; hash-visible recall {recall:.3}; per edit {per_edit:?}"
    );
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.90, "recall {recall}");
    // Luma's listings that share a photo but differ in size (straps of 6, 8 and 10 ft, stasis
    // balls of 55, 65 and 75 cm) are variants, never duplicates.
    for sizes in [
        ["24-WG085", "24-WG086", "24-WG087"],
        ["24-WG081", "24-WG082", "24-WG083"],
        ["24-WG081-pink", "24-WG082-pink", "24-WG083-pink"],
    ] {
        for (i, a) in sizes.iter().enumerate() {
            for b in &sizes[i + 1..] {
                assert!(
                    !group_of.contains_key(a) || group_of.get(a) != group_of.get(b),
                    "{a} and {b} proposed as duplicates"
                );
            }
        }
        let v = report
            .variants
            .iter()
            .find(|g| g.skus.iter().any(|s| s == sizes[0]))
            .unwrap_or_else(|| panic!("{sizes:?} not proposed as variants"));
        assert!(
            sizes.iter().all(|s| v.skus.iter().any(|x| x == s)),
            "{:?}",
            v.skus
        );
        assert!(
            v.variant.as_deref().unwrap().contains("differ by size"),
            "{:?}",
            v.variant
        );
    }
    let balls = report
        .variants
        .iter()
        .find(|g| g.skus.iter().any(|s| s == "24-WG081"))
        .unwrap();
    assert!(
        balls.variant.as_deref().unwrap().contains("55 cm / 65 cm"),
        "{:?}",
        balls.variant
    );

    // The merge map names each duplicate and what it merges into.
    let mut csv = Vec::new();
    write_merge_map(&report, &mut csv).unwrap();
    let text = String::from_utf8(csv).unwrap();
    assert!(text.starts_with("duplicate_sku,kept_sku,group,decision,confidence,evidence"));
    assert!(text.contains("DUP-"), "{text}");
}

#[test]
fn decisions_survive_rescans_and_new_imports_until_the_photos_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    std::fs::create_dir_all(&data).unwrap();
    let strap = luma().join("images/luma-yoga-strap.jpg");
    std::fs::copy(&strap, data.join("strap.jpg")).unwrap();
    std::fs::copy(luma().join("images/mb01-blue-0.jpg"), data.join("bag.jpg")).unwrap();
    let bag = image::open(data.join("bag.jpg")).unwrap();
    bag.resize(
        bag.width() / 2,
        bag.height() / 2,
        image::imageops::FilterType::Triangle,
    )
    .save(data.join("bag-small.jpg"))
    .unwrap();
    std::fs::write(
        data.join("products.csv"),
        "sku,title,category,color,price,image\n\
         S6,Yoga Strap 6 foot,Gear/Fitness,Blue,14,strap.jpg\n\
         S8,Yoga Strap 8 foot,Gear/Fitness,Blue,16,strap.jpg\n\
         B1,Joust Duffle Bag,Gear/Bags,Blue,34,bag.jpg\n\
         B2,Duffle Bag Joust,Gear/Bags,Blue,34,bag-small.jpg\n",
    )
    .unwrap();
    let csv = data.join("products.csv");
    let mut catalog = embedded(&dir.path().join("cat"), std::slice::from_ref(&csv));
    let groups =
        |c: &Catalog| -> Vec<Vec<String>> { scan(c).groups.into_iter().map(|g| g.skus).collect() };
    assert_eq!(
        groups(&catalog),
        vec![vec!["B1".to_string(), "B2".to_string()]]
    );
    let variants = |c: &Catalog| -> Vec<Vec<String>> {
        scan(c).variants.into_iter().map(|g| g.skus).collect()
    };
    assert_eq!(
        variants(&catalog),
        vec![vec!["S6".to_string(), "S8".to_string()]],
        "straps of two lengths are variants"
    );

    vitrine::duplicates::decide(
        &catalog,
        Decision::Variants,
        &["S6".into(), "S8".into()],
        None,
    )
    .unwrap();
    vitrine::duplicates::decide(
        &catalog,
        Decision::Duplicate,
        &["B1".into(), "B2".into()],
        Some("B1"),
    )
    .unwrap();
    let after = scan(&catalog);
    assert!(after.variants.is_empty(), "variants are not proposed again");
    assert_eq!(after.groups.len(), 1);
    assert_eq!(after.groups[0].pairs[0].decision, Some(Decision::Duplicate));
    assert_eq!(after.groups[0].pairs[0].keep.as_deref(), Some("B1"));

    // A rescan (same import) and an import of new photos keep the decisions.
    import(&mut catalog, std::slice::from_ref(&csv));
    let more = dir.path().join("more");
    std::fs::create_dir_all(&more).unwrap();
    std::fs::copy(
        luma().join("images/wj01-red_main.jpg"),
        more.join("jacket.jpg"),
    )
    .unwrap();
    import(&mut catalog, &[more]);
    assert_eq!(scan(&catalog).groups.len(), 1);
    let mut merge = Vec::new();
    write_merge_map(&scan(&catalog), &mut merge).unwrap();
    assert!(
        String::from_utf8(merge)
            .unwrap()
            .contains("B2,B1,1,duplicate,")
    );

    // Once the photos change, the pair is proposed again.
    let img = image::open(&strap).unwrap();
    let mut edited = img.to_rgb8();
    edited.put_pixel(0, 0, image::Rgb([1, 2, 3]));
    edited.save(data.join("strap.jpg")).unwrap();
    import(&mut catalog, std::slice::from_ref(&csv));
    assert_eq!(variants(&catalog).len(), 1);

    assert!(
        vitrine::duplicates::decide(
            &catalog,
            Decision::Duplicate,
            &["S6".into(), "S8".into()],
            None
        )
        .is_err(),
        "keep is required"
    );
    assert!(
        vitrine::duplicates::decide(
            &catalog,
            Decision::Variants,
            &["S6".into(), "NOPE".into()],
            None
        )
        .is_err()
    );
}

#[test]
fn a_loose_threshold_cannot_chain_the_catalog_into_one_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = Catalog::open(dir.path()).unwrap();
    import(&mut catalog, &luma_sources());
    let loose = Thresholds {
        phash: 30,
        phash_alone: 30,
        max_group: 5,
        ..Thresholds::default()
    };
    let r = vitrine::duplicates::find(&catalog, None, None, &loose).unwrap();
    assert!(r.oversized_groups_split > 0);
    assert!(r.groups.iter().all(|g| g.skus.len() <= 5));
    assert!(r.groups.iter().any(|g| g.split));
}
