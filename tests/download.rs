//! Model downloads against a hub on 127.0.0.1 serving the tiny CLIP fixture in the hub's layout:
//! progress, checksums, resume, restart, server errors, stalls, cancel, and that nothing
//! half-downloaded is ever loaded.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::hub::{Fault, TestHub};
use common::shared;
use vitrine::ErrorCode;
use vitrine::download::{Hub, part_path};
use vitrine::encoders::DeviceChoice;
use vitrine::models::{Manifest, ManifestFile, ModelKind, Models, sha256_file};

const REPO: &str = "test-org/clip-tiny";
const FILES: [&str; 4] = [
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "preprocessor_config.json",
];
const WEIGHTS: &str = "model.safetensors";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(shared().join("fixtures/clip-tiny").join(name)).unwrap()
}

/// A hub serving the tiny CLIP, and a registry (in `dir`) that downloads from it.
fn setup(dir: &Path) -> (TestHub, Models, Manifest) {
    let hub = TestHub::start();
    for f in FILES {
        hub.put(REPO, "main", f, fixture(f));
    }
    let manifest = Manifest {
        id: "clip-tiny-test".into(),
        display_name: "tiny CLIP (test)".into(),
        kind: ModelKind::Clip,
        hf_repo: REPO.into(),
        revision: "main".into(),
        folder: "clip-tiny".into(),
        path: None,
        architecture: "CLIPModel".into(),
        embedding_dim: 64,
        download_mb: Some(14),
        licence: "MIT".into(),
        default: false,
        multilingual: false,
        languages: "English".into(),
        good_at: String::new(),
        files: FILES
            .iter()
            .map(|f| ManifestFile {
                name: f.to_string(),
                sha256: Some(sha256_file(&shared().join("fixtures/clip-tiny").join(f)).unwrap()),
            })
            .collect(),
        notes: String::new(),
    };
    let models = Models::new(dir, vec![manifest.clone()]).with_hub(
        Hub::default()
            .with_endpoint(&hub.url)
            .with_read_timeout(Duration::from_millis(700)),
    );
    (hub, models, manifest)
}

fn weights_path(models: &Models, m: &Manifest) -> std::path::PathBuf {
    models.folder(m).join(WEIGHTS)
}

/// Downloads, recording every progress call as (file, done, total).
fn download(models: &Models, m: &Manifest) -> (vitrine::Result<()>, Vec<(String, u64, u64)>) {
    let mut seen = Vec::new();
    let r = models
        .download(
            m,
            &mut |f, d, t| seen.push((f.to_string(), d, t)),
            &AtomicBool::new(false),
        )
        .map(|_| ());
    (r, seen)
}

fn assert_not_loadable(models: &Models, m: &Manifest) {
    let Err(e) = models.load_clip(m, DeviceChoice::Cpu) else {
        panic!("a half-downloaded model loaded");
    };
    assert_eq!(e.code(), ErrorCode::ModelMissing, "{e}");
}

#[test]
fn a_model_downloads_from_the_hub_layout_with_progress_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup(dir.path());
    assert!(!models.is_present(&m));
    let (r, seen) = download(&models, &m);
    r.unwrap();
    for f in FILES {
        assert_eq!(
            std::fs::read(models.folder(&m).join(f)).unwrap(),
            fixture(f)
        );
        let calls: Vec<_> = seen.iter().filter(|(n, _, _)| n == f).collect();
        let size = fixture(f).len() as u64;
        assert!(
            calls.windows(2).all(|w| w[0].1 <= w[1].1),
            "{f}: progress went back"
        );
        assert_eq!(calls.last().map(|c| (c.1, c.2)), Some((size, size)), "{f}");
    }
    assert!(
        seen.iter().filter(|(n, _, _)| n == WEIGHTS).count() > 3,
        "the 14 MB file reported progress along the way"
    );
    assert!(
        hub.paths()
            .contains(&format!("/{REPO}/resolve/main/{WEIGHTS}")),
        "{:?}",
        hub.paths()
    );
    assert!(models.verify(&m).unwrap().iter().all(|c| !c.is_bad()));
    models.load_clip(&m, DeviceChoice::Cpu).unwrap();

    // A second download finds every file there and checked, and fetches nothing.
    let before = hub.paths().len();
    download(&models, &m).0.unwrap();
    assert_eq!(hub.paths().len(), before);
}

#[test]
fn a_wrong_byte_is_refused_and_the_partial_file_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup(dir.path());
    hub.fault(WEIGHTS, Fault::FlipByte(1_000_000));
    let (r, _) = download(&models, &m);
    let e = r.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Download);
    let msg = e.to_string();
    assert!(
        msg.contains("damaged") && msg.contains("nothing was installed"),
        "{msg}"
    );
    let target = weights_path(&models, &m);
    assert!(!target.exists() && !part_path(&target).exists());
    assert_not_loadable(&models, &m);

    // The next try fetches it whole and right.
    download(&models, &m).0.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), fixture(WEIGHTS));
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup(dir.path());
    let cut = 5_000_000;
    hub.fault(WEIGHTS, Fault::CutAfter(cut));
    let (r, _) = download(&models, &m);
    let e = r.unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.code(), ErrorCode::Download, "{msg}");
    assert!(
        msg.contains("stopped after 5.0 MB of 14.0 MB") && msg.contains("resume"),
        "{msg}"
    );
    let target = weights_path(&models, &m);
    assert!(!target.exists());
    assert_eq!(
        std::fs::metadata(part_path(&target)).unwrap().len(),
        cut as u64
    );
    assert_not_loadable(&models, &m);

    let (r, seen) = download(&models, &m);
    r.unwrap();
    assert_eq!(
        hub.requests_for(WEIGHTS).last().unwrap().as_deref(),
        Some(format!("bytes={cut}-").as_str()),
        "the second try asks only for the rest"
    );
    let first = seen.iter().find(|(n, _, _)| n == WEIGHTS).unwrap();
    assert_eq!(first.1, cut as u64, "progress starts at what was kept");
    assert_eq!(std::fs::read(&target).unwrap(), fixture(WEIGHTS));
    assert!(!part_path(&target).exists());
    models.load_clip(&m, DeviceChoice::Cpu).unwrap();
}

