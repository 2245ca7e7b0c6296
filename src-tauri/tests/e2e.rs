//! End-to-end tests: the real app binary driven through WebDriver (WebKitWebDriver, from
//! Debian's `webkit2gtk-driver`), under Xvfb when there is no display. Each test saves a
//! screenshot of the window it checked in `target/e2e-screenshots/`.
//!
//! The tests speak to WebKitWebDriver directly, with the capabilities tauri-driver would send
//! it on Linux (`webkitgtk:browserOptions` naming the app binary): through tauri-driver's proxy,
//! a request now and then never got its answer and a test hung.
//!
//! Needs `webkit2gtk-driver` and `xvfb`; `scripts/setup-debian` installs them. Set
//! VITRINE_SKIP_E2E=1 to skip these tests on a machine without them.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use vitrine::embed::EmbedOptions;
use vitrine::encoders::DeviceChoice;
use vitrine::model_choice::Encoders;
use vitrine::query::{Query, Weights};
use vitrine::search::Searcher;
use vitrine::{Catalog, ImportOptions};

#[path = "../../tests/common/hub.rs"]
mod hub;

const XSS_TITLE: &str = "<img src=x onerror=alert(1)>";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shared() -> PathBuf {
    let p = root().join("../shared");
    assert!(
        p.is_dir(),
        "the shared folder is missing at {}",
        p.display()
    );
    p
}

fn luma() -> PathBuf {
    shared().join("catalogs/luma")
}

fn models_dir() -> PathBuf {
    shared().join("models")
}

fn screenshots() -> PathBuf {
    let d = root().join("target/e2e-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The scenarios, run one after another (one app at a time) by `main`: this file has its own
/// harness (`harness = false`) because WebKitWebDriver drives one session at a time.
fn main() {
    if skip() {
        return;
    }
    type Scenario = fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;
    let scenarios: &[(&str, Scenario)] = &[
        (
            "import_through_the_ui_runs_to_the_end_with_progress",
            || Box::pin(import_through_the_ui_runs_to_the_end_with_progress()),
        ),
        ("a_text_query_shows_matching_products", || {
            Box::pin(a_text_query_shows_matching_products())
        }),
        ("the_keyword_slider_reorders_as_the_core_does", || {
            Box::pin(the_keyword_slider_reorders_as_the_core_does())
        }),
        ("a_photo_query_through_the_file_input", || {
            Box::pin(a_photo_query_through_the_file_input())
        }),
        ("filters_exclude_what_they_should", || {
            Box::pin(filters_exclude_what_they_should())
        }),
        (
            "catalog_text_is_shown_as_text_and_files_outside_the_catalog_are_refused",
            || Box::pin(catalog_text_is_shown_as_text_and_files_outside_the_catalog_are_refused()),
        ),
        ("a_duplicate_decision_survives_a_restart", || {
            Box::pin(a_duplicate_decision_survives_a_restart())
        }),
        (
            "results_judged_right_or_wrong_are_measured_and_tuned_on",
            || Box::pin(results_judged_right_or_wrong_are_measured_and_tuned_on()),
        ),
        (
            "first_run_downloads_the_visual_model_and_photo_search_turns_on",
            || Box::pin(first_run_downloads_the_visual_model_and_photo_search_turns_on()),
        ),
        (
            "a_downloaded_model_that_does_not_load_is_said_plainly",
            || Box::pin(a_downloaded_model_that_does_not_load_is_said_plainly()),
        ),
        (
            "a_model_downloads_from_settings_with_progress_cancel_and_a_damaged_file_refused",
            || {
                Box::pin(
                    a_model_downloads_from_settings_with_progress_cancel_and_a_damaged_file_refused(
                    ),
                )
            },
        ),
    ];
    // `cargo test NAME` passes NAME (and options, which start with `-`).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<_> = scenarios
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} end-to-end tests", chosen.len());
    let mut failed = Vec::new();
    for (name, run) in chosen {
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async {
                // A scenario that hangs fails rather than stalling the run.
                tokio::time::timeout(Duration::from_secs(900), run())
                    .await
                    .unwrap_or_else(|_| panic!("{name} took over 15 minutes"))
            })
        }));
        drop(rt);
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => println!("test {name} ... ok ({secs:.1} s)"),
            Err(_) => {
                println!("test {name} ... FAILED ({secs:.1} s)");
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        println!("\nfailures: {failed:?}");
        std::process::exit(101);
    }
    println!("\ntest result: ok");
}

fn skip() -> bool {
    if std::env::var_os("VITRINE_SKIP_E2E").is_some_and(|v| v == "1") {
        eprintln!("VITRINE_SKIP_E2E=1: end-to-end test skipped");
        return true;
    }
    false
}

