//! The command line over a small imported catalog.

mod common;

use common::*;

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &["--help"][..],
        &["import", "--help"],
        &["stats", "--help"],
        &["errors", "--help"],
        &["runs", "--help"],
        &["products", "--help"],
        &["products", "list", "--help"],
        &["products", "show", "--help"],
        &["export", "--help"],
        &["check", "--help"],
        &["embed", "--help"],
        &["search", "--help"],
        &["similar", "--help"],
        &["eval", "--help"],
        &["judge", "--help"],
        &["judgements", "--help"],
        &["tune", "--help"],
        &["dupes", "--help"],
        &["dupes", "decide", "--help"],
        &["dupes", "export", "--help"],
        &["index", "--help"],
        &["models", "list", "--help"],
        &["models", "download", "--help"],
        &["models", "verify", "--help"],
        &["models", "use", "--help"],
        &["models", "add", "--help"],
        &["bench", "import", "--help"],
        &["bench", "embed", "--help"],
        &["bench", "search", "--help"],
        &["bench", "dupes", "--help"],
    ] {
        let text = stdout(&vitrine(dir.path(), cmd));
        assert!(text.contains("Usage:"), "{cmd:?}: {text}");
    }
}

#[test]
fn import_list_show_export_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    write_jpeg(&input.join("tote.jpg"), 40, 30, 3);
    write_jpeg(&input.join("mug.jpg"), 40, 30, 8);
    std::fs::write(input.join("broken.jpg"), "not a photo").unwrap();
    std::fs::write(
        input.join("products.csv"),
        "sku,title,category,colour,price,image,material\n\
         T1,Canvas Tote,Bags > Totes,Red,19.90,tote.jpg,cotton\n\
         M1,Tall Mug,Kitchen,White,$7,mug.jpg,stoneware\n\
         X1,Broken,Kitchen,,3,,\n\
         Y1,Priceless,Kitchen,,free,,\n",
    )
    .unwrap();
    let cat = dir.path().join("cat");
    let csv = input.join("products.csv");
    let text = stdout(&vitrine(
        &cat,
        &["import", csv.to_str().unwrap(), input.to_str().unwrap()],
    ));
    assert!(text.contains("products: 3 added"), "{text}");
    assert!(text.contains("skipped:  2"), "{text}");

    let errors = stdout(&vitrine(&cat, &["errors"]));
    assert!(
        errors.contains("[bad_price]") && errors.contains("products.csv:5"),
        "{errors}"
    );
    assert!(
        errors.contains("[not_an_image]") && errors.contains("broken.jpg"),
        "{errors}"
    );

    let list = stdout(&vitrine(&cat, &["products", "list", "--category", "Bags"]));
    assert!(
        list.contains("Canvas Tote") && !list.contains("Tall Mug"),
        "{list}"
    );

    let show: serde_json::Value = serde_json::from_str(&stdout(&vitrine(
        &cat,
        &["products", "show", "T1", "--json"],
    )))
    .unwrap();
    assert_eq!(show["category"], "Bags/Totes");
    assert_eq!(show["attributes"]["material"], "cotton");
    assert_eq!(show["images"][0]["width"], 40);

    let missing = vitrine(&cat, &["products", "show", "NOPE"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no product with SKU"));

    let csv_out = stdout(&vitrine(&cat, &["export", "--format", "csv"]));
    let mut rows = csv::Reader::from_reader(csv_out.as_bytes());
    let headers = rows.headers().unwrap().clone();
    assert!(headers.iter().any(|h| h == "material"));
    assert_eq!(rows.records().count(), 3);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&vitrine(&cat, &["export", "--format", "json"]))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);

    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&vitrine(&cat, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["products"], 3);
    assert_eq!(stats["images"], 2);
    assert_eq!(stdout(&vitrine(&cat, &["check"])).trim(), "ok");
}

