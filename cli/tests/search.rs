//! The search commands on the Luma catalog (with the tiny CLIP fixture and real MiniLM).

mod common;

use std::process::Output;

use common::*;

/// `vitrine` on the Luma catalog with the shared models.
fn on_luma(args: &[&str]) -> Output {
    let models = shared().join("models");
    let mut all = vec!["--models-dir", models.to_str().unwrap()];
    all.extend_from_slice(args);
    vitrine(catalog_dir(), &all)
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_cli_prints_json_for_the_app_and_a_table_for_people() {
    let v = json_of(&on_luma(&[
        "search",
        "blue backpack",
        "--weights",
        "crossmodal=0",
        "-k",
        "3",
        "--json",
    ]));
    assert_eq!(v["hits"].as_array().unwrap().len(), 3);
    assert_eq!(v["hits"][0]["category"], "Gear/Bags");
    assert!(v["hits"][0]["signals"].as_array().unwrap().len() >= 2);

    let out = on_luma(&["similar", "MH09", "-k", "3"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("SCORE") && text.lines().count() >= 5,
        "{text}"
    );
}

#[test]
fn a_query_may_start_with_a_not_term() {
    // "-zip backpack" is a query, not an unknown flag; the flags around it still count.
    let v = json_of(&on_luma(&["search", "-k", "2", "-zip backpack", "--json"]));
    assert_eq!(v["not"], serde_json::json!(["zip"]));
    assert_eq!(v["hits"].as_array().unwrap().len(), 2);
}