fn which(name: &str) -> Option<PathBuf> {
    let home_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(home_bin)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn need(name: &str, how: &str) -> PathBuf {
    which(name).unwrap_or_else(|| {
        panic!("{name} is missing: {how} (or run scripts/setup-debian; VITRINE_SKIP_E2E=1 skips)")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Xvfb (when there is no display) and WebKitWebDriver, stopped on drop.
struct Driver {
    children: Vec<Child>,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            // Each child leads its own process group: this also stops WebKitWebDriver and the app.
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Driver {
    fn start() -> Driver {
        Driver::start_with(&[])
    }

    /// Starts the drivers with `env` set for them and the apps they start.
    fn start_with(env: &[(&str, &str)]) -> Driver {
        let native = need("WebKitWebDriver", "apt-get install webkit2gtk-driver");
        let mut children = Vec::new();
        let mut display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
        if display.is_none() {
            let xvfb = need("Xvfb", "apt-get install xvfb");
            let mut child = Command::new(xvfb)
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "1920x1080x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("Xvfb starts");
            let mut out = child.stdout.take().unwrap();
            let mut buf = Vec::new();
            let mut byte = [0u8; 1];
            use std::io::Read;
            while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
                buf.push(byte[0]);
            }
            display = Some(format!(":{}", String::from_utf8_lossy(&buf).trim()));
            children.push(child);
        }
        let port = free_port();
        let child = Command::new(native)
            .arg(format!("--port={port}"))
            .env("DISPLAY", display.unwrap())
            .env("GDK_BACKEND", "x11")
            // What tauri-driver sets: the app's web view accepts automation.
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            // VITRINE_E2E_LOG=1 shows the app's log (with VITRINE_LOG=debug, say).
            .stderr(if std::env::var_os("VITRINE_E2E_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .process_group(0)
            .spawn()
            .expect("WebKitWebDriver starts");
        children.push(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "WebKitWebDriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { children, port }
    }

    /// Opens the app on `catalog`.
    async fn open(&self, catalog: &Path) -> App {
        self.open_with(catalog, &models_dir()).await
    }

    /// Opens the app on `catalog` with its models in `models`.
    async fn open_with(&self, catalog: &Path, models: &Path) -> App {
        let caps = json!({
            "browserName": "wry",
            "webkitgtk:browserOptions": {
                "binary": env!("CARGO_BIN_EXE_vitrine-app"),
                "args": ["--catalog", catalog, "--models-dir", models, "--device", "cpu"],
            }
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{}", self.port);
        let mut last = None;
        for _ in 0..3 {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    let app = App { c };
                    app.wait_for("document.body.dataset.ready === 'true'", 60)
                        .await;
                    return app;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        panic!("no WebDriver session: {last:?}");
    }
}

struct App {
    c: Client,
}

impl App {
    /// Runs a script, again if WebDriver gives no answer within 10 s (now and then a request
    /// to WebKitWebDriver goes unanswered); the scripts here may safely run twice.
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        for _ in 0..3 {
            match tokio::time::timeout(
                Duration::from_secs(10),
                self.c.execute(script, args.clone()),
            )
            .await
            {
                Ok(r) => return r.unwrap_or_else(|e| panic!("script failed: {e}\n{script}")),
                Err(_) => eprintln!("e2e: no answer from WebDriver, trying again"),
            }
        }
        panic!("WebDriver did not answer three times running:\n{script}");
    }

    /// As [`App::js`], for a script that calls its last argument when done.
    async fn js_async(&self, script: &str, args: Vec<Value>) -> Value {
        for _ in 0..3 {
            if let Ok(r) = tokio::time::timeout(
                Duration::from_secs(20),
                self.c.execute_async(script, args.clone()),
            )
            .await
            {
                return r.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"));
            }
        }
        panic!("WebDriver did not answer three times running:\n{script}");
    }

    /// Waits until `expr` (a JavaScript expression) is truthy.
    async fn wait_for(&self, expr: &str, seconds: u64) -> Value {
        if std::env::var_os("VITRINE_E2E_LOG").is_some() {
            eprintln!("e2e: waiting for {}", expr.lines().next().unwrap_or(""));
        }
        let started = Instant::now();
        loop {
            // A poll that gets no answer counts as "not yet".
            let v = tokio::time::timeout(
                Duration::from_secs(5),
                self.c.execute(&format!("return ({expr}) || null;"), vec![]),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(Value::Null);
            if !v.is_null() && v != Value::Bool(false) {
                return v;
            }
            if started.elapsed() > Duration::from_secs(seconds) {
                let page = tokio::time::timeout(
                    Duration::from_secs(5),
                    self.c
                        .execute("return document.body.innerText.slice(0, 1500);", vec![]),
                )
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(Value::Null);
                panic!("timed out after {seconds} s waiting for {expr}\npage text: {page}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn click(&self, css: &str) {
        let found = self
            .js(
                "const el = document.querySelector(arguments[0]); if (!el) return false; el.click(); return true;",
                vec![json!(css)],
            )
            .await;
        assert_eq!(found, json!(true), "no {css} to click");
    }

    /// Sets a text box's value as typing or pasting would, with an `input` event.
    async fn type_into(&self, css: &str, text: &str) {
        let found = self
            .js(
                "const el = document.querySelector(arguments[0]); if (!el) return false;
                 el.focus(); el.value = arguments[1]; el.dispatchEvent(new Event('input', {bubbles: true}));
                 return true;",
                vec![json!(css), json!(text)],
            )
            .await;
        assert_eq!(found, json!(true), "no {css} to type into");
    }

    /// Types a query and waits for the results of exactly that query.
    async fn search(&self, text: &str) -> Vec<Value> {
        self.type_into("#search-input", text).await;
        self.click("#search-go").await;
        self.wait_for("document.querySelector('#results').getAttribute('aria-busy') === 'false' && document.querySelector('#result-summary p')", 60).await;
        self.results().await
    }

    /// The shown results: sku, title, price, category leaf.
    async fn results(&self) -> Vec<Value> {
        let v = self
            .js(
                "return [...document.querySelectorAll('#results .result')].map(r => ({
                    sku: r.dataset.sku,
                    title: r.querySelector('.title').textContent,
                    price: r.querySelector('.price').textContent,
                    cat: r.querySelector('.cat').textContent }));",
                vec![],
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    async fn skus(&self) -> Vec<String> {
        self.results()
            .await
            .iter()
            .map(|r| r["sku"].as_str().unwrap().to_string())
            .collect()
    }

    async fn screenshot(&self, name: &str) {
        // WebKitWebDriver's screenshot never returns while the page is no taller than the
        // window; a page one pixel taller is photographed (the pixel is below the picture).
        self.js(
            "document.body.style.minHeight = 'calc(100vh + 1px)';",
            vec![],
        )
        .await;
        let png = tokio::time::timeout(Duration::from_secs(20), self.c.screenshot())
            .await
            .expect("a screenshot within 20 s")
            .expect("screenshot");
        self.js("document.body.style.minHeight = '';", vec![]).await;
        std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
    }

    /// At 1280×800 and on a 1920×1080 projector, with presentation mode off and on, no view is
    /// wider than the window (nothing to scroll sideways, no control cut off at the right).
    async fn fits_the_window(&self) {
        for (w, h) in [(1280u32, 800u32), (1920, 1080)] {
            self.c
                .set_window_size(w, h)
                .await
                .expect("the window resizes");
            for presenting in [false, true] {
                self.js(
                    "if (document.body.classList.contains('presenting') !== arguments[0]) \
                     document.querySelector('#present-toggle').click();",
                    vec![json!(presenting)],
                )
                .await;
                for view in ["search", "dupes", "quality", "import", "settings"] {
                    self.click(&format!("#nav-{view}")).await;
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    let over = self
                        .js(
                            "const W = document.documentElement.clientWidth; \
                             const cut = [...document.querySelectorAll('button, input, select, h2, .result, .group')] \
                               .filter(e => e.offsetParent !== null && e.getBoundingClientRect().right > W + 1) \
                               .map(e => e.id || e.className || e.tagName); \
                             return [window.innerWidth, document.documentElement.scrollWidth > W, cut.slice(0, 5)];",
                            vec![],
                        )
                        .await;
                    assert_eq!(
                        (&over[1], &over[2]),
                        (&json!(false), &json!([])),
                        "{view} at {w}×{h}, presenting {presenting}: {over}"
                    );
                }
            }
            if w == 1920 {
                self.click("#nav-search").await;
                self.screenshot("presentation-1920x1080").await;
            }
        }
        self.js(
            "if (document.body.classList.contains('presenting')) document.querySelector('#present-toggle').click();",
            vec![],
        )
        .await;
        self.c
            .set_window_size(1280, 820)
            .await
            .expect("the window resizes");
    }

    /// Opens every view in turn and checks that none of the text it shows (closed "Details"
    /// disclosures are not shown) contains a command-line flag, an environment variable, a
    /// command or the models folder's path.
    async fn walk_every_view(&self, models: &Path) {
        let models = models.to_str().unwrap();
        for view in ["search", "dupes", "quality", "import", "settings"] {
            self.click(&format!("#nav-{view}")).await;
            // Views load what they show when opened; give them that moment.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            self.wait_for("!document.body.classList.contains('busy')", 60)
                .await;
            let shown = self.js("return document.body.innerText;", vec![]).await;
            let shown = shown.as_str().unwrap();
            for bad in ["--", "VITRINE_", "vitrine ", models] {
                assert!(
                    !shown.contains(bad),
                    "the {view} view shows {bad:?}: {shown}"
                );
            }
        }
        self.click("#nav-search").await;
    }

    /// Leaves the app; it stops with its `Driver` (WebDriver's session close can hang on a
    /// Tauri window, so the driver's process group is stopped instead).
    async fn close(self) {
        drop(self.c);
    }
}

fn prepare_models(catalog: &Catalog) {
    vitrine::model_choice::add_model(catalog, &shared().join("fixtures/clip-tiny"), Some("tiny"))
        .unwrap();
    let models = vitrine::model_choice::registry(catalog, &models_dir()).unwrap();
    vitrine::model_choice::use_model(catalog, &models, "tiny").unwrap();
}

fn encoders(catalog: &Catalog) -> Encoders {
    let models = vitrine::model_choice::registry(catalog, &models_dir()).unwrap();
    Encoders::load(catalog, &models, DeviceChoice::Cpu).unwrap()
}

/// Extra test material: a product with a hostile title, and a re-encoded, resized copy of a
/// Luma photo as a second listing.
fn extras(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir.join("relisted")).unwrap();
    let csv = dir.join("hostile.csv");
    std::fs::write(
        &csv,
        format!("sku,name,price,category\nXSS-1,\"{XSS_TITLE}\",9.99,Gear/Bags\n"),
    )
    .unwrap();
    let src = image::open(luma().join("images/mb01-blue-0.jpg")).unwrap();
    src.resize(300, 300, image::imageops::FilterType::Triangle)
        .save(dir.join("relisted/joust-duffle-relisted.jpg"))
        .unwrap();
    vec![csv, dir.join("relisted")]
}

/// A Luma catalog (plus the extras) imported and embedded through the core API, shared by the
/// tests that do not test import itself.
fn ready_catalog() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cat_dir = dir.path().join("catalog");
        let mut catalog = Catalog::open(&cat_dir).unwrap();
        prepare_models(&catalog);
        let mut sources = vec![luma().join("products.csv"), luma().join("images")];
        sources.extend(extras(&dir.path().join("extras")));
        let opts = ImportOptions {
            sources,
            ..ImportOptions::default()
        };
        let never = AtomicBool::new(false);
        vitrine::import::run(&mut catalog, &opts, &|_| {}, &never).unwrap();
        let enc = encoders(&catalog);
        vitrine::embed::run(
            &mut catalog,
            &enc,
            &EmbedOptions::default(),
            &|_| {},
            &never,
        )
        .unwrap();
        vitrine::vectors::build_indexes(&catalog, &enc, false).unwrap();
        dir
    })
    .path()
}

fn catalog_dir() -> PathBuf {
    ready_catalog().join("catalog")
}

async fn import_through_the_ui_runs_to_the_end_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("catalog");
    prepare_models(&Catalog::open(&cat).unwrap());
    let driver = Driver::start();
    let app = driver.open(&cat).await;
    app.wait_for(
        "document.querySelector('#results .empty h2')?.textContent === 'Your catalog is empty'",
        10,
    )
    .await;
    app.click("#nav-import").await;
    let paths = format!(
        "{}\n{}",
        luma().join("products.csv").display(),
        luma().join("images").display()
    );
    // Paths pasted into the box (WebDriver cannot drive the native folder dialog).
    app.js(
        "const t = document.querySelector('#import-path'); t.value = arguments[0]; t.dispatchEvent(new Event('input'));",
        vec![json!(paths)],
    )
    .await;
    app.click("#import-start").await;
    // Progress shows while it runs: the bar moves and the status gives counts and a rate.
    let seen = app
        .wait_for(
            "(() => { const b = document.querySelector('#import-progress'); const s = document.querySelector('#import-status').textContent;
               return !b.hidden && b.value > 0 && b.value < b.max && / of /.test(s) ? s : null; })()",
            120,
        )
        .await;
    assert!(seen.as_str().unwrap().contains(" of "), "{seen}");
    app.screenshot("import").await;
    app.wait_for(
        "document.querySelector('#import-status').dataset.state",
        300,
    )
    .await;
    let end = app
        .js(
            "const b = document.querySelector('#import-progress');
             return {state: document.querySelector('#import-status').dataset.state,
                     status: document.querySelector('#import-status').textContent,
                     value: b.value, max: b.max,
                     report: document.querySelector('#import-report').textContent};",
            vec![],
        )
        .await;
    assert_eq!(end["state"], "done", "{end}");
    assert_eq!(end["value"], end["max"], "the bar reaches the end: {end}");
    assert!(
        end["report"]
            .as_str()
            .unwrap()
            .contains("196 products added"),
        "{end}"
    );
    // The catalog is searchable at once.
    app.click("#nav-search").await;
    let hits = app.search("backpack").await;
    assert!(!hits.is_empty());
    app.close().await;
}

async fn a_text_query_shows_matching_products() {
    let cat = catalog_dir();
    let driver = Driver::start();
    let app = driver.open(&cat).await;
    // Only the strong matches show at first: the catalog's four backpacks. The test catalog's
    // CLIP is the tiny fixture with random weights, whose text-to-photo signal is noise: its
    // titles do not find their photos, so it counts for next to nothing, and the page says so.
    let hits = app.search("backpack").await;
    app.screenshot("search").await;
    let note = app
        .js(
            "return document.querySelector('#agreement-note')?.textContent ?? '';",
            vec![],
        )
        .await;
    assert!(
        note.as_str().unwrap().contains("finds few of this catalog"),
        "{note}"
    );
    assert_eq!(hits.len(), 4, "{hits:?}");
    for h in &hits {
        assert_eq!(h["cat"], "Bags", "the strong matches are bags: {hits:?}");
    }
    let summary = app
        .js(
            "return document.querySelector('#result-summary').textContent;",
            vec![],
        )
        .await;
    assert!(
        summary.as_str().unwrap().contains("4 strong matches"),
        "{summary}"
    );
    // "Show weaker matches" adds the rest below a divider.
    app.click("#weaker").await;
    app.wait_for("document.querySelectorAll('#results .result').length > 4 && document.querySelector('#results .weaker-divider')", 20).await;
    // "More like this one" on a result adds a chip and searches again; its × undoes it.
    app.click("#results .result .feedback-more").await;
    app.wait_for("document.querySelector('.more-chip') && document.querySelector('#results').getAttribute('aria-busy') === 'false'", 20).await;
    app.click(".more-chip .chip-x").await;
    app.wait_for("!document.querySelector('.more-chip')", 20)
        .await;
    // Hovering shows the per-signal breakdown.
    let why = app
        .js(
            "return [...document.querySelectorAll('#results .result')[0].querySelectorAll('.why tr')].map(r => r.dataset.signal);",
            vec![],
        )
        .await;
    let why: Vec<&str> = why
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(why.contains(&"keyword") && why.contains(&"text"), "{why:?}");
    // A phrase read from the text shows as a chip; removing it takes it out of the text.
    app.search("hoodie without zip").await;
    app.wait_for("document.querySelector('.read-chip')", 20)
        .await;
    app.screenshot("search-chips").await;
    app.click(".read-chip .chip-x").await;
    app.wait_for("document.querySelector('#search-input').value === 'hoodie' && !document.querySelector('.read-chip')", 20).await;
    app.walk_every_view(&models_dir()).await;
    app.fits_the_window().await;
    app.close().await;
}

async fn the_keyword_slider_reorders_as_the_core_does() {
    let cat = catalog_dir();
    let query = "water bottle for the gym";
    let core_order = |w: Weights| {
        let catalog = Catalog::open(&cat).unwrap();
        let s = Searcher::open(&catalog, encoders(&catalog)).unwrap();
        let q = Query {
            text: query.into(),
            ..Query::default()
        };
        s.search(&q, &w, 24, 0)
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.sku)
            .collect::<Vec<_>>()
    };
    let default = core_order(Weights::default());
    let no_keywords = core_order(Weights {
        keyword: 0.0,
        ..Weights::default()
    });
    assert_ne!(
        default, no_keywords,
        "the keyword weight matters for this query"
    );

    let driver = Driver::start();
    let app = driver.open(&cat).await;
    app.search(query).await;
    // Every loaded result, the weaker ones too, to compare with the core's first 24.
    app.js(
        "const b = document.querySelector('#weaker'); if (b && b.getAttribute('aria-expanded') === 'false') b.click();",
        vec![],
    )
    .await;
    assert_eq!(app.skus().await, default);
    app.js(
        "const s = document.querySelector('#slider-keyword'); s.value = '0'; s.dispatchEvent(new Event('input'));",
        vec![],
    )
    .await;
    let want = serde_json::to_string(&no_keywords).unwrap();
    app.wait_for(
        &format!("JSON.stringify([...document.querySelectorAll('#results .result')].map(r => r.dataset.sku)) === {}", serde_json::to_string(&want).unwrap()),
        20,
    )
    .await;
    app.screenshot("sliders").await;
    assert_eq!(app.skus().await, no_keywords);
    // Reset brings the default order back.
    app.click("#sliders-reset").await;
    let want = serde_json::to_string(&default).unwrap();
    app.wait_for(
        &format!("JSON.stringify([...document.querySelectorAll('#results .result')].map(r => r.dataset.sku)) === {}", serde_json::to_string(&want).unwrap()),
        20,
    )
    .await;
    app.close().await;
}

async fn a_photo_query_through_the_file_input() {
    let cat = catalog_dir();
    let photo = luma().join("images/mh07-gray_main.jpg");
    let driver = Driver::start();
    let app = driver.open(&cat).await;
    // The file goes to the page's file input as a user's pick would.
    tokio::time::timeout(Duration::from_secs(30), async {
        let input = app.c.find(Locator::Css("#photo-input")).await.unwrap();
        input.send_keys(&photo.display().to_string()).await.unwrap();
    })
    .await
    .expect("WebDriver took the file within 30 s");
    app.wait_for("document.querySelector('.photo-chip') && document.querySelector('#results').getAttribute('aria-busy') === 'false' && document.querySelector('#results .result')", 60).await;
    app.screenshot("photo-query").await;
    let skus = app.skus().await;
    assert_eq!(skus.first().map(String::as_str), Some("MH07"), "{skus:?}");
    let signals = app
        .js(
            "return [...document.querySelectorAll('#results .result')[0].querySelectorAll('.why tr')].map(r => r.dataset.signal);",
            vec![],
        )
        .await;
    assert!(
        signals.as_array().unwrap().contains(&json!("visual")),
        "{signals}"
    );
    // Removing the chip removes the photo from the query.
    app.click(".photo-chip .chip-x").await;
    app.wait_for(
        "!document.querySelector('.photo-chip') && document.querySelector('#results .empty')",
        20,
    )
    .await;
    app.close().await;
}

async fn filters_exclude_what_they_should() {
    let cat = catalog_dir();
    let driver = Driver::start();
    let app = driver.open(&cat).await;
    let all = app.search("jacket").await;
    assert!(all.iter().any(|h| price_of(h) > 50.0), "{all:?}");
    app.type_into("#max-price", "50").await;
    app.js(
        "document.querySelector('#max-price').dispatchEvent(new Event('change'));",
        vec![],
    )
    .await;
    app.wait_for("document.querySelector('#results').getAttribute('aria-busy') === 'false' && [...document.querySelectorAll('#results .price')].every(p => parseFloat(p.textContent.replace(/,/g, '')) <= 50)", 30).await;
    let cheap = app.results().await;
    app.screenshot("filter").await;
    assert!(!cheap.is_empty());
    assert!(cheap.iter().all(|h| price_of(h) <= 50.0), "{cheap:?}");
    app.close().await;
}

fn price_of(h: &Value) -> f64 {
    h["price"]
        .as_str()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap_or(f64::NAN)
}

async fn catalog_text_is_shown_as_text_and_files_outside_the_catalog_are_refused() {
    let cat = catalog_dir();
    let outside = tempfile::tempdir().unwrap();
    let png = outside.path().join("outside.png");
    image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10]))
        .save(&png)
        .unwrap();
    let driver = Driver::start();
    let app = driver.open(&cat).await;
    let hits = app.search("onerror alert").await;
    app.screenshot("untrusted-text").await;
    assert!(hits.iter().any(|h| h["title"] == XSS_TITLE), "{hits:?}");
    let injected = app
        .js(
            "return document.querySelectorAll('img[src=\"x\"], img[onerror]').length;",
            vec![],
        )
        .await;
    assert_eq!(injected, json!(0));
    // The asset protocol serves the catalog's thumbnails and nothing else.
    let load = "const [path, done] = arguments; const img = new Image();
                img.onload = () => done('loaded'); img.onerror = () => done('refused');
                img.src = window.__TAURI_INTERNALS__.convertFileSrc(path, 'asset');";
    let thumb = Catalog::open(&cat).unwrap().thumbs_dir();
    let a_thumb = std::fs::read_dir(&thumb)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|e| e.path())
        .find(|p| p.is_file())
        .unwrap();
    let ok = app.js_async(load, vec![json!(a_thumb)]).await;
    assert_eq!(ok, json!("loaded"));
    let refused = app.js_async(load, vec![json!(png)]).await;
    assert_eq!(refused, json!("refused"));
    let db = app
        .js_async(load, vec![json!(cat.join("catalog.sqlite"))])
        .await;
    assert_eq!(db, json!("refused"));
    app.close().await;
}

