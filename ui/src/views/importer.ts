// The import view: sources, progress of a running job (import, embedding, indexing), and
// what was skipped.

import { open } from "@tauri-apps/plugin-dialog";
import { api, errorText, type JobDone, type Progress } from "../api";
import { $, h, replace } from "../dom";
import { duration, eta, rate } from "../format";
import { hasQuery } from "../query";
import { app, toast } from "../state";
import { t } from "../strings";
import { refresh } from "../main";
import { loadModels } from "./settings";
import { runSearch, renderResults } from "./search";

export function importView(): HTMLElement {
  const choose = (directory: boolean) => async () => {
    const picked = await open({
      directory,
      multiple: true,
      title: directory ? t.import.folders : t.import.csvFiles,
      filters: directory ? undefined : [{ name: t.common.csvFilter, extensions: ["csv", "tsv", "txt"] }],
    });
    const list = Array.isArray(picked) ? picked : picked ? [picked] : [];
    const box = $("#import-path") as HTMLTextAreaElement;
    box.value = [box.value.trim(), ...list].filter(Boolean).join("\n");
  };
  return h(
    "section",
    { id: "view-import", class: "view narrow", hidden: true },
    h("h2", {}, t.import.title),
    h("p", { class: "hint" }, t.import.hint),
    h("label", { for: "import-path" }, t.import.pathsLabel),
    h("textarea", {
      id: "import-path",
      rows: 3,
      spellcheck: "false",
      placeholder: t.import.pathsPlaceholder,
    }),
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", class: "secondary", onclick: choose(true) }, t.import.chooseFolder),
      h("button", { type: "button", class: "secondary", onclick: choose(false) }, t.import.chooseCsv),
      h("label", { class: "check" }, h("input", { id: "import-prune", type: "checkbox" }), t.import.prune),
    ),
    h(
      "div",
      { class: "row" },
      h("button", { id: "import-start", type: "button", onclick: startImport }, t.import.start),
      h(
        "button",
        { id: "import-rescan", type: "button", class: "secondary", onclick: () => void runJob(api.rescan) },
        t.import.rescan,
      ),
      h(
        "button",
        { id: "import-cancel", type: "button", class: "danger", hidden: true, onclick: () => void api.cancelJob() },
        t.common.cancel,
      ),
    ),
    h("progress", { id: "import-progress", max: 1, value: 0, hidden: true }),
    h("p", { id: "import-status", class: "status", "aria-live": "polite" }),
    h("div", { id: "import-report" }),
  );
}

export function startImport(): void {
  const paths = ($("#import-path") as HTMLTextAreaElement).value
    .split("\n")
    .map((p) => p.trim())
    .filter(Boolean);
  if (!paths.length) {
    $("#import-status").textContent = t.import.nothingChosen;
    return;
  }
  const prune = ($("#import-prune") as HTMLInputElement).checked;
  void runJob(() => api.startImport(paths, prune));
}

/** Shows the job as running, then starts it; events may arrive before `start` resolves. */
export async function runJob(start: () => Promise<void>): Promise<void> {
  replace($("#import-report"));
  const status = $("#import-status");
  status.textContent = t.import.starting;
  delete status.dataset.state;
  $("#import-cancel").hidden = false;
  $("#import-start").setAttribute("disabled", "");
  const bar = $("#import-progress") as HTMLProgressElement;
  bar.hidden = false;
  bar.value = 0;
  try {
    await start();
  } catch (e) {
    status.textContent = errorText(e);
    status.dataset.state = "error";
    $("#import-cancel").hidden = true;
    $("#import-start").removeAttribute("disabled");
    bar.hidden = true;
  }
}

