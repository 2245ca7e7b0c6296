//! The search commands on the Luma catalog (with the tiny CLIP fixture and real MiniLM).

mod common;

use common::*;

#[test]
fn the_cli_prints_json_for_the_app_and_a_table_for_people() {
    let dir = catalog_dir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args([
            "--catalog",
            dir.to_str().unwrap(),
            "--models-dir",
            shared().join("models").to_str().unwrap(),
        ])
        .args([
            "search",
            "blue backpack",
            "--weights",
            "crossmodal=0",
            "-k",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hits"].as_array().unwrap().len(), 3);
    assert_eq!(v["hits"][0]["category"], "Gear/Bags");
    assert!(v["hits"][0]["signals"].as_array().unwrap().len() >= 2);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args([
            "--catalog",
            dir.to_str().unwrap(),
            "--models-dir",
            shared().join("models").to_str().unwrap(),
        ])
        .args(["similar", "MH09", "-k", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("SCORE") && text.lines().count() >= 5,
        "{text}"
    );
}

#[test]
fn a_query_may_start_with_a_not_term() {
    // "-zip backpack" is a query, not an unknown flag; the flags around it still count.
    let dir = catalog_dir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args([
            "--catalog",
            dir.to_str().unwrap(),
            "--models-dir",
            shared().join("models").to_str().unwrap(),
        ])
        .args(["search", "-k", "2", "-zip backpack", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["not"], serde_json::json!(["zip"]));
    assert_eq!(v["hits"].as_array().unwrap().len(), 2);
}