async fn results_judged_right_or_wrong_are_measured_and_tuned_on() {
    let cat = catalog_dir();
    let driver = Driver::start();
    let app = driver.open(&cat).await;
    let pressed = |n: usize, class: &str| {
        format!(
            "return document.querySelectorAll('#results .result')[{n}].querySelector('.{class}').getAttribute('aria-pressed');"
        )
    };
    // Four searches, each with its first result marked right and its second wrong.
    let queries = ["backpack", "duffle", "hoodie", "watch"];
    for q in queries {
        let hits = app.search(q).await;
        assert!(hits.len() >= 2, "{q}: {hits:?}");
        app.click("#results .result .judge-right").await;
        app.wait_for(
            "document.querySelector('#results .result .judge-right').getAttribute('aria-pressed') === 'true'",
            20,
        )
        .await;
        app.js(
            "document.querySelectorAll('#results .result')[1].querySelector('.judge-wrong').click();",
            vec![],
        )
        .await;
        app.wait_for(
            "document.querySelectorAll('#results .result')[1].querySelector('.judge-wrong').getAttribute('aria-pressed') === 'true'",
            20,
        )
        .await;
    }
    // The marks come back from the catalog when the search is made again.
    app.search("backpack").await;
    assert_eq!(app.js(&pressed(0, "judge-right"), vec![]).await, "true");
    assert_eq!(app.js(&pressed(1, "judge-wrong"), vec![]).await, "true");
    assert_eq!(app.js(&pressed(0, "judge-wrong"), vec![]).await, "false");
    let marks = vitrine::judgements::list(&Catalog::open(&cat).unwrap(), None).unwrap();
    assert_eq!(marks.len(), 8, "{marks:?}");

    // The quality page measures on them, with the numbers the core gives.
    app.click("#nav-quality").await;
    app.wait_for(
        "document.querySelector('#quality-counts').textContent.includes('You judged 4 searches (4 with a result marked right): 4 right, 4 wrong')",
        20,
    )
    .await;
    app.click("#quality-measure").await;
    app.wait_for(
        "document.querySelector('#quality-report tr[data-config=\"fused\"]')",
        120,
    )
    .await;
    let shown = app
        .js(
            "return Object.fromEntries([...document.querySelectorAll('#quality-report tbody tr')].map(r => [r.dataset.config, r.querySelector('td').textContent]));",
            vec![],
        )
        .await;
    let expected = {
        let catalog = Catalog::open(&cat).unwrap();
        let searcher = Searcher::open(&catalog, encoders(&catalog)).unwrap();
        let queries = vitrine::judgements::as_queries(&marks);
        let weights = vitrine::tune::weights(&catalog).unwrap();
        vitrine::eval::evaluate(&searcher, &queries, &weights).unwrap()
    };
    assert_eq!(expected.queries, 4);
    for r in &expected.results {
        assert_eq!(
            shown[&r.config],
            format!("{:.3}", r.overall.metrics.ndcg_10),
            "{}: {shown}",
            r.config
        );
    }
    assert!(
        shown.get("keyword only").is_some() && shown.get("text only").is_some(),
        "{shown}"
    );
    // Each row's bar is as long as its nDCG@10 relative to the best row's.
    let bars = app
        .js(
            "return Object.fromEntries([...document.querySelectorAll('#quality-report tbody tr')].map(r => [r.dataset.config, r.querySelector('.quality-bar').offsetWidth / r.querySelector('.chart-col').clientWidth]));",
            vec![],
        )
        .await;
    let best = expected
        .results
        .iter()
        .map(|r| r.overall.metrics.ndcg_10)
        .fold(0.0, f64::max);
    for r in &expected.results {
        let share = bars[&r.config].as_f64().unwrap();
        let want = r.overall.metrics.ndcg_10 / best;
        assert!(
            (share - want).abs() < 0.1,
            "{}: bar {share}, nDCG share {want}",
            r.config
        );
    }
    // Tuning reports its held-out figures; whatever it found, "back to the defaults" returns
    // the catalog to the default weights.
    app.click("#quality-tune").await;
    app.wait_for("document.querySelector('#quality-tuned p:not(.hint)')", 300)
        .await;
    let tuned = app
        .js(
            "return document.querySelector('#quality-tuned').textContent;",
            vec![],
        )
        .await;
    assert!(
        tuned.as_str().unwrap().contains("nDCG@10 went from"),
        "{tuned}"
    );
    app.screenshot("quality").await;
    app.click("#quality-reset").await;
    app.wait_for(
        "document.querySelector('#quality-tuned').textContent.includes('default weights again')",
        30,
    )
    .await;
    let weights = vitrine::tune::weights(&Catalog::open(&cat).unwrap()).unwrap();
    assert_eq!(weights, Weights::default());
    app.close().await;
}

