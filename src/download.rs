//! Fetching model files from the Hugging Face hub (or a mirror with the hub's layout):
//! resumable, checked against their checksum before they are installed, with timeouts and
//! cancel.
//!
//! Written over `ureq` rather than `hf-hub`'s client: `hf-hub` 0.4 has no read timeout (a stalled
//! server hangs the download forever), no way to cancel a file mid-way, and keeps a second copy of
//! every file in its own cache. The URL layout and `HF_ENDPOINT`/`HF_TOKEN` follow the hub's.

use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where model files come from, and how long to wait for them.
#[derive(Debug, Clone)]
pub struct Hub {
    endpoint: String,
    token: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            endpoint: DEFAULT_ENDPOINT.into(),
            token: None,
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// One file to fetch.
pub struct Fetch<'a> {
    pub repo: &'a str,
    pub revision: &'a str,
    pub name: &'a str,
    /// The published sha256; the file is refused (and deleted) when it differs.
    pub sha256: Option<&'a str>,
}

impl Hub {
    /// The hub, or the mirror `HF_ENDPOINT` names (the hub's own convention); `HF_TOKEN` for
    /// gated repositories.
    pub fn from_env() -> Hub {
        let mut hub = Hub::default();
        if let Ok(e) = std::env::var("HF_ENDPOINT")
            && !e.trim().is_empty()
        {
            hub.endpoint = e.trim().trim_end_matches('/').to_string();
        }
        hub.token = std::env::var("HF_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        hub
    }

    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Hub {
        self.endpoint = endpoint.into().trim_end_matches('/').to_string();
        self
    }

    /// How long the server may send nothing before the download is given up (it resumes on the
    /// next try).
    pub fn with_read_timeout(mut self, d: Duration) -> Hub {
        self.read_timeout = d;
        self
    }

    pub fn url(&self, f: &Fetch) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint, f.repo, f.revision, f.name
        )
    }

    /// Downloads `f` to `target`, through `target`'s `.part` file: an earlier, interrupted
    /// download of it resumes where it stopped. The file appears at `target` only complete and
    /// checked. Returns its sha256. `progress(done, total)`; `cancel` stops it (the part is kept).
    pub fn fetch(
        &self,
        f: &Fetch,
        target: &Path,
        progress: &mut dyn FnMut(u64, u64),
        cancel: &AtomicBool,
    ) -> Result<String> {
        let part = part_path(target);
        let url = self.url(f);
        // One worker thread asks once and reads the answer, each read waiting up to
        // `read_timeout`; this thread takes its pieces, waiting at most `poll` for each, so a
        // cancel is seen within `poll` even while the server is silent.
        let poll = self.read_timeout.min(Duration::from_millis(500));
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(self.connect_timeout)
            .timeout_read(self.read_timeout)
            .try_proxy_from_env(true)
            .build();
        let cancelled = |done: u64, total: u64| {
            Error::Cancelled(format!(
                "the download of {} was cancelled after {}; it resumes from there next time",
                f.name,
                so_far(done, total)
            ))
        };
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        let mut req = agent.get(&url);
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if have > 0 {
            req = req.set("Range", &format!("bytes={have}-"));
        }
        let pieces = ask(req);
        let head = loop {
            match pieces.recv_timeout(poll) {
                Ok(Piece::Head(h)) => break Ok(h),
                Ok(Piece::Refused(code, text)) => break Err(Some((code, text))),
                Ok(Piece::Failed(e)) => {
                    return Err(Error::Download(format!(
                        "cannot reach {} to download {} of {}: {e}. Check the internet connection",
                        self.endpoint, f.name, f.repo
                    )));
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => break Err(None),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(cancelled(have, 0));
                    }
                }
            }
        };
        let resp = match head {
            Ok(h) => h,
            // The part is already whole (or longer than the file): start again.
            Err(Some((416, _))) if have > 0 => {
                remove(&part)?;
                return self.fetch(f, target, progress, cancel);
            }
            Err(Some((code, text))) => {
                return Err(Error::Download(match code {
                    401 | 403 => format!(
                        "{} refused access to {} of {} ({code}); the repository may be gated or private",
                        self.endpoint, f.name, f.repo
                    ),
                    404 => format!(
                        "{} has no file {} in {} at revision {} (404)",
                        self.endpoint, f.name, f.repo, f.revision
                    ),
                    _ => format!(
                        "the model server {} answered {code} {text} for {} of {}; try again later",
                        self.endpoint, f.name, f.repo
                    ),
                }));
            }
            Err(None) => {
                return Err(Error::Download(format!(
                    "the connection to {} broke before it answered for {}; run the download again",
                    self.endpoint, f.name
                )));
            }
        };
        // 206: the server continues the part; anything else sends the whole file.
        let resuming = have > 0
            && resp.status == 206
            && resp
                .content_range
                .as_deref()
                .and_then(|c| c.strip_prefix("bytes "))
                .and_then(|c| c.split('-').next())
                .and_then(|s| s.parse::<u64>().ok())
                == Some(have);
        if resp.status == 206 && !resuming {
            // Part of the file, but not the part that was asked for: start over next time.
            remove(&part)?;
            return Err(Error::Download(format!(
                "{} sent another part of {} than the one asked for; run the download again",
                self.endpoint, f.name
            )));
        }
        let start = if resuming { have } else { 0 };
        let length = resp.content_length;
        let total = length.map_or(0, |l| start + l);

        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&part)
            .map_err(|e| Error::io(&part, e))?;
        let mut hasher = Sha256::new();
        if resuming {
            // The kept bytes count in the checksum.
            let mut kept = (&mut file).take(have);
            std::io::copy(&mut kept, &mut hasher).map_err(|e| Error::io(&part, e))?;
        } else {
            file.set_len(0).map_err(|e| Error::io(&part, e))?;
        }
        file.seek(std::io::SeekFrom::Start(start))
            .map_err(|e| Error::io(&part, e))?;

        let mut done = start;
        progress(done, total);
        let mut silent = Duration::ZERO;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(cancelled(done, total));
            }
            let bytes = match pieces.recv_timeout(poll) {
                Ok(Piece::Bytes(b)) => {
                    silent = Duration::ZERO;
                    b
                }
                Ok(Piece::End) => break,
                Err(mpsc::RecvTimeoutError::Timeout) if silent + poll < self.read_timeout => {
                    silent += poll;
                    continue;
                }
                other => {
                    let why = match other {
                        Ok(Piece::Failed(e)) if !timed_out(e.kind()) => {
                            format!("the connection broke ({e})")
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => "the connection broke".into(),
                        _ => format!(
                            "the server sent nothing for {} s",
                            self.read_timeout.as_secs_f64().round()
                        ),
                    };
                    return Err(Error::Download(format!(
                        "the download of {} stopped after {}: {why}. Run it again to resume",
                        f.name,
                        so_far(done, total)
                    )));
                }
            };
            file.write_all(&bytes).map_err(|e| Error::io(&part, e))?;
            hasher.update(&bytes);
            done += bytes.len() as u64;
            progress(done, total);
        }
        if total > 0 && done != total {
            return Err(Error::Download(format!(
                "the download of {} stopped after {}: the connection closed early. Run it again to resume",
                f.name,
                so_far(done, total)
            )));
        }
        file.sync_all().map_err(|e| Error::io(&part, e))?;
        drop(file);
        let actual = format!("{:x}", hasher.finalize());
        if let Some(exp) = f.sha256
            && !exp.eq_ignore_ascii_case(&actual)
        {
            remove(&part)?;
            return Err(Error::Download(format!(
                "{} of {} arrived damaged or changed (sha256 {actual}, expected {exp}); it was deleted and nothing was installed",
                f.name, f.repo
            )));
        }
        std::fs::rename(&part, target).map_err(|e| Error::io(target, e))?;
        Ok(actual)
    }
}

