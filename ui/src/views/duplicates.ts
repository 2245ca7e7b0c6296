// The duplicates view: groups with their evidence, threshold sliders, decisions, and the
// merge-map export.

import { save } from "@tauri-apps/plugin-dialog";
import { api, errorText, fileUrl, type DupesView, type Thresholds } from "../api";
import { $, h, replace } from "../dom";
import { count, price, score } from "../format";
import { app, toast } from "../state";

export function dupesView(): HTMLElement {
  return h(
    "section",
    { id: "view-dupes", class: "view", hidden: true },
    h(
      "div",
      { class: "dupes-head" },
      h("h2", {}, "Duplicate listings"),
      h("div", { id: "dupes-controls", class: "row" }),
      h("p", { id: "dupes-count", class: "status", "aria-live": "polite" }),
      h("button", { id: "dupes-undo", type: "button", class: "secondary", hidden: true, onclick: undoBulk }, "Undo"),
      h(
        "button",
        { id: "dupes-export", type: "button", class: "secondary", onclick: exportMergeMap },
        "Export merge map…",
      ),
    ),
    h("div", { id: "dupes-list" }),
  );
}

export let dupesTimer = 0;
export function renderDupesControls(t: Thresholds): void {
  const slider = (
    key: "phash" | "visual",
    label: string,
    min: number,
    max: number,
    step: number,
    fmt: (v: number) => string,
  ) => {
    const out = h("output", {}, fmt(t[key]));
    return h(
      "label",
      { class: "threshold" },
      label,
      h("input", {
        id: `threshold-${key}`,
        type: "range",
        min,
        max,
        step,
        value: t[key],
        oninput: (e: Event) => {
          const v = Number((e.target as HTMLInputElement).value);
          app.thresholds = { ...(app.thresholds ?? t), [key]: v };
          out.textContent = fmt(v);
          window.clearTimeout(dupesTimer);
          dupesTimer = window.setTimeout(() => void loadDupes(), 250);
        },
      }),
      out,
    );
  };
  replace(
    $("#dupes-controls"),
    slider("phash", "Photo difference allowed", 0, 16, 1, (v) => `${v} bits`),
    slider("visual", "Visual similarity needed", 0.8, 0.99, 0.01, (v) => v.toFixed(2)),
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: () => {
          app.thresholds = null;
          void loadDupes();
        },
      },
      "Defaults",
    ),
  );
}

export async function loadDupes(): Promise<void> {
  $("#dupes-count").textContent = "Looking for duplicates…";
  try {
    const v = await api.duplicates(app.thresholds);
    app.dupes = v;
    if (!app.thresholds) renderDupesControls(v.report.thresholds);
    renderDupes();
  } catch (e) {
    $("#dupes-count").textContent = errorText(e);
  }
}

export function groupDecision(g: DupesView["report"]["groups"][number]): string {
  const ds = new Set(g.pairs.map((p) => p.decision ?? "undecided"));
  if (ds.size !== 1) return ds.has("undecided") ? "partly decided" : "mixed decisions";
  const [d] = ds;
  if (d === "duplicate") return `duplicate, keep ${g.pairs[0].keep ?? "?"}`;
  return { not_duplicate: "not duplicates", variants: "variants", undecided: "undecided" }[d] ?? d;
}

type Group = DupesView["report"]["groups"][number];
type Choice = "duplicate" | "not_duplicate" | "variants";

async function decide(g: Group, d: Choice, keep: string | null): Promise<void> {
  try {
    await api.decide(d, g.skus, keep);
    toast(d === "duplicate" ? "Decision saved." : "Decision saved; the group leaves the list until its photos change.");
    await loadDupes();
  } catch (e) {
    toast(errorText(e), true);
  }
}

function members(v: DupesView, g: Group, keepButtons: boolean): HTMLElement {
  return h(
    "div",
    { class: "members" },
    g.skus.map((sku) => {
      const m = v.members[sku];
      return h(
        "div",
        { class: "member", "data-sku": sku },
        m?.thumbnails[0]
          ? h("img", { src: fileUrl(m.thumbnails[0]), alt: "" })
          : h("span", { class: "no-photo" }, "No photo"),
        h("h4", {}, m?.title ?? sku),
        h("p", {}, `${sku} · ${price(m?.price)}`),
        keepButtons
          ? h(
              "button",
              {
                type: "button",
                class: "keep secondary",
                "data-sku": sku,
                onclick: () => void decide(g, "duplicate", sku),
              },
              "Keep this one",
            )
          : null,
      );
    }),
  );
}

/** The groups the last bulk action decided, for its undo. */
let lastBulk: Group[] = [];

/** Decides every undecided group at once: keep in each the product `pick` chooses, or mark
 * them all as variants. Offers an undo. */