async fn a_duplicate_decision_survives_a_restart() {
    let cat = catalog_dir();
    let driver = Driver::start();
    let group = "[...document.querySelectorAll('.group')].find(g => g.querySelector('.member[data-sku=\"24-MB01\"]'))";
    let app = driver.open(&cat).await;
    app.click("#nav-dupes").await;
    app.wait_for(group, 60).await;
    let count = app
        .js(
            "return document.querySelector('#dupes-count').textContent;",
            vec![],
        )
        .await;
    assert!(count.as_str().unwrap().contains("group"), "{count}");
    // Stasis balls of 55, 65 and 75 cm share a photo: variants, never duplicates.
    let placed = app
        .js(
            "const m = s => [...document.querySelectorAll(`.member[data-sku=\"${s}\"]`)]; \
             return ['24-WG081', '24-WG082'].map(s => [m(s).filter(e => e.closest('#variants')).length, \
               m(s).filter(e => !e.closest('#variants')).length]);",
            vec![],
        )
        .await;
    assert_eq!(placed, json!([[1, 0], [1, 0]]), "{placed}");
    // All variants marked at once, undone, and marked again (this one survives the restart).
    app.click("#bulk-variants").await;
    app.wait_for("!document.querySelector('#variants')", 30)
        .await;
    app.wait_for("!document.querySelector('#dupes-undo').hidden", 10)
        .await;
    app.click("#dupes-undo").await;
    app.wait_for(
        "document.querySelector('#variants .member[data-sku=\"24-WG081\"]')",
        30,
    )
    .await;
    app.click("#bulk-variants").await;
    app.wait_for("!document.querySelector('#variants')", 30)
        .await;
    app.wait_for(group, 60).await;
    app.js(
        &format!("{group}.querySelector('.keep[data-sku=\"24-MB01\"]').click();"),
        vec![],
    )
    .await;
    app.wait_for(
        &format!("{group}?.dataset.decision === 'duplicate, keep 24-MB01'"),
        30,
    )
    .await;
    app.screenshot("duplicates").await;

    // Filters: decided groups only, then undecided only.
    let listed = |filter: &str| {
        format!(
            "(() => {{ const f = document.querySelector('#dupes-filter'); f.value = '{filter}'; \
             f.dispatchEvent(new Event('change')); \
             return [...document.querySelectorAll('#dupes-list .group:not(.variant-group)')].map(g => g.dataset.decision); }})()"
        )
    };
    let decided = app
        .js(&format!("return {};", listed("decided")), vec![])
        .await;
    let decided = decided.as_array().unwrap();
    assert!(
        decided.contains(&json!("duplicate, keep 24-MB01")),
        "{decided:?}"
    );
    assert!(decided.iter().all(|d| d != "undecided"), "{decided:?}");
    let undecided = app
        .js(&format!("return {};", listed("undecided")), vec![])
        .await;
    let undecided = undecided.as_array().unwrap().clone();
    assert!(
        !undecided.is_empty() && undecided.iter().all(|d| d == "undecided"),
        "{undecided:?}"
    );

    // Keyboard: J focuses the first group, X selects it, and a bulk action then decides only
    // that group, keeping its oldest listing; U undoes it.
    let key = |k: &str| {
        format!(
            "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {{key: '{k}', bubbles: true}}));"
        )
    };
    app.js(
        "document.querySelector('#search-input').blur(); document.body.focus();",
        vec![],
    )
    .await;
    app.js(&key("j"), vec![]).await;
    let first = app
        .js("return document.activeElement.classList.contains('group') ? [...document.activeElement.querySelectorAll('.member')].map(m => m.dataset.sku) : null;", vec![])
        .await;
    let skus: Vec<String> = serde_json::from_value(first.clone()).expect("J focuses a group");
    app.js(&key("x"), vec![]).await;
    app.wait_for(
        "document.querySelector('#bulk-target')?.textContent === 'For the 1 selected group:'",
        10,
    )
    .await;
    app.click("#bulk-oldest").await;
    let oldest = {
        let catalog = Catalog::open(&cat).unwrap();
        skus.iter()
            .min_by_key(|s| catalog.product(s).unwrap().id)
            .unwrap()
            .clone()
    };
    let want = format!("duplicate, keep {oldest}");
    app.wait_for(&format!("{}.includes('{want}')", listed("all")), 30)
        .await;
    let still = app
        .js(&format!("return {};", listed("undecided")), vec![])
        .await;
    assert_eq!(
        still.as_array().unwrap().len(),
        undecided.len() - 1,
        "only the selected group was decided"
    );
    app.js("document.body.focus();", vec![]).await;
    app.js(&key("u"), vec![]).await;
    app.wait_for(
        &format!("{}.length === {}", listed("undecided"), undecided.len()),
        30,
    )
    .await;

    // Compare: two listings side by side, their photos themselves (not thumbnails), differences
    // marked.
    app.js(&format!("{}; return true;", listed("all")), vec![])
        .await;
    app.js(
        &format!("{group}.querySelector('.compare-open').click();"),
        vec![],
    )
    .await;
    app.wait_for("!document.querySelector('#compare').hidden && document.querySelectorAll('#compare .compare-side').length === 2", 20)
        .await;
    app.wait_for("[...document.querySelectorAll('#compare .compare-photo')].every(i => i.complete && i.naturalWidth > 0 && !decodeURIComponent(i.src).includes('/thumbs/'))", 20)
        .await;
    let marked = app
        .js("return [...document.querySelectorAll('#compare tr[data-field=\"sku\"] mark')].map(m => m.textContent);", vec![])
        .await;
    assert_eq!(
        marked.as_array().unwrap().len(),
        2,
        "each SKU is marked as differing: {marked}"
    );
    app.screenshot("duplicates-compare").await;
    app.js(
        "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));",
        vec![],
    )
    .await;
    app.wait_for("document.querySelector('#compare').hidden", 10)
        .await;
    app.close().await;
    // A restart: the app, its web view and the drivers stop; a new app opens the catalog.
    drop(driver);
    let driver = Driver::start();
    let app = driver.open(&cat).await;
    app.click("#nav-dupes").await;
    app.wait_for(group, 60).await;
    let decision = app
        .js(&format!("return {group}.dataset.decision;"), vec![])
        .await;
    app.screenshot("duplicates-after-restart").await;
    assert_eq!(decision, json!("duplicate, keep 24-MB01"));
    let variants_left = app
        .js(
            "return document.querySelectorAll('#variants .group').length;",
            vec![],
        )
        .await;
    assert_eq!(
        variants_left,
        json!(0),
        "the bulk variants decision survived"
    );
    app.close().await;
}

