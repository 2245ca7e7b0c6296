// The quality view: how well search does on the user's own judgements (results marked right
// or wrong on the search page) or a query file, per signal, and tuning the weights to them.

import { open } from "@tauri-apps/plugin-dialog";
import { api, errorText, type QualityView, type TuneReport } from "../api";
import { $, h, replace } from "../dom";
import { t } from "../strings";
import { refresh } from "../main";
import { app, toast } from "../state";
import { SIGNALS, type SignalName, type Weights } from "../weights";
import { rerank, renderSliders } from "./search";

export function qualityView(): HTMLElement {
  return h(
    "section",
    { id: "view-quality", class: "view narrow", hidden: true },
    h("h2", {}, t.quality.title),
    h("p", { id: "quality-counts", class: "hint" }),
    h(
      "div",
      { class: "row actions" },
      h("button", { id: "quality-measure", type: "button", onclick: () => void measure(null) }, t.quality.measure),
      h(
        "button",
        { id: "quality-file", type: "button", class: "secondary", onclick: () => void measureFile() },
        t.quality.measureFile,
      ),
      h(
        "button",
        { id: "quality-tune", type: "button", class: "secondary", onclick: () => void tune() },
        t.quality.tune,
      ),
      h(
        "button",
        { id: "quality-reset", type: "button", class: "ghost", onclick: () => void resetWeights() },
        t.quality.reset,
      ),
    ),
    h("div", { id: "quality-tuned", role: "status" }),
    h("div", { id: "quality-report", "aria-live": "polite" }),
  );
}

/** Shows how many searches have been judged. */
export async function loadQuality(): Promise<void> {
  try {
    const { counts } = await api.judgements(null);
    replace(
      $("#quality-counts"),
      counts.queries === 0
        ? t.quality.noJudgements
        : t.quality.judged(counts.queries, counts.usable, counts.right, counts.wrong),
    );
    ($("#quality-measure") as HTMLButtonElement).disabled = counts.usable === 0;
    ($("#quality-tune") as HTMLButtonElement).disabled = counts.usable === 0;
  } catch (e) {
    replace($("#quality-counts"), errorText(e));
  }
}

async function measureFile(): Promise<void> {
  const file = await open({
    multiple: false,
    filters: [{ name: t.quality.querySets, extensions: ["jsonl", "json", "csv"] }],
  });
  if (typeof file === "string") await measure(file);
}

function busy(on: boolean): void {
  for (const id of ["quality-measure", "quality-file", "quality-tune", "quality-reset"]) {
    ($(`#${id}`) as HTMLButtonElement).toggleAttribute("aria-busy", on);
  }
  document.body.classList.toggle("busy", on);
}

async function measure(file: string | null): Promise<void> {
  busy(true);
  replace($("#quality-report"), h("p", { class: "hint" }, t.quality.measuring));
  try {
    renderReport(await api.evaluate(file), file);
  } catch (e) {
    replace($("#quality-report"), h("p", { class: "error" }, errorText(e)));
  } finally {
    busy(false);
  }
}

/** What a run of the evaluation is, in words. */
export function configLabel(config: string): string {
  if (config === "fused") return t.quality.fused;
  if (config === "fused: min-max") return t.quality.minMax;
  if (config === "fused: rrf") return t.quality.rrf;
  const signal = config.replace(/ only$/, "") as SignalName;
  return SIGNALS.includes(signal) ? t.quality.alone(t.signals[signal]) : config;
}

function weightsText(w: Weights): string {
  return SIGNALS.filter((s) => w[s] > 0)
    .map((s) => t.quality.weight(t.signals[s], w[s]))
    .join(", ");
}

/** A bar as long as `share` of its cell (set through the style object: the app's content
 * security policy ignores inline style attributes). */
function bar(share: number): HTMLElement {
  const b = h("span", { class: "quality-bar" });
  b.style.width = `${Math.round(Math.max(0, Math.min(1, share)) * 100)}%`;
  return b;
}

function renderReport(v: QualityView, file: string | null): void {
  const source = file
    ? t.quality.fromFile(v.queries, file.split(/[\\/]/).pop() ?? file)
    : t.quality.fromJudgements(v.queries);
  const best = Math.max(...v.rows.map((r) => r.metrics.ndcg_10), 1e-9);
  replace(
    $("#quality-report"),
    h("p", {}, t.quality.intro(source, weightsText(v.weights as Weights))),
    h(
      "table",
      { class: "quality-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, t.quality.ranking),
          h("th", { scope: "col", title: t.quality.ndcgHint }, t.quality.ndcg),
          h("th", { scope: "col", class: "chart-col" }, ""),
          h("th", { scope: "col", title: t.quality.recallHint }, t.quality.recall),
          h("th", { scope: "col", title: t.quality.mrrHint }, t.quality.mrr),
          h("th", { scope: "col", title: t.quality.strongRightHint }, t.quality.strongRight),
        ),
      ),
      h(
        "tbody",
        {},
        v.rows.map((r) =>
          h(
            "tr",
            { "data-config": r.config, class: r.config === "fused" ? "fused" : "" },
            h("th", { scope: "row" }, configLabel(r.config)),
            h("td", { class: "num" }, r.metrics.ndcg_10.toFixed(3)),
            h("td", { class: "chart-col", "aria-hidden": "true" }, bar(r.metrics.ndcg_10 / best)),
            h("td", { class: "num" }, r.metrics.recall_10.toFixed(3)),
            h("td", { class: "num" }, r.metrics.mrr_10.toFixed(3)),
            h("td", { class: "num" }, r.metrics.cut_precision.toFixed(3)),
          ),
        ),
      ),
    ),
  );
}

async function tune(): Promise<void> {
  busy(true);
  replace($("#quality-tuned"), h("p", { class: "hint" }, t.quality.tuning));
  try {
    const r = await api.tune(null);
    renderTuned(r);
    if (r.improved) await startFromTuned();
  } catch (e) {
    replace($("#quality-tuned"), h("p", { class: "error" }, errorText(e)));
  } finally {
    busy(false);
  }
}

function renderTuned(r: TuneReport): void {
  const figures = t.quality.figures(r.before, r.after);
  replace(
    $("#quality-tuned"),
    r.improved
      ? h("p", { class: "ok" }, t.quality.tuned(r.queries, figures, weightsText(r.weights as Weights)))
      : h("p", {}, t.quality.notTuned(figures)),
  );
}

/** The sliders move to the catalog's (new) weights, and the shown results follow. */
async function startFromTuned(): Promise<void> {
  await refresh();
  app.sliders.reset();
  renderSliders();
  await rerank();
}

async function resetWeights(): Promise<void> {
  try {
    await api.resetWeights();
    await startFromTuned();
    replace($("#quality-tuned"), h("p", {}, t.quality.backToDefaults));
  } catch (e) {
    toast(errorText(e), true);
  }
}
