//! Human-readable output and progress display. Everything printed for people goes through
//! [`say!`], which escapes control characters: file names and CSV fields come from strangers,
//! and a raw `\x1b[…` in them would drive the terminal.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use vitrine::embed::{EmbedEvent, EmbedReport};
use vitrine::query::Sort;
use vitrine::{Catalog, ImportErrorRecord, ImportEvent, ImportReport, ImportRun, Product, Stats};

/// A progress bar on a terminal, JSON lines with `--json`, nothing otherwise.
pub struct Progress {
    json: bool,
    terminal: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    pub fn new(json: bool, terminal: bool) -> Self {
        Progress {
            json,
            terminal,
            bar: Mutex::new(None),
        }
    }

    /// Prints the event as a JSON line with `--json`; true when nothing else should show.
    fn emit(&self, e: &impl serde::Serialize) -> bool {
        if self.json
            && let Ok(line) = serde_json::to_string(e)
        {
            println!("{line}");
        }
        self.json || !self.terminal
    }

    fn start(&self, len: usize, label: &str) {
        let b = ProgressBar::new(len as u64);
        b.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {label} [{{bar:30}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}} {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        if let Ok(mut bar) = self.bar.lock() {
            *bar = Some(b);
        }
    }

    fn set(&self, pos: usize, msg: Option<String>) {
        if let Ok(bar) = self.bar.lock()
            && let Some(b) = bar.as_ref()
        {
            b.set_position(pos as u64);
            if let Some(m) = msg {
                b.set_message(m);
            }
        }
    }

    pub fn import_event(&self, e: &ImportEvent) {
        if self.emit(e) {
            return;
        }
        match e {
            ImportEvent::Planned { to_process, .. } => self.start(*to_process, "reading photos"),
            ImportEvent::Progress { done, skipped, .. } => self.set(
                *done,
                (*skipped > 0).then(|| format!("({skipped} skipped)")),
            ),
        }
    }

    pub fn embed_event(&self, e: &EmbedEvent) {
        if self.emit(e) {
            return;
        }
        match e {
            EmbedEvent::Planned { photos, products } => self.start(photos + products, "embedding"),
            EmbedEvent::Progress {
                photos_done,
                products_done,
                ..
            } => self.set(photos_done + products_done, None),
        }
    }

    pub fn finish(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(b) = bar.take()
        {
            b.finish_and_clear();
        }
    }
}

pub fn describe_error(e: &ImportErrorRecord) -> String {
    match e.line {
        Some(line) => format!("{}:{line}  [{}] {}", e.item, e.kind, e.message),
        None => format!("{}  [{}] {}", e.item, e.kind, e.message),
    }
}

pub fn print_import_report(r: &ImportReport) {
    let rate = if r.seconds > 0.0 {
        (r.photos_processed + r.photos_reused) as f64 / r.seconds
    } else {
        0.0
    };
    say!(
        "Import {} in {:.1} s ({} photos read, {rate:.0}/s)",
        r.status,
        r.seconds,
        r.photos_processed + r.photos_reused
    );
    say!(
        "  products: {} added, {} updated, {} unchanged",
        r.products_added,
        r.products_updated,
        r.products_unchanged
    );
    say!(
        "  photos:   {} added, {} updated, {} unchanged",
        r.images_added,
        r.images_updated,
        r.images_unchanged
    );
    if !r.skipped.is_empty() {
        say!(
            "  skipped:  {} (`vitrine errors` lists them all)",
            r.skipped.len()
        );
        for e in r.skipped.iter().take(10) {
            say!("    {}", describe_error(e));
        }
        if r.skipped.len() > 10 {
            say!("    … and {} more", r.skipped.len() - 10);
        }
    }
    if !r.missing.is_empty() {
        if r.pruned_images + r.pruned_products > 0 {
            say!(
                "  removed:  {} products and {} photos no longer in their sources",
                r.pruned_products,
                r.pruned_images
            );
        } else {
            say!(
                "  missing:  {} items are no longer in their sources (import again with --prune to remove them)",
                r.missing.len()
            );
        }
        for m in r.missing.iter().take(10) {
            say!(
                "    {} {} ({})",
                m.sku,
                m.path.as_deref().unwrap_or(""),
                m.reason
            );
        }
    }
}

pub fn print_stats(catalog: &Catalog, s: &Stats) {
    say!("Catalog:   {}", catalog.dir().display());
    say!("Products:  {}", s.products);
    say!(
        "Photos:    {} ({} distinct){}",
        s.images,
        s.distinct_photos,
        if s.products_without_images > 0 {
            format!(", {} products without a photo", s.products_without_images)
        } else {
            String::new()
        }
    );
    say!("Imports:   {}", s.import_runs);
    if !s.categories.is_empty() {
        say!("Categories:");
        for (c, n) in &s.categories {
            say!("  {n:>6}  {}", if c.is_empty() { "(none)" } else { c });
        }
    }
    if !s.embeddings.is_empty() {
        say!("Embeddings:");
        for (model, kind, n) in &s.embeddings {
            say!("  {n:>6}  {kind} × {model}");
        }
    }
}

pub fn print_runs(runs: &[ImportRun]) {
    if runs.is_empty() {
        say!("No imports yet.");
    }
    for r in runs {
        let count = |k: &str| r.counts.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        say!(
            "#{:<4} {:<11} +{} products, +{} photos, {} skipped   {}",
            r.id,
            r.status,
            count("products_added"),
            count("images_added"),
            r.errors,
            r.sources.join(" ")
        );
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

pub fn price(p: Option<f64>) -> String {
    p.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

pub fn print_product_table(products: &[Product]) {
    if products.is_empty() {
        say!("No products. Import some with: vitrine import FOLDER-OR-CSV");
        return;
    }
    say!(
        "{:<16} {:<34} {:<30} {:>8} {:>6}",
        "SKU",
        "TITLE",
        "CATEGORY",
        "PRICE",
        "PHOTOS"
    );
    for p in products {
        say!(
            "{:<16} {:<34} {:<30} {:>8} {:>6}",
            clip(&p.sku, 16),
            clip(&p.title, 34),
            clip(&p.category, 30),
            price(p.price),
            p.images.len()
        );
    }
}

pub fn print_product(catalog: &Catalog, p: &Product) {
    say!("{}  ({})", p.title, p.sku);
    say!("  category:    {}", p.category);
    say!("  colour:      {}", p.color);
    say!("  price:       {}", price(p.price));
    say!("  source:      {} ({})", p.source, p.origin.as_str());
    if !p.description.is_empty() {
        say!("  description: {}", clip(&p.description, 300));
    }
    for (k, v) in &p.attributes {
        say!("  {k}: {v}");
    }
    say!("  photos:");
    for i in &p.images {
        say!(
            "    {} {}×{} {} {}  thumbnail: {}",
            i.path,
            i.width,
            i.height,
            i.view,
            i.color,
            catalog.thumbnail_path(&i.hash).display()
        );
    }
}

pub fn print_embed_report(r: &EmbedReport) {
    let during = match r.photos_during_import {
        0 => String::new(),
        n if n == r.photos_embedded => ", during the import".to_string(),
        n => format!(", {n} during the import"),
    };
    say!(
        "Embeddings: {} photos ({}{during}), {} perceptual hashes, {} products ({}) in {:.1} s",
        r.photos_embedded,
        r.clip_model.as_deref().unwrap_or("no CLIP model"),
        r.phashes_added,
        r.products_embedded,
        r.text_model.as_deref().unwrap_or("no product-text model"),
        r.seconds
    );
    for u in &r.unavailable {
        say!("  not available: {}", u.reason);
    }
    for e in r.skipped.iter().take(10) {
        say!("  skipped: {}", describe_error(e));
    }
}

pub fn print_results(r: &vitrine::search::SearchResults) {
    for u in &r.unavailable {
        esay!("note: {}", u.reason);
    }
    if let Some(n) = &r.language_note {
        esay!(
            "note: the query looks like {}, which {} may not understand; a multilingual visual model reads it (`vitrine models use siglip2-base-patch16-224`)",
            n.language,
            n.model
        );
    }
    if let Some(a) = r.title_photo_agreement.filter(|&a| a < 0.5) {
        esay!(
            "note: the visual model finds few of this catalog's products from their titles (agreement {a:.2}), so text-to-photo evidence counts for {:.0}% here",
            100.0 * a.max(0.0)
        );
    }
    for s in &r.spelling {
        if s.colour {
            esay!(
                "note: no product's colour is “{}”; searched for “{}” too",
                s.typed,
                s.read
            );
        } else {
            esay!(
                "note: no product has “{}”; searched for “{}”",
                s.typed,
                s.read
            );
        }
    }
    for w in &r.unknown {
        esay!("note: no product has “{w}”; only the meaning of the query can find it");
    }
    for p in r.read.iter().filter(|p| !p.applied) {
        esay!(
            "note: no product has a price; “{}” was not applied",
            p.phrase
        );
    }
    let mut head = match r.strong {
        0 => format!("No strong match among {} ranked", r.total),
        1 => format!("1 strong match of {} ranked", r.total),
        n => format!("{n} strong matches of {} ranked", r.total),
    };
    if !r.text.is_empty() {
        head.push_str(&format!(" for {:?}", r.text));
    }
    if !r.not.is_empty() {
        head.push_str(&format!(", not {}", r.not.join(", ")));
    }
    let f = &r.filters;
    match (f.min_price, f.max_price) {
        (Some(lo), Some(hi)) => head.push_str(&format!(", price {lo}–{hi}")),
        (Some(lo), None) => head.push_str(&format!(", price ≥ {lo}")),
        (None, Some(hi)) => head.push_str(&format!(", price ≤ {hi}")),
        (None, None) => {}
    }
    match r.sort {
        Sort::PriceLow => head.push_str(", lowest price first"),
        Sort::PriceHigh => head.push_str(", highest price first"),
        Sort::Relevance => {}
    }
    say!("{head}");
    if r.hits.is_empty() {
        say!("Nothing matches. Try fewer words, remove a filter, or check `vitrine stats`.");
        return;
    }
    let names: Vec<String> = r
        .signals
        .iter()
        .map(|s| format!("{s:?}").to_lowercase())
        .collect();
    say!(
        "{:>3} {:>6}  {:<16} {:<34} {:>8}  {}",
        "#",
        "SCORE",
        "SKU",
        "TITLE",
        "PRICE",
        names.join(" ")
    );
    for h in &r.hits {
        if h.rank == r.strong + 1 && r.strong > 0 {
            say!("    ---- weaker matches ----");
        }
        let parts: Vec<String> = h
            .signals
            .iter()
            .map(|s| format!("{:.2}", s.score))
            .collect();
        let mut pen = if h.penalty > 0.0 {
            format!("  (not: -{:.0}%)", h.penalty * 100.0)
        } else {
            String::new()
        };
        if h.other_kind {
            pen += "  (other kind: text counts half)";
        }
        say!(
            "{:>3} {:>6.3}  {:<16} {:<34} {:>8}  {}{pen}",
            h.rank,
            h.score,
            clip(&h.sku, 16),
            clip(&h.title, 34),
            price(h.price),
            parts.join(" ")
        );
    }
}

pub fn print_tune(r: &vitrine::tune::TuneReport, dry_run: bool) {
    let w = |w: &vitrine::query::Weights| {
        r.signals
            .iter()
            .map(|s| format!("{}={}", s.name(), s.weight(w)))
            .collect::<Vec<_>>()
            .join(",")
    };
    say!(
        "{} labelled queries, {} folds; started from {}",
        r.queries,
        r.folds.len(),
        w(&r.start)
    );
    say!("fold  queries  nDCG@10 before  after  weights fitted on the other folds");
    for (i, f) in r.folds.iter().enumerate() {
        say!(
            "{:>4}  {:>7}  {:>14.3}  {:>5.3}  {}",
            i + 1,
            f.queries,
            f.before,
            f.after,
            w(&f.weights)
        );
    }
    say!(
        "Held out: nDCG@10 {:.3} before, {:.3} after.",
        r.before,
        r.after
    );
    if !r.improved {
        say!("Tuning did not improve the held-out queries: the weights stay as they were.");
    } else if dry_run {
        say!("Would keep {} (dry run: nothing stored).", w(&r.weights));
    } else {
        say!(
            "Kept {} with the catalog; searches start from them (`vitrine tune --reset` returns to the defaults).",
            w(&r.weights)
        );
    }
}

/// An evaluation report as Markdown: the ablation table, then per group for the fused run.
pub fn eval_markdown(
    file: &std::path::Path,
    r: &vitrine::eval::EvalReport,
    catalog: &Catalog,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stats = catalog.stats().ok();
    let _ = writeln!(s, "### {name}\n");
    let _ = writeln!(
        s,
        "{} queries on {} products. Signals: {}.",
        r.queries,
        stats.map(|st| st.products).unwrap_or(0),
        r.signals_available
            .iter()
            .map(|x| x.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let model = |k: &str| {
        r.models[k]["model"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "none".into())
    };
    let agreement = r.models["clip"]["title_photo_agreement"]
        .as_f64()
        .map(|a| format!(" (titles find their photos: agreement {a:.2})"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "CLIP model: {}{agreement}; product-text model: {}.",
        model("clip"),
        model("text")
    );
    for u in &r.unavailable {
        let _ = writeln!(s, "\nNot measured: {u}");
    }
    let _ = writeln!(
        s,
        "\n| run | queries | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | mAP | cut P | cut R | cut size |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let row = |s: &mut String, label: &str, sm: &vitrine::eval::Summary| {
        let m = &sm.metrics;
        let _ = writeln!(
            s,
            "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} |",
            sm.queries - sm.without_relevant,
            m.recall_1,
            m.recall_5,
            m.recall_10,
            m.mrr_10,
            m.ndcg_10,
            m.map,
            m.cut_precision,
            m.cut_recall,
            m.cut_size
        );
    };
    for c in &r.results {
        row(&mut s, &c.config, &c.overall);
    }
    if let Some(fused) = r.results.iter().find(|c| c.config == "fused")
        && fused.groups.len() > 1
    {
        let _ = writeln!(s, "\nFused, per group:\n");
        let _ = writeln!(
            s,
            "| group | queries | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | mAP | cut P | cut R | cut size |"
        );
        let _ = writeln!(
            s,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for (g, sm) in &fused.groups {
            row(&mut s, g, sm);
        }
    }
    s.push('\n');
    s
}

pub fn print_dupes(r: &vitrine::duplicates::DupesReport) {
    say!(
        "{} duplicate groups ({} candidate pairs, {} passing; evidence: {}) in {:.2} s",
        r.groups.len(),
        r.candidate_pairs,
        r.passing_pairs,
        r.signals.join(", "),
        r.seconds
    );
    if r.oversized_groups_split > 0 {
        say!(
            "  {} over-large groups were split on their weakest links (max {} products)",
            r.oversized_groups_split,
            r.thresholds.max_group
        );
    }
    for g in &r.groups {
        say!(
            "\nGroup {} (confidence {:.2}{}):",
            g.id,
            g.confidence,
            if g.split {
                ", split from a larger group"
            } else {
                ""
            }
        );
        for (sku, title) in g.skus.iter().zip(&g.titles) {
            say!("  {:<18} {}", clip(sku, 18), title);
        }
        for p in &g.pairs {
            let d = p
                .decision
                .map(|d| format!(" [{}]", d.as_str()))
                .unwrap_or_default();
            say!(
                "    {} ~ {}: {}{d}",
                p.a,
                p.b,
                vitrine::duplicates::describe(&p.evidence)
            );
        }
    }
    if !r.variants.is_empty() {
        say!(
            "\n{} groups of variants (alike, but not duplicates: not merged):",
            r.variants.len()
        );
        for g in &r.variants {
            say!(
                "\nVariants {}: {}",
                g.id,
                g.variant.as_deref().unwrap_or_default()
            );
            for (sku, title) in g.skus.iter().zip(&g.titles) {
                say!("  {:<18} {}", clip(sku, 18), title);
            }
        }
    }
    if !r.groups.is_empty() || !r.variants.is_empty() {
        say!(
            "\nDecide with: vitrine dupes decide duplicate --keep SKU SKU... | not-duplicate SKU SKU | variants SKU SKU..."
        );
    }
}

/// `s` with control characters (other than newline and tab) and Unicode's bidirectional
/// overrides escaped, so that text from the catalog cannot drive or disguise the terminal.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(bad) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if bad(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

pub fn print_judgements(all: &[vitrine::judgements::Judgement]) {
    let c = vitrine::judgements::counts(all);
    say!(
        "{} judged queries ({} with a right result): {} marked right, {} wrong",
        c.queries,
        c.usable,
        c.right,
        c.wrong
    );
    let mut last = None;
    for j in all {
        if last != Some(&j.query) {
            say!("\"{}\"", printable(&j.query));
            last = Some(&j.query);
        }
        say!(
            "  {} {}",
            if j.right { "right" } else { "wrong" },
            printable(&j.sku)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_is_kept() {
        assert_eq!(
            printable("plain — ünïcode\tand\nlines"),
            "plain — ünïcode\tand\nlines"
        );
        assert_eq!(printable("\x1b[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable("a\u{202e}b\r"), "a\\u{202e}b\\u{d}");
    }
}