/// A hub on 127.0.0.1 serving the default CLIP's real configuration, tokenizer and
/// preprocessing at its pinned revision; each scenario adds the weights it needs.
fn clip_hub() -> (hub::TestHub, &'static str, &'static str) {
    let hub = hub::TestHub::start();
    let (repo, rev) = (
        "openai/clip-vit-base-patch32",
        "e6a30b603a447e251fdaca1c3056b2a16cdfebeb",
    );
    let real = shared().join("models/clip-vit-base-patch32");
    for f in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        hub.put(repo, rev, f, std::fs::read(real.join(f)).unwrap());
    }
    (hub, repo, rev)
}

/// A download that arrives whole but cannot be loaded (the real configuration with a tiny
/// model's weights): one plain sentence, the technical reason only behind "Details", and the
/// photo signals stay off.
async fn a_downloaded_model_that_does_not_load_is_said_plainly() {
    let (hub, repo, rev) = clip_hub();
    let weights = std::fs::read(shared().join("fixtures/clip-tiny/model.safetensors")).unwrap();
    hub.put(repo, rev, "model.safetensors", weights);
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let cat = dir.path().join("catalog");
    drop(Catalog::open(&cat).unwrap());
    let driver = Driver::start_with(&[("HF_ENDPOINT", hub.url.as_str())]);
    let app = driver.open_with(&cat, &models).await;
    let notice =
        "document.querySelector('#sliders .model-notice[data-model=\"clip-vit-base-patch32\"]')";
    app.wait_for(notice, 30).await;
    app.js(
        &format!("{notice}.querySelector('.download-model').click();"),
        vec![],
    )
    .await;
    let said = app
        .wait_for(
            "(() => { const t = document.querySelector('#toast'); return !t.hidden && t.textContent.includes('could not be loaded') ? t.textContent : null; })()",
            120,
        )
        .await;
    assert_eq!(
        said,
        "The model was downloaded but could not be loaded; “Details” says why."
    );
    // The sidebar now says the photo search is off because the model could not be loaded, with
    // the reason behind "Details".
    app.wait_for(
        &format!("{notice}?.dataset.code === 'model_broken' && {notice}.querySelector('details')"),
        30,
    )
    .await;
    assert_eq!(
        app.js(
            &format!("return {notice}.querySelector('p').textContent;"),
            vec![]
        )
        .await,
        "Searching by photo is off because the visual model could not be loaded."
    );
    app.walk_every_view(&models).await;
    app.close().await;
}