#[test]
fn control_characters_from_the_catalog_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("products.csv");
    std::fs::write(
        &csv,
        "sku,title,description,category,price\nE1,Evil \x1b[31mred\x1b[0m bag,\x1b]0;owned\x07,Bags\x1b[2J,5\n",
    )
    .unwrap();
    let cat = dir.path().join("cat");
    let imported = vitrine(&cat, &["import", csv.to_str().unwrap(), "--no-embed"]);
    assert!(imported.status.success());
    for args in [
        &["products", "list"][..],
        &["products", "show", "E1"],
        &["search", "bag"],
        &["import", csv.to_str().unwrap(), "--no-embed"],
    ] {
        let out = vitrine(&cat, args);
        assert!(out.status.success(), "{args:?}");
        let printed = [out.stdout, out.stderr].concat();
        assert!(
            !printed.iter().any(|&b| b == 0x1b || b == 0x07),
            "{args:?} printed a raw control character: {}",
            String::from_utf8_lossy(&printed)
        );
    }
    let show = stdout(&vitrine(&cat, &["products", "show", "E1"]));
    assert!(show.contains("Evil \\u{1b}[31mred"), "{show}");
    // JSON keeps the text as it is (JSON escapes it itself).
    let json: serde_json::Value = serde_json::from_str(&stdout(&vitrine(
        &cat,
        &["products", "show", "E1", "--json"],
    )))
    .unwrap();
    assert_eq!(json["title"], "Evil \u{1b}[31mred\u{1b}[0m bag");
}

#[test]
fn values_that_mean_nothing_are_refused_with_a_reason() {
    let (_dir, cat) = two_products("1.2.3");
    let errors = stdout(&vitrine(&cat, &["errors"]));
    assert!(
        errors.contains("bad_price") && errors.contains("1.2.3"),
        "{errors}"
    );
    for (args, says) in [
        (&["search", "bag", "--min-price", "NaN"][..], "not a price"),
        (&["search", "bag", "--max-price=-5"], "not a price"),
        (&["search", "bag", "-k", "0"], "1 or more"),
        (
            &["search", "bag", "--weights", "text=1e308"],
            "from 0 to 100",
        ),
        (&["dupes", "--threshold", "visual=NaN"], "cosine"),
        (&["dupes", "--threshold", "max-group=0"], "2 or more"),
    ] {
        assert_refused(&cat, args, says);
    }
}

#[test]
fn small_mistakes_get_an_error_not_a_silent_success() {
    let (dir, cat) = two_products("10");
    let models = dir.path().join("m");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(
        models.join("config.json"),
        r#"{"model_type": "bert", "hidden_size": 8}"#,
    )
    .unwrap();
    for (args, says) in [
        (
            &["dupes", "decide", "not-duplicate", "A", "A"][..],
            "given twice",
        ),
        (&["errors", "--run", "999999"], "no import run 999999"),
        (
            &[
                "models",
                "add",
                "--path",
                models.to_str().unwrap(),
                "--id",
                "",
            ],
            "cannot be a model id",
        ),
        (
            &[
                "models",
                "add",
                "--path",
                models.to_str().unwrap(),
                "--id",
                "a/b",
            ],
            "cannot be a model id",
        ),
    ] {
        assert_refused(&cat, args, says);
    }
    assert!(
        vitrine(&cat, &["dupes", "decide", "not-duplicate", "A", "B"])
            .status
            .success()
    );
}

#[test]
fn results_marked_right_or_wrong_make_a_query_set_for_eval() {
    let (_dir, cat) = two_products("10");
    assert_refused(
        &cat,
        &["eval", "--judged"],
        "no query has a result marked right",
    );
    assert_refused(
        &cat,
        &["judge", "red bag", "NOPE", "--right"],
        "no product with SKU \"NOPE\"",
    );
    assert_refused(&cat, &["judge", "  ", "A", "--right"], "typed query");
    assert_refused(&cat, &["judge", "red bag", "A"], "--right");
    for args in [
        &["judge", " red  bag", "A", "--right"][..],
        &["judge", "red bag", "B", "--wrong"],
        &["judge", "blue bag", "B", "--right"],
        &["judge", "blue bag", "A", "--right"],
        &["judge", "blue bag", "A", "--clear"],
    ] {
        stdout(&vitrine(&cat, args));
    }
    let marks: serde_json::Value =
        serde_json::from_str(&stdout(&vitrine(&cat, &["judgements", "--json"]))).unwrap();
    let marks: Vec<(String, String, bool)> = marks
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["query"].as_str().unwrap().into(),
                m["sku"].as_str().unwrap().into(),
                m["right"].as_bool().unwrap(),
            )
        })
        .collect();
    let mark = |q: &str, s: &str, r| (q.to_string(), s.to_string(), r);
    assert_eq!(
        marks,
        [
            mark("red bag", "A", true),
            mark("red bag", "B", false),
            mark("blue bag", "B", true)
        ]
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&vitrine(&cat, &["eval", "--judged", "--json"]))).unwrap();
    let report = &report[0]["report"];
    assert_eq!(report["queries"], 2);
    let fused = &report["results"][0];
    assert_eq!(fused["config"], "fused");
    // Keywords alone put each judged product first.
    assert_eq!(fused["overall"]["metrics"]["ndcg_10"], 1.0, "{fused}");
}