/// What the worker of [`ask`] passes on: the answer's head (or a refusal, or no answer), then
/// the body's bytes and its end (or the read that failed).
enum Piece {
    Head(Head),
    Refused(u16, String),
    Bytes(Vec<u8>),
    End,
    Failed(std::io::Error),
}

struct Head {
    status: u16,
    content_range: Option<String>,
    content_length: Option<u64>,
}

/// Sends `req` once on a worker thread and streams what comes back. The worker stops when
/// the receiver is dropped (a cancel) or after a read waited the agent's read timeout.
fn ask(req: ureq::Request) -> mpsc::Receiver<Piece> {
    let (tx, rx) = mpsc::sync_channel(8);
    std::thread::spawn(move || {
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let _ = tx.send(Piece::Refused(code, r.status_text().to_string()));
                return;
            }
            Err(ureq::Error::Transport(t)) => {
                let _ = tx.send(Piece::Failed(std::io::Error::other(t.to_string())));
                return;
            }
        };
        let head = Head {
            status: resp.status(),
            content_range: resp.header("Content-Range").map(str::to_string),
            content_length: resp
                .header("Content-Length")
                .and_then(|s| s.parse::<u64>().ok()),
        };
        if tx.send(Piece::Head(head)).is_err() {
            return;
        }
        let mut body = resp.into_reader();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let piece = match body.read(&mut buf) {
                Ok(0) => Piece::End,
                Ok(n) => Piece::Bytes(buf[..n].to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Piece::Failed(e),
            };
            let last = !matches!(piece, Piece::Bytes(_));
            if tx.send(piece).is_err() || last {
                return;
            }
        }
    });
    rx
}

/// A read that waited its time out (sockets with a timeout say `WouldBlock` on Unix).
fn timed_out(kind: std::io::ErrorKind) -> bool {
    matches!(
        kind,
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// Where the bytes of `target` collect until it is complete and checked.
pub fn part_path(target: &Path) -> std::path::PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.part"))
}

fn remove(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    }
}

/// "3.1 MB of 12.0 MB", or "3.1 MB" when the size is not known.
fn so_far(done: u64, total: u64) -> String {
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    if total == 0 {
        mb(done)
    } else {
        format!("{} of {}", mb(done), mb(total))
    }
}