/// First run on a catalog of a few photos with no model on the computer: "Download the visual
/// model" in the sidebar fetches it (the real ViT-B/32 configuration with random weights of the
/// real size, 605 MB, from a hub on 127.0.0.1), the photos are embedded in the same job, and
/// photo search turns on by itself.
async fn first_run_downloads_the_visual_model_and_photo_search_turns_on() {
    let (hub, repo, rev) = clip_hub();
    let real = shared().join("models/clip-vit-base-patch32");
    let dir = tempfile::tempdir().unwrap();
    {
        use vitrine::encoders::clip::RandomWeights;
        use vitrine::encoders::{ClipEncoder, Precision};
        let weights = RandomWeights::new();
        ClipEncoder::with_random_weights(&real, &weights, Precision::F32).unwrap();
        let file = dir.path().join("random.safetensors");
        weights.save(&file).unwrap();
        hub.put(
            repo,
            rev,
            "model.safetensors",
            std::fs::read(&file).unwrap(),
        );
        std::fs::remove_file(&file).unwrap();
    }
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for f in [
        "mh07-gray_main.jpg",
        "mb01-blue-0.jpg",
        "wt09-white_main.jpg",
    ] {
        std::fs::copy(luma().join("images").join(f), photos.join(f)).unwrap();
    }
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let cat = dir.path().join("catalog");
    {
        let mut catalog = Catalog::open(&cat).unwrap();
        let opts = ImportOptions {
            sources: vec![photos.clone()],
            ..ImportOptions::default()
        };
        vitrine::import::run(&mut catalog, &opts, &|_| {}, &AtomicBool::new(false)).unwrap();
    }

    let driver = Driver::start_with(&[("HF_ENDPOINT", hub.url.as_str())]);
    let app = driver.open_with(&cat, &models).await;
    let notice =
        "document.querySelector('#sliders .model-notice[data-model=\"clip-vit-base-patch32\"]')";
    app.wait_for(notice, 30).await;
    assert_eq!(
        app.js(
            "return document.querySelector('#slider-visual').disabled;",
            vec![]
        )
        .await,
        json!(true)
    );
    // Every toast is kept, so that a failed job says why.
    app.js(
        "window.__toasts = []; const t = document.querySelector('#toast'); \
         new MutationObserver(() => window.__toasts.push((t.classList.contains('error') ? 'error: ' : '') + t.textContent)).observe(t, {childList: true, characterData: true, subtree: true});",
        vec![],
    )
    .await;
    app.js(
        &format!("{notice}.querySelector('.download-model').click();"),
        vec![],
    )
    .await;
    // The job runs to its end: downloaded, then the photos embedded; the notice goes and the
    // photo signals turn on.
    let end = app
        .wait_for(
            &format!(
                "(!{notice} && !document.querySelector('#slider-visual').disabled) ? 'on' : \
                 (window.__toasts.find(t => /^error: |paused/.test(t)) ?? null)"
            ),
            600,
        )
        .await;
    assert_eq!(
        end, "on",
        "the download job ended without turning photo search on"
    );
    let stats = Catalog::open(&cat).unwrap().stats().unwrap();
    let embedded = stats
        .embeddings
        .iter()
        .find(|(model, kind, _)| model == "clip-vit-base-patch32" && kind == "image")
        .map_or(0, |e| e.2);
    assert_eq!(embedded, 3, "{stats:?}");
    // A photo query now finds its product by photo similarity.
    tokio::time::timeout(Duration::from_secs(30), async {
        let input = app.c.find(Locator::Css("#photo-input")).await.unwrap();
        input
            .send_keys(&photos.join("mb01-blue-0.jpg").display().to_string())
            .await
            .unwrap();
    })
    .await
    .expect("WebDriver took the file within 30 s");
    app.wait_for("document.querySelector('.photo-chip') && document.querySelector('#results').getAttribute('aria-busy') === 'false' && document.querySelector('#results .result')", 60).await;
    let first = app
        .js(
            "const r = document.querySelector('#results .result'); return [r.dataset.sku, [...r.querySelectorAll('.why tr')].map(t => t.dataset.signal)];",
            vec![],
        )
        .await;
    assert_eq!(first[0], "mb01-blue-0.jpg", "{first}");
    assert!(
        first[1].as_array().unwrap().contains(&json!("visual")),
        "{first}"
    );
    app.screenshot("first-run-photo-search").await;
    app.close().await;
}