/// A catalog of two products, A (at price `a_price`, as written in the CSV) and B.
fn two_products(a_price: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat");
    let csv = dir.path().join("p.csv");
    std::fs::write(
        &csv,
        format!("sku,title,price\nA,Red bag,{a_price}\nB,Blue bag,20\n"),
    )
    .unwrap();
    let out = vitrine(&cat, &["import", csv.to_str().unwrap(), "--no-embed"]);
    assert!(out.status.success());
    (dir, cat)
}

/// The command fails, and its error says `says`.
fn assert_refused(cat: &std::path::Path, args: &[&str], says: &str) {
    let out = vitrine(cat, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} was accepted");
    assert!(err.contains(says), "{args:?}: {err}");
}

#[test]
fn check_notices_a_lost_thumbnail_and_repair_makes_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    write_jpeg(&photos.join("a.jpg"), 60, 40, 9);
    let cat = dir.path().join("cat");
    assert!(
        vitrine(&cat, &["import", photos.to_str().unwrap(), "--no-embed"])
            .status
            .success()
    );
    assert!(vitrine(&cat, &["check"]).status.success());
    std::fs::remove_dir_all(cat.join("thumbs")).unwrap();
    assert_refused(&cat, &["check"], "1 thumbnails are missing or damaged");
    let repaired = vitrine(&cat, &["check", "--repair"]);
    assert!(
        repaired.status.success(),
        "{}",
        String::from_utf8_lossy(&repaired.stderr)
    );
    assert!(stdout(&repaired).contains("Made 1 thumbnails again."));
    assert!(vitrine(&cat, &["check"]).status.success());
}

#[test]
fn embed_fails_when_the_chosen_model_is_missing_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat");
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    std::fs::copy(
        luma().join("images/mh07-gray_main.jpg"),
        photos.join("a.jpg"),
    )
    .unwrap();
    let out = vitrine(&cat, &["import", photos.to_str().unwrap(), "--no-embed"]);
    assert!(out.status.success());
    let models = shared().join("models");
    let tiny = shared().join("fixtures/clip-tiny");
    let run = |args: &[&str]| {
        let mut all = vec!["--models-dir", models.to_str().unwrap()];
        all.extend_from_slice(args);
        vitrine(&cat, &all)
    };
    for args in [
        &[
            "models",
            "add",
            "--path",
            tiny.to_str().unwrap(),
            "--id",
            "tiny",
        ][..],
        &["models", "use", "tiny"],
        &["embed"],
        &["models", "use", "clip-vit-base-patch32"],
    ] {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The ViT-B/32 weights are not in the shared models folder.
    let out = run(&["embed"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the chosen model clip-vit-base-patch32"),
        "{err}"
    );
    assert!(err.contains("tiny keeps serving"), "{err}");
}

#[test]
fn models_download_uses_hf_endpoint_and_refuses_a_damaged_file() {
    let hub = hub::TestHub::start();
    let rev = "e6a30b603a447e251fdaca1c3056b2a16cdfebeb";
    let repo = "openai/clip-vit-base-patch32";
    let real = shared().join("models/clip-vit-base-patch32");
    for f in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        hub.put(repo, rev, f, std::fs::read(real.join(f)).unwrap());
    }
    // The weights' checksum is not pinned; any bytes stand in for them here.
    hub.put(repo, rev, "model.safetensors", vec![7u8; 300_000]);
    hub.fault("config.json", hub::Fault::FlipByte(10));
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
            .arg("--catalog")
            .arg(dir.path().join("cat"))
            .arg("--models-dir")
            .arg(&models)
            .args(["models", "download", "clip-vit-base-patch32"])
            .env("HF_ENDPOINT", &hub.url)
            .output()
            .unwrap()
    };
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("config.json")
            && err.contains("damaged")
            && err.contains("nothing was installed"),
        "{err}"
    );
    let folder = models.join("clip-vit-base-patch32");
    assert!(!folder.join("config.json").exists());
    assert!(!folder.join(".config.json.part").exists());

    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("downloaded and verified"));
    assert_eq!(
        std::fs::read(folder.join("config.json")).unwrap(),
        std::fs::read(real.join("config.json")).unwrap()
    );
    assert!(
        hub.paths()
            .iter()
            .all(|p| p.starts_with(&format!("/{repo}/resolve/{rev}/"))),
        "{:?}",
        hub.paths()
    );
}

