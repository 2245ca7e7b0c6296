#![allow(dead_code)]
//! Helpers of the CLI's tests: the core's test helpers, and running the `vitrine` binary.

#[path = "../../../tests/common/mod.rs"]
mod helpers;

use std::path::Path;
use std::process::{Command, Output};

pub use helpers::*;

pub fn vitrine(catalog: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .arg("--catalog")
        .arg(catalog)
        .args(args)
        .output()
        .expect("vitrine runs")
}