/// The default CLIP from a hub on 127.0.0.1 (`HF_ENDPOINT`), in a first-run catalog: a damaged
/// file is refused, a cancelled download resumes, and progress shows along the way.
async fn a_model_downloads_from_settings_with_progress_cancel_and_a_damaged_file_refused() {
    let (hub, repo, rev) = clip_hub();
    let real = shared().join("models/clip-vit-base-patch32");
    // The weights are not pinned by a checksum; 14 MB of the tiny CLIP's stand in for them.
    let weights = std::fs::read(shared().join("fixtures/clip-tiny/model.safetensors")).unwrap();
    hub.put(repo, rev, "model.safetensors", weights.clone());
    // First try: the server stalls mid-file long enough to press Cancel.
    hub.fault(
        "model.safetensors",
        hub::Fault::Stall(Duration::from_secs(20)),
    );
    // Second try: the weights resume, then a configuration file arrives with a wrong byte.
    hub.fault("config.json", hub::Fault::FlipByte(10));

    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let cat = dir.path().join("catalog");
    let catalog = Catalog::open(&cat).unwrap();

    // First run, no model on this computer: one sentence per missing model, a download
    // button with its size, and nothing technical outside "Details".
    let driver = Driver::start_with(&[("HF_ENDPOINT", hub.url.as_str())]);
    let app = driver.open_with(&cat, &models).await;
    let notices = app
        .wait_for(
            "(() => { const n = [...document.querySelectorAll('#sliders .model-notice')]; \
             return n.length ? n.map(e => [e.dataset.model, e.querySelector('p').textContent, \
               e.querySelector('.download-model')?.textContent ?? '', \
               document.querySelector('#sliders').innerText]) : null; })()",
            30,
        )
        .await;
    let notices = notices.as_array().unwrap();
    assert_eq!(
        notices.len(),
        2,
        "one notice per missing model: {notices:?}"
    );
    let visual = notices
        .iter()
        .find(|n| n[0] == "clip-vit-base-patch32")
        .expect("a notice for the visual model");
    assert_eq!(
        visual[1],
        "Searching by photo needs the visual model, which is not on this computer yet."
    );
    assert_eq!(visual[2], "Download the visual model (about 605 MB)");
    let shown = visual[3].as_str().unwrap();
    for bad in ["--", "VITRINE_", models.to_str().unwrap(), "vitrine models"] {
        assert!(!shown.contains(bad), "the sidebar shows {bad:?}: {shown}");
    }
    app.screenshot("first-run").await;
    app.walk_every_view(&models).await;
    app.close().await;
    drop(driver);

    // The catalog uses a small local CLIP, so that the downloaded one (14 MB of stand-in
    // weights) is not loaded.
    vitrine::model_choice::add_model(&catalog, &shared().join("fixtures/clip-tiny"), Some("tiny"))
        .unwrap();
    let registry = vitrine::model_choice::registry(&catalog, &models).unwrap();
    vitrine::model_choice::use_model(&catalog, &registry, "tiny").unwrap();
    drop(catalog);
    let driver = Driver::start_with(&[("HF_ENDPOINT", hub.url.as_str())]);
    let app = driver.open_with(&cat, &models).await;
    app.click("#nav-settings").await;
    let row = "document.querySelector('[data-model=\"clip-vit-base-patch32\"]')";
    let download = format!("{row}?.querySelector('button')");
    app.wait_for(
        &format!("{download}?.textContent === 'Download (about 605 MB)'"),
        30,
    )
    .await;
    // Each model says its size, licence, languages and what it is good at.
    let rows = app
        .js(
            "return ['siglip2-base-patch16-224', 'marqo-ecommerce-b'].map(id => \
             document.querySelector(`#models-list [data-model=\"${id}\"]`)?.innerText ?? '');",
            vec![],
        )
        .await;
    let rows: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for (row, says) in rows.iter().zip([
        [
            "about 1,500 MB",
            "Apache-2.0",
            "Many languages",
            "own language",
        ],
        ["about 820 MB", "Apache-2.0", "English", "Product search"],
    ]) {
        for s in says {
            assert!(row.contains(s), "{s:?} in {row:?}");
        }
    }
    app.js(
        "window.__seen = []; const s = document.querySelector('#models-status'); \
         new MutationObserver(() => window.__seen.push(s.textContent)).observe(s, {childList: true, characterData: true, subtree: true});",
        vec![],
    )
    .await;
    let status = "document.querySelector('#models-status')";

    app.js(&format!("{download}.click();"), vec![]).await;
    app.wait_for("!document.querySelector('#models-cancel').hidden", 30)
        .await;
    app.wait_for(
        &format!("{status}.textContent.startsWith('Downloading model.safetensors')"),
        30,
    )
    .await;
    app.click("#models-cancel").await;
    app.wait_for(&format!("{status}.dataset.state === 'cancelled'"), 30)
        .await;
    let target = models.join("clip-vit-base-patch32/model.safetensors");
    assert!(!target.exists(), "a cancelled file is not installed");

    app.wait_for(
        &format!("{download}?.textContent.startsWith('Download')"),
        30,
    )
    .await;
    app.js(&format!("{download}.click();"), vec![]).await;
    app.wait_for(&format!("{status}.dataset.state === 'error'"), 60)
        .await;
    let said = app
        .js(&format!("return {status}.textContent;"), vec![])
        .await;
    let said = said.as_str().unwrap();
    assert!(
        said.contains("config.json") && said.contains("damaged") && !said.contains("--"),
        "{said}"
    );
    assert!(
        hub.requests_for("model.safetensors")
            .last()
            .unwrap()
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "the weights resumed: {:?}",
        hub.requests_for("model.safetensors")
    );
    assert_eq!(std::fs::read(&target).unwrap(), weights);
    assert!(!models.join("clip-vit-base-patch32/config.json").exists());

    app.wait_for(
        &format!("{download}?.textContent.startsWith('Download')"),
        30,
    )
    .await;
    app.js(&format!("{download}.click();"), vec![]).await;
    app.wait_for(&format!("{status}.dataset.state === 'done'"), 60)
        .await;
    app.wait_for(
        &format!("!{row}.textContent.includes('Not downloaded')"),
        30,
    )
    .await;
    let seen = app.js("return window.__seen;", vec![]).await;
    let progress = seen
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t.as_str()
                .is_some_and(|t| t.contains(" of ") && t.contains("MB"))
        })
        .count();
    assert!(progress >= 2, "progress was shown: {seen}");
    app.screenshot("model-downloaded").await;
    app.walk_every_view(&models).await;
    for f in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        assert_eq!(
            std::fs::read(models.join("clip-vit-base-patch32").join(f)).unwrap(),
            std::fs::read(real.join(f)).unwrap()
        );
    }
    app.close().await;
}
