//! Exports that strangers' CSV cells cannot turn into spreadsheet formulas.

mod common;

use common::*;
use vitrine::Catalog;

#[test]
fn an_exported_csv_neutralises_formulas_and_keeps_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("products.csv");
    std::fs::write(
        &csv,
        "sku,title,description,category,color,price,weight\n\
         A1,\"=HYPERLINK(\"\"http://x\"\",\"\"click\"\")\",@SUM(1),+SUM(1),-2+3,12.50,-3.5\n",
    )
    .unwrap();
    let mut catalog = Catalog::open(dir.path().join("catalog")).unwrap();
    import(&mut catalog, &[csv]);
    let mut out = Vec::new();
    catalog.export_csv(&mut out).unwrap();
    let mut r = csv::Reader::from_reader(out.as_slice());
    let headers = r.headers().unwrap().clone();
    let row = r.records().next().unwrap().unwrap();
    let cell = |name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_string();
    assert_eq!(cell("title"), "'=HYPERLINK(\"http://x\",\"click\")");
    assert_eq!(cell("description"), "'@SUM(1)");
    assert_eq!(cell("category"), "'+SUM(1)");
    assert_eq!(cell("color"), "'-2+3");
    assert_eq!(cell("price"), "12.5");
    assert_eq!(cell("weight"), "-3.5", "a negative number stays a number");
}
