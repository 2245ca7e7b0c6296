//! A model hub on 127.0.0.1 for download tests: serves files in the hub's layout
//! (`/{repo}/resolve/{revision}/{file}`), honours `Range`, and misbehaves on request. A few lines
//! over `std::net` rather than an HTTP server crate, because the tests need faults a well-behaved
//! server cannot produce (a body cut short of its Content-Length, a stall mid-body).
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the next request for a file gets instead of a plain answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Send the headers of the whole answer, then only this many body bytes, then close.
    CutAfter(usize),
    /// Send half the body, then nothing for this long.
    Stall(Duration),
    /// Wait this long before answering at all.
    SlowAnswer(Duration),
    /// Answer with this status.
    Status(u16),
    /// Flip one byte of the body at this offset of the file.
    FlipByte(usize),
    /// Ignore `Range` and send the whole file with 200.
    NoRange,
    /// Answer a `Range` request with 206 from the start of the file instead.
    OtherRange,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    faults: HashMap<String, VecDeque<Fault>>,
    /// Every request: (path, its Range header).
    requests: Vec<(String, Option<String>)>,
}

pub struct TestHub {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl TestHub {
    pub fn start() -> TestHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        TestHub { url, state }
    }

    /// Serves `bytes` as `file` of `repo` at `revision`.
    pub fn put(&self, repo: &str, revision: &str, file: &str, bytes: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(format!("/{repo}/resolve/{revision}/{file}"), bytes);
    }

    /// The next request for a path ending in `file` gets `fault` (faults queue up).
    pub fn fault(&self, file: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(file.to_string())
            .or_default()
            .push_back(fault);
    }

    /// The requests so far for paths ending in `file`, with their Range headers.
    pub fn requests_for(&self, file: &str) -> Vec<Option<String>> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(p, _)| p.ends_with(&format!("/{file}")))
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub fn paths(&self) -> Vec<String> {
        let st = self.state.lock().unwrap();
        st.requests.iter().map(|(p, _)| p.clone()).collect()
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    let (file, fault) = {
        let mut st = state.lock().unwrap();
        st.requests.push((path.clone(), range.clone()));
        let name = path.rsplit('/').next().unwrap_or("").to_string();
        let fault = st.faults.get_mut(&name).and_then(|q| q.pop_front());
        (st.files.get(&path).cloned(), fault)
    };
    let mut out = conn;
    if let Some(Fault::SlowAnswer(d)) = fault {
        std::thread::sleep(d);
    }
    let Some(mut bytes) = file else {
        return status(&mut out, 404, "Not Found");
    };
    if let Some(Fault::Status(code)) = fault {
        return status(&mut out, code, "Test Fault");
    }
    if let Some(Fault::FlipByte(i)) = fault
        && i < bytes.len()
    {
        bytes[i] ^= 0x55;
    }
    let start = match (&range, &fault) {
        (_, Some(Fault::NoRange)) | (None, _) => None,
        (Some(_), Some(Fault::OtherRange)) => Some(0),
        (Some(r), _) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok()),
    };
    let len = bytes.len();
    let (head, body) = match start {
        Some(s) if s >= len => return status(&mut out, 416, "Range Not Satisfiable"),
        Some(s) => (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{len}\r\nContent-Length: {}\r\n",
                len - 1,
                len - s
            ),
            &bytes[s..],
        ),
        None => (
            format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n"),
            &bytes[..],
        ),
    };
    out.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())?;
    match fault {
        Some(Fault::CutAfter(n)) => out.write_all(&body[..n.min(body.len())])?,
        Some(Fault::Stall(d)) => {
            out.write_all(&body[..body.len() / 2])?;
            out.flush()?;
            std::thread::sleep(d);
        }
        _ => out.write_all(body)?,
    }
    out.flush()
}

fn status(out: &mut TcpStream, code: u16, text: &str) -> std::io::Result<()> {
    out.write_all(
        format!("HTTP/1.1 {code} {text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}
