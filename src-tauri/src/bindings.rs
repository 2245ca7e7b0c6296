//! The TypeScript declarations of what the commands return and the events carry, generated
//! from the Rust types with `ts-rs` into `ui/src/bindings/`. A test keeps them current: it
//! fails when they differ from the types, and `VITRINE_WRITE_BINDINGS=1 cargo test -p
//! vitrine-app bindings` rewrites them.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use ts_rs::{Config, TS};

    /// Every declaration the UI imports, with its dependencies.
    fn export_all(dir: &Path) {
        let cfg = Config::new().with_out_dir(dir).with_large_int("number");
        macro_rules! export {
            ($($t:ty),* $(,)?) => {$(
                <$t as TS>::export_all(&cfg).expect(stringify!($t));
            )*};
        }
        export!(
            crate::commands::catalog::Info,
            crate::commands::catalog::ProductView,
            crate::commands::catalog::Settings,
            crate::commands::search::PhotoChip,
            crate::commands::search::SearchRequest,
            crate::commands::search::SearchPage,
            crate::commands::dupes::DupesView,
            crate::commands::models::ModelView,
            crate::commands::quality::JudgementsView,
            crate::commands::quality::QualityView,
            vitrine::tune::TuneReport,
            crate::jobs::Progress,
            crate::jobs::Done,
            crate::error::CmdError,
            vitrine::duplicates::Decision,
            vitrine::ImportErrorRecord,
        );
    }

    fn files(dir: &Path) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        for e in walk(dir) {
            let rel = e.strip_prefix(dir).unwrap().to_path_buf();
            out.insert(rel, std::fs::read_to_string(&e).unwrap());
        }
        out
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    out.extend(walk(&p));
                } else if p.extension().is_some_and(|x| x == "ts") {
                    out.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn bindings_match_the_rust_types() {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
        let fresh = tempfile::tempdir().unwrap();
        export_all(fresh.path());
        let want = files(fresh.path());
        if std::env::var_os("VITRINE_WRITE_BINDINGS").is_some() {
            let _ = std::fs::remove_dir_all(&committed);
            for (rel, text) in &want {
                let path = committed.join(rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            return;
        }
        let have = files(&committed);
        let stale: Vec<String> = want
            .keys()
            .chain(have.keys())
            .filter(|k| want.get(*k) != have.get(*k))
            .map(|k| k.display().to_string())
            .collect();
        assert!(
            stale.is_empty(),
            "ui/src/bindings is out of date ({}); run `VITRINE_WRITE_BINDINGS=1 cargo test -p vitrine-app bindings`",
            stale.join(", ")
        );
    }
}
