// The import view: sources, progress of a running job (import, embedding, indexing), and
// what was skipped.

import { open } from "@tauri-apps/plugin-dialog";
import { api, errorText, type JobDone, type Progress } from "../api";
import { $, h, replace } from "../dom";
import { count, duration, eta, rate } from "../format";
import { hasQuery } from "../query";
import { app, toast } from "../state";
import { refresh } from "../main";
import { loadModels } from "./settings";
import { runSearch, renderResults } from "./search";

export function importView(): HTMLElement {
  const choose = (directory: boolean) => async () => {
    const picked = await open({
      directory,
      multiple: true,
      title: directory ? "Folders of product photos" : "Product CSV files",
      filters: directory ? undefined : [{ name: "CSV", extensions: ["csv", "tsv", "txt"] }],
    });
    const list = Array.isArray(picked) ? picked : picked ? [picked] : [];
    const box = $("#import-path") as HTMLTextAreaElement;
    box.value = [box.value.trim(), ...list].filter(Boolean).join("\n");
  };
  return h(
    "section",
    { id: "view-import", class: "view narrow", hidden: true },
    h("h2", {}, "Import products"),
    h(
      "p",
      { class: "hint" },
      "A folder of photos, a CSV of products, or both. Photos named in the CSV are matched to the folders. Importing again reads only what changed.",
    ),
    h("label", { for: "import-path" }, "Folders and CSV files, one per line (type or paste paths)"),
    h("textarea", {
      id: "import-path",
      rows: 3,
      spellcheck: "false",
      placeholder: "/home/me/shop/products.csv\n/home/me/shop/photos",
    }),
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", class: "secondary", onclick: choose(true) }, "Choose folder…"),
      h("button", { type: "button", class: "secondary", onclick: choose(false) }, "Choose CSV…"),
      h(
        "label",
        { class: "check" },
        h("input", { id: "import-prune", type: "checkbox" }),
        "Remove products whose files are gone",
      ),
    ),
    h(
      "div",
      { class: "row" },
      h("button", { id: "import-start", type: "button", onclick: startImport }, "Import"),
      h(
        "button",
        { id: "import-rescan", type: "button", class: "secondary", onclick: () => void runJob(api.rescan) },
        "Rescan previous sources",
      ),
      h(
        "button",
        { id: "import-cancel", type: "button", class: "danger", hidden: true, onclick: () => void api.cancelJob() },
        "Cancel",
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
    $("#import-status").textContent = "Type or choose a folder of photos or a CSV file first.";
    return;
  }
  const prune = ($("#import-prune") as HTMLInputElement).checked;
  void runJob(() => api.startImport(paths, prune));
}

/** Shows the job as running, then starts it; events may arrive before `start` resolves. */
export async function runJob(start: () => Promise<void>): Promise<void> {
  replace($("#import-report"));
  const status = $("#import-status");
  status.textContent = "Starting…";
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

export const PHASES: Record<Progress["phase"], [string, string]> = {
  import: ["Reading photos", "photos"],
  embed: ["Understanding photos and text", "items"],
  index: ["Building the search index", "items"],
  download: ["Downloading", "bytes"],
};

export function onProgress(p: Progress): void {
  const [label, unit] = PHASES[p.phase];
  const text =
    p.phase === "index"
      ? `${label}…`
      : `${label}: ${p.done.toLocaleString("en-US")} of ${p.total.toLocaleString("en-US")}${p.skipped ? ` (${p.skipped} skipped)` : ""} · ${rate(p.done, p.elapsed_s, unit)} ${eta(p.done, p.total, p.elapsed_s)}`;
  const pill = $("#job-pill");
  pill.hidden = false;
  pill.textContent = p.total ? `${label} ${Math.floor((100 * p.done) / p.total)}%` : label;
  if (p.kind === "download") {
    const s = document.getElementById("models-status");
    if (s) {
      // After the files, a model the catalog uses embeds the catalog (same job).
      s.textContent =
        p.phase === "download"
          ? `Downloading ${p.message}: ${(p.done / 1e6).toFixed(1)} of ${(p.total / 1e6).toFixed(1)} MB`
          : text.trim();
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
      ? "Model downloaded."
      : d.cancelled
        ? "Download paused. Download again to continue where it stopped."
        : unloadable
          ? "The model was downloaded but could not be loaded; “Details” says why."
          : `Download failed: ${d.error ?? "unknown error"}`;
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
          ? h("details", {}, h("summary", {}, "Details"), h("span", { class: "hint" }, d.error))
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
    ? `Import failed: ${d.error}`
    : d.cancelled
      ? "Import cancelled. What was read so far is kept; import again to continue."
      : `Import finished in ${duration(d.seconds)}.`;
  $("#import-status").textContent = status;
  $("#import-status").dataset.state = d.error ? "error" : d.cancelled ? "cancelled" : "done";
  const skipped = [...(imp?.skipped ?? []), ...(d.embed?.skipped ?? [])];
  replace(
    $("#import-report"),
    imp &&
      h(
        "ul",
        { class: "counts" },
        h("li", {}, `${count(imp.products_added, "product")} added, ${imp.products_updated} updated`),
        h("li", {}, `${count(imp.images_added, "photo")} added, ${imp.photos_processed} read`),
        d.embed &&
          h(
            "li",
            {},
            `${count(d.embed.photos_embedded, "photo")} and ${count(d.embed.products_embedded, "product")} embedded`,
          ),
        imp.missing.length ? h("li", {}, `${count(imp.missing.length, "item")} no longer in the sources`) : null,
      ),
    skipped.length
      ? h(
          "details",
          { id: "import-skipped", open: true },
          h("summary", {}, `${count(skipped.length, "item")} skipped`),
          h(
            "table",
            {},
            h("tr", {}, h("th", {}, "Item"), h("th", {}, "Why")),
            skipped.map((s) =>
              h(
                "tr",
                {},
                h("td", { class: "path" }, s.line ? `${s.item} (line ${s.line})` : s.item),
                h("td", {}, s.message),
              ),
            ),
          ),
        )
      : h("p", { id: "import-skipped" }, "Nothing was skipped."),
  );
  await refresh();
  app.dupes = null;
  if (hasQuery(app.q)) await runSearch();
  else renderResults();
}