async function bulk(groups: Group[], what: "most_photos" | "lowest_price" | "variants"): Promise<void> {
  const v = app.dupes;
  if (!v) return;
  const undecided = groups.filter((g) => groupDecision(g) === "undecided");
  const photos = (sku: string) => v.members[sku]?.thumbnails.length ?? 0;
  const cost = (sku: string) => v.members[sku]?.price ?? Number.POSITIVE_INFINITY;
  try {
    for (const g of undecided) {
      if (what === "variants") {
        await api.decide("variants", g.skus, null);
      } else {
        const best = [...g.skus].sort((a, b) =>
          what === "most_photos"
            ? photos(b) - photos(a) || a.localeCompare(b)
            : cost(a) - cost(b) || a.localeCompare(b),
        )[0];
        await api.decide("duplicate", g.skus, best);
      }
    }
    lastBulk = undecided;
    $("#dupes-undo").hidden = undecided.length === 0;
    toast(`Decided ${count(undecided.length, "group")}. “Undo” takes it back.`);
    await loadDupes();
  } catch (e) {
    toast(errorText(e), true);
  }
}

async function undoBulk(): Promise<void> {
  try {
    for (const g of lastBulk) await api.undecide(g.skus);
    toast(`Took back the decisions on ${count(lastBulk.length, "group")}.`);
    lastBulk = [];
    $("#dupes-undo").hidden = true;
    await loadDupes();
  } catch (e) {
    toast(errorText(e), true);
  }
}

export function renderDupes(): void {
  const v = app.dupes;
  if (!v) return;
  const groups = v.report.groups;
  const variants = v.report.variants;
  const said = [
    groups.length ? `${count(groups.length, "group")} of possible duplicates` : "",
    variants.length ? `${count(variants.length, "group")} of variants` : "",
  ].filter(Boolean);
  $("#dupes-count").textContent = said.join(" · ");
  if (!groups.length && !variants.length) {
    replace(
      $("#dupes-list"),
      h(
        "div",
        { class: "empty" },
        h("h2", {}, "No duplicates found"),
        h("p", {}, "Allow more photo difference or less visual similarity to see looser matches."),
      ),
    );
    return;
  }
  const undecided = groups.filter((g) => groupDecision(g) === "undecided").length;
  replace(
    $("#dupes-list"),
    undecided > 1
      ? h(
          "div",
          { class: "row bulk" },
          h("span", {}, `For the ${count(undecided, "undecided group")}:`),
          h(
            "button",
            { id: "bulk-photos", type: "button", class: "secondary", onclick: () => void bulk(groups, "most_photos") },
            "Keep the one with most photos",
          ),
          h(
            "button",
            { id: "bulk-price", type: "button", class: "secondary", onclick: () => void bulk(groups, "lowest_price") },
            "Keep the lowest price",
          ),
        )
      : null,
    groups.map((g, gi) =>
      h(
        "article",
        { class: "group", "data-group": g.id, "data-decision": groupDecision(g) },
        h(
          "header",
          {},
          h("span", { class: "conf" }, `Confidence ${score(g.confidence)}`),
          h("span", { class: "decision" }, groupDecision(g)),
        ),
        members(v, g, true),
        h(
          "ul",
          { class: "evidence" },
          v.explanations[gi].map((t, pi) => h("li", {}, `${g.pairs[pi].a} ↔ ${g.pairs[pi].b}: ${t}`)),
        ),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            { type: "button", class: "decide-not secondary", onclick: () => void decide(g, "not_duplicate", null) },
            "Not duplicates",
          ),
          h(
            "button",
            { type: "button", class: "decide-variants secondary", onclick: () => void decide(g, "variants", null) },
            "Variants of one product",
          ),
        ),
      ),
    ),
    variants.length
      ? h(
          "section",
          { id: "variants", class: "variants" },
          h("h3", {}, "Variants, not duplicates"),
          h("p", { class: "hint" }, "These look alike but differ in size or price. They are never merged."),
          variants.length > 1
            ? h(
                "button",
                {
                  id: "bulk-variants",
                  type: "button",
                  class: "secondary",
                  onclick: () => void bulk(variants, "variants"),
                },
                `Mark all ${variants.length} as variants`,
              )
            : null,
          variants.map((g) =>
            h(
              "article",
              { class: "group variant-group", "data-group": `v${g.id}` },
              h("header", {}, h("span", { class: "decision" }, g.variant ?? "variants")),
              members(v, g, false),
              h(
                "div",
                { class: "row" },
                h(
                  "button",
                  { type: "button", class: "decide-variants", onclick: () => void decide(g, "variants", null) },
                  "Mark as variants",
                ),
                h(
                  "button",
                  {
                    type: "button",
                    class: "decide-not secondary",
                    onclick: () => void decide(g, "not_duplicate", null),
                  },
                  "Not related",
                ),
              ),
            ),
          ),
        )
      : null,
  );
}

export async function exportMergeMap(): Promise<void> {
  const path = await save({
    title: "Save the merge map",
    defaultPath: "vitrine-merge-map.csv",
    filters: [{ name: "CSV", extensions: ["csv"] }],
  });
  if (!path) return;
  try {
    const n = await api.exportMergeMap(path, app.thresholds);
    toast(`Saved the merge map (${count(n, "duplicate pair")}) to ${path}`);
  } catch (e) {
    toast(errorText(e), true);
  }
}