#[test]
fn a_server_that_ignores_range_restarts_the_file_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup(dir.path());
    hub.fault(WEIGHTS, Fault::CutAfter(3_000_000));
    hub.fault(WEIGHTS, Fault::NoRange);
    assert!(download(&models, &m).0.is_err());
    download(&models, &m).0.unwrap();
    assert_eq!(
        std::fs::read(weights_path(&models, &m)).unwrap(),
        fixture(WEIGHTS)
    );
}

#[test]
fn a_range_other_than_the_one_asked_for_is_refused_and_the_next_try_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup(dir.path());
    hub.fault(WEIGHTS, Fault::CutAfter(4_000_000));
    hub.fault(WEIGHTS, Fault::OtherRange);
    assert!(download(&models, &m).0.is_err());
    let e = download(&models, &m).0.unwrap_err();
    assert!(e.to_string().contains("another part"), "{e}");
    let target = weights_path(&models, &m);
    assert!(!part_path(&target).exists() && !target.exists());
    download(&models, &m).0.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), fixture(WEIGHTS));
}

#[test]
fn server_errors_stalls_and_no_server_give_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup(dir.path());

    hub.fault(WEIGHTS, Fault::Status(503));
    let e = download(&models, &m).0.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Download);
    assert!(e.to_string().contains("answered 503"), "{e}");
    assert_not_loadable(&models, &m);

    hub.fault(WEIGHTS, Fault::Stall(Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let e = download(&models, &m).0.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "gave up on the stall"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("sent nothing for") && msg.contains("resume"),
        "{msg}"
    );
    assert_not_loadable(&models, &m);

    // A file the hub does not have.
    let gone = Manifest {
        revision: "v9".into(),
        ..m.clone()
    };
    let e = download(&models, &gone).0.unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");

    // Nobody listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let offline = Models::new(dir.path(), vec![m.clone()])
        .with_hub(Hub::default().with_endpoint(format!("http://127.0.0.1:{port}")));
    let e = download(&offline, &m).0.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Download);
    assert!(e.to_string().contains("cannot reach"), "{e}");

    // After all that, one clean try completes.
    download(&models, &m).0.unwrap();
    models.load_clip(&m, DeviceChoice::Cpu).unwrap();
}

#[test]
fn a_cancelled_download_stops_and_keeps_its_part_for_later() {
    let dir = tempfile::tempdir().unwrap();
    let (_hub, models, m) = setup(dir.path());
    let cancel = AtomicBool::new(false);
    let r = models.download(
        &m,
        &mut |f, done, _| {
            if f == WEIGHTS && done > 1_000_000 {
                cancel.store(true, Ordering::Relaxed);
            }
        },
        &cancel,
    );
    let e = r.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Cancelled, "{e}");
    let target = weights_path(&models, &m);
    assert!(!target.exists() && part_path(&target).exists());
    assert_not_loadable(&models, &m);
    download(&models, &m).0.unwrap();
    models.load_clip(&m, DeviceChoice::Cpu).unwrap();
}

/// `setup` with the hub's read timeout (the silence a download waits out) set to `limit`.
fn setup_waiting(dir: &Path, limit: Duration) -> (TestHub, Models, Manifest) {
    let (hub, models, m) = setup(dir);
    let models = models.with_hub(
        Hub::default()
            .with_endpoint(&hub.url)
            .with_read_timeout(limit),
    );
    (hub, models, m)
}

/// Downloads `m`, cancelling after 0.8 s; the download must stop as cancelled within 3 s.
fn assert_cancel_is_seen_quickly(models: &Models, m: &Manifest) {
    let cancel = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let e = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(800));
            cancel.store(true, Ordering::Relaxed);
        });
        models.download(m, &mut |_, _, _| {}, &cancel).unwrap_err()
    });
    assert_eq!(e.code(), ErrorCode::Cancelled, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn cancel_is_seen_quickly_even_while_the_server_is_silent() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup_waiting(dir.path(), Duration::from_secs(60));
    hub.fault(WEIGHTS, Fault::Stall(Duration::from_secs(30)));
    assert_cancel_is_seen_quickly(&models, &m);
    // What arrived before the stall is kept for the next try.
    assert!(part_path(&weights_path(&models, &m)).exists());
}

#[test]
fn a_server_slow_to_answer_is_asked_once_and_a_cancel_is_seen_while_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup_waiting(dir.path(), Duration::from_secs(10));
    // A first byte after 2 s (a slow link, a busy mirror) is waited for, not asked again.
    hub.fault(WEIGHTS, Fault::SlowAnswer(Duration::from_secs(2)));
    download(&models, &m).0.unwrap();
    assert_eq!(
        hub.requests_for(WEIGHTS).len(),
        1,
        "{:?}",
        hub.requests_for(WEIGHTS)
    );
    models.load_clip(&m, DeviceChoice::Cpu).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (hub, models, m) = setup_waiting(dir.path(), Duration::from_secs(60));
    hub.fault(WEIGHTS, Fault::SlowAnswer(Duration::from_secs(30)));
    assert_cancel_is_seen_quickly(&models, &m);
}