export function onProgress(p: Progress): void {
  const phases: Record<string, [string, string]> = t.import.phases;
  const [label, unit] = phases[p.phase] ?? t.import.phases.import;
  const text =
    p.phase === "index"
      ? t.import.working(label)
      : t.import.progress(
          label,
          p.done,
          p.total,
          p.skipped,
          rate(p.done, p.elapsed_s, unit),
          eta(p.done, p.total, p.elapsed_s),
        );
  const pill = $("#job-pill");
  pill.hidden = false;
  pill.textContent = p.total ? t.import.pill(label, Math.floor((100 * p.done) / p.total)) : label;
  if (p.kind === "download") {
    const s = document.getElementById("models-status");
    if (s) {
      // After the files, a model the catalog uses embeds the catalog (same job).
      s.textContent =
        p.phase === "download" ? t.import.downloading(p.message, p.done / 1e6, p.total / 1e6) : text.trim();
      s.dataset.state = "running";
    }
    const cancel = document.getElementById("models-cancel");
    if (cancel) cancel.hidden = false;
    for (const el of document.querySelectorAll(".notice-progress")) {
      el.textContent = s?.textContent ?? "";
    }
    return;
  }
  const bar = $("#import-progress") as HTMLProgressElement;
  bar.hidden = false;
  bar.max = Math.max(1, p.total);
  bar.value = p.done;
  bar.dataset.phase = p.phase;
  $("#import-status").textContent = text.trim();
}

export async function onDone(d: JobDone): Promise<void> {
  $("#job-pill").hidden = true;
  $("#import-cancel").hidden = true;
  $("#import-start").removeAttribute("disabled");
  if (d.kind === "download") {
    // A model that arrived whole but does not load: one sentence, the reason behind "Details".
    const unloadable = !d.ok && !d.cancelled && (d.code === "model_broken" || d.code === "model_missing");
    const text = d.ok
      ? t.import.modelDownloaded
      : d.cancelled
        ? t.import.downloadPaused
        : unloadable
          ? t.import.modelUnloadable
          : t.import.downloadFailed(d.error);
    toast(text, !d.ok && !d.cancelled);
    const cancel = document.getElementById("models-cancel");
    if (cancel) cancel.hidden = true;
    await refresh();
    await loadModels();
    const s = document.getElementById("models-status");
    if (s) {
      replace(
        s,
        text,
        unloadable && d.error
          ? h("details", {}, h("summary", {}, t.common.details), h("span", { class: "hint" }, d.error))
          : null,
      );
      s.dataset.state = d.ok ? "done" : d.cancelled ? "cancelled" : "error";
    }
    return;
  }
  const bar = $("#import-progress") as HTMLProgressElement;
  if (d.ok) bar.value = bar.max;
  const imp = d.import;
  const status = d.error
    ? t.import.failed(d.error)
    : d.cancelled
      ? t.import.cancelled
      : t.import.finished(duration(d.seconds));
  $("#import-status").textContent = status;
  $("#import-status").dataset.state = d.error ? "error" : d.cancelled ? "cancelled" : "done";
  const skipped = [...(imp?.skipped ?? []), ...(d.embed?.skipped ?? [])];
  replace(
    $("#import-report"),
    imp &&
      h(
        "ul",
        { class: "counts" },
        h("li", {}, t.import.productsAdded(imp.products_added, imp.products_updated)),
        h("li", {}, t.import.photosAdded(imp.images_added, imp.photos_processed)),
        d.embed && h("li", {}, t.import.embedded(d.embed.photos_embedded, d.embed.products_embedded)),
        imp.missing.length ? h("li", {}, t.import.gone(imp.missing.length)) : null,
      ),
    skipped.length
      ? h(
          "details",
          { id: "import-skipped", open: true },
          h("summary", {}, t.import.skipped(skipped.length)),
          h(
            "table",
            {},
            h("tr", {}, h("th", {}, t.import.item), h("th", {}, t.import.why)),
            skipped.map((s) =>
              h(
                "tr",
                {},
                h("td", { class: "path" }, s.line ? t.import.atLine(s.item, s.line) : s.item),
                h("td", {}, s.message),
              ),
            ),
          ),
        )
      : h("p", { id: "import-skipped" }, t.import.nothingSkipped),
  );
  await refresh();
  app.dupes = null;
  if (hasQuery(app.q)) await runSearch();
  else renderResults();
}