#[test]
fn check_finds_a_damaged_search_index_and_repair_rebuilds_it_after_a_backup() {
    let (_dir, cat) = two_products("10");
    assert_eq!(stdout(&vitrine(&cat, &["check"])).trim(), "ok");
    {
        // An index whose entries no longer match its table, as a torn write can leave one: the
        // category index is declared over another column, so its entries are all wrong.
        let conn = rusqlite::Connection::open(cat.join("catalog.sqlite")).unwrap();
        conn.execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = 'CREATE INDEX products_category ON products(source)'
             WHERE name = 'products_category';",
        )
        .unwrap();
    }
    assert_refused(
        &cat,
        &["check"],
        "`vitrine check --repair` rebuilds the indexes",
    );
    let backups = |cat: &std::path::Path| {
        std::fs::read_dir(cat)
            .unwrap()
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                n.contains("before-repair") && !n.ends_with("-wal")
            })
            .count()
    };
    assert_eq!(backups(&cat), 0, "a check alone changes nothing");
    let repaired = vitrine(&cat, &["check", "--repair"]);
    let said = stdout(&repaired);
    assert!(
        said.contains("Copied the database to") && said.contains("checks ok"),
        "{said}"
    );
    assert_eq!(backups(&cat), 1);
    assert_eq!(stdout(&vitrine(&cat, &["check"])).trim(), "ok");
    let found = stdout(&vitrine(&cat, &["search", "red bag", "--json"]));
    assert!(found.contains("\"A\""), "{found}");
}

#[test]
fn the_currency_is_read_from_the_prices_and_can_be_set() {
    let (dir, cat) = two_products("$10.00");
    assert_eq!(stdout(&vitrine(&cat, &["currency"])).trim(), "USD");
    assert_eq!(stdout(&vitrine(&cat, &["currency", "eur"])).trim(), "EUR");
    // Set by hand, it outlives the next import.
    let csv = dir.path().join("p.csv");
    assert!(
        vitrine(&cat, &["import", csv.to_str().unwrap(), "--no-embed"])
            .status
            .success()
    );
    assert_eq!(stdout(&vitrine(&cat, &["currency"])).trim(), "EUR");
    assert_refused(&cat, &["currency", "euro"], "not a currency code");
    assert!(stdout(&vitrine(&cat, &["currency", "--clear"])).contains("No currency"));
}

#[test]
fn models_list_shows_siglip_2_and_marqo_with_size_licence_and_languages() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat");
    let text = stdout(&vitrine(&cat, &["models", "list"]));
    for id in [
        "siglip2-base-patch16-224",
        "marqo-ecommerce-b",
        "marqo-ecommerce-l",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{text}"));
        assert!(
            line.contains(" MB") && line.contains("Apache-2.0"),
            "{line}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&vitrine(&cat, &["models", "list", "--json"]))).unwrap();
    let by_id = |id: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
            .clone()
    };
    let siglip = by_id("siglip2-base-patch16-224");
    assert_eq!(siglip["multilingual"], true);
    assert_eq!(siglip["architecture"], "SiglipModel");
    let marqo = by_id("marqo-ecommerce-b");
    assert_eq!(marqo["multilingual"], false);
    assert_eq!(marqo["embedding_dim"], 768);
    assert!(
        marqo["good_at"]
            .as_str()
            .unwrap()
            .contains("Product search")
    );

    // A model folder in Marqo's (OpenCLIP) layout can be added and is described from its files.
    let tiny =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/marqo-tiny");
    stdout(&vitrine(
        &cat,
        &[
            "models",
            "add",
            "--path",
            tiny.to_str().unwrap(),
            "--id",
            "marqo-tiny",
        ],
    ));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&vitrine(&cat, &["models", "list", "--json"]))).unwrap();
    let added = json
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "marqo-tiny")
        .unwrap();
    assert_eq!(added["architecture"], "OpenCLIP-SigLIP");
    assert_eq!(added["embedding_dim"], 128);
    assert_eq!(added["present"], true);
}
