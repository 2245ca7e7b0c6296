// The duplicates view: groups with their evidence, threshold sliders, decisions, and the
// merge-map export.

import { save } from "@tauri-apps/plugin-dialog";
import { api, errorText, fileUrl, type DupesView, type Thresholds } from "../api";
import { diffWords } from "../diff";
import { $, h, replace } from "../dom";
import { price, score } from "../format";
import { app, toast } from "../state";
import { t } from "../strings";

export function dupesView(): HTMLElement {
  return h(
    "section",
    { id: "view-dupes", class: "view", hidden: true },
    h(
      "div",
      { class: "dupes-head" },
      h("h2", {}, t.dupes.title),
      h("div", { id: "dupes-controls", class: "row" }),
      h(
        "label",
        { class: "dupes-filter" },
        t.dupes.show,
        h(
          "select",
          {
            id: "dupes-filter",
            onchange: (e: Event) => {
              shown = (e.target as HTMLSelectElement).value as Shown;
              renderDupes();
            },
          },
          h("option", { value: "all" }, t.dupes.showAll),
          h("option", { value: "undecided" }, t.dupes.showUndecided),
          h("option", { value: "decided" }, t.dupes.showDecided),
        ),
      ),
      h("p", { id: "dupes-count", class: "status", "aria-live": "polite" }),
      h(
        "button",
        { id: "dupes-undo", type: "button", class: "secondary", hidden: true, onclick: undoBulk },
        t.dupes.undo,
      ),
      h("button", { id: "dupes-export", type: "button", class: "secondary", onclick: exportMergeMap }, t.dupes.export),
    ),
    h("p", { class: "hint keys" }, t.dupes.keys),
    h("div", { id: "dupes-list" }),
    h("div", {
      id: "compare",
      class: "compare",
      hidden: true,
      role: "dialog",
      "aria-modal": "true",
      "aria-label": t.dupes.compareDialog,
    }),
  );
}

type Shown = "all" | "undecided" | "decided";
/** Which duplicate groups are listed. */
let shown: Shown = "all";
/** Groups ticked for a bulk action, by their SKUs. */
const selected = new Set<string>();
const groupKey = (g: Group) => g.skus.join("\u0000");

export let dupesTimer = 0;
export function renderDupesControls(th: Thresholds): void {
  const slider = (
    key: "phash" | "visual",
    label: string,
    min: number,
    max: number,
    step: number,
    fmt: (v: number) => string,
  ) => {
    const out = h("output", {}, fmt(th[key]));
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
        value: th[key],
        oninput: (e: Event) => {
          const v = Number((e.target as HTMLInputElement).value);
          app.thresholds = { ...(app.thresholds ?? th), [key]: v };
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
    slider("phash", t.dupes.photoDifference, 0, 16, 1, t.dupes.bits),
    slider("visual", t.dupes.visualNeeded, 0.8, 0.99, 0.01, (v) => v.toFixed(2)),
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
      t.dupes.defaults,
    ),
  );
}

export async function loadDupes(): Promise<void> {
  $("#dupes-count").textContent = t.dupes.looking;
  try {
    const v = await api.duplicates(app.thresholds);
    app.dupes = v;
    if (!app.thresholds) renderDupesControls(v.report.thresholds);
    renderDupes();
  } catch (e) {
    $("#dupes-count").textContent = errorText(e);
  }
}

/** Where a group's review stands: one decision for all its pairs, none, or a mix. */
export function decisionKind(g: Group): Choice | "undecided" | "partly" | "mixed" {
  const ds = new Set(g.pairs.map((p) => p.decision ?? "undecided"));
  if (ds.size !== 1) return ds.has("undecided") ? "partly" : "mixed";
  return [...ds][0];
}

/** A group's decision, in words. */
export function groupDecision(g: Group): string {
  const kind = decisionKind(g);
  if (kind === "duplicate") return t.dupes.duplicateKeep(g.pairs[0].keep ?? "?");
  return {
    partly: t.dupes.partly,
    mixed: t.dupes.mixed,
    not_duplicate: t.dupes.notDuplicates,
    variants: t.dupes.variants,
    undecided: t.dupes.undecided,
  }[kind];
}

type Group = DupesView["report"]["groups"][number];
type Choice = "duplicate" | "not_duplicate" | "variants";

async function decide(g: Group, d: Choice, keep: string | null): Promise<void> {
  try {
    await api.decide(d, g.skus, keep);
    lastBulk = [g];
    $("#dupes-undo").hidden = false;
    toast(d === "duplicate" ? t.dupes.saved : t.dupes.savedLeaves);
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
          : h("span", { class: "no-photo" }, t.common.noPhoto),
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
              t.dupes.keepThis,
            )
          : null,
      );
    }),
  );
}

/** The groups the last bulk action decided, for its undo. */
let lastBulk: Group[] = [];

type Bulk = "most_photos" | "lowest_price" | "oldest" | "variants";

/** The groups a bulk action applies to: the selected ones, else every undecided one. */
function bulkTargets(groups: Group[]): Group[] {
  const picked = groups.filter((g) => selected.has(groupKey(g)));
  return picked.length ? picked : groups.filter((g) => decisionKind(g) === "undecided");
}

/** The product a bulk action keeps in a group. */
export function pickKeep(g: Group, members: DupesView["members"], what: Exclude<Bulk, "variants">): string {
  const photos = (sku: string) => members[sku]?.thumbnails.length ?? 0;
  const cost = (sku: string) => members[sku]?.price ?? Number.POSITIVE_INFINITY;
  const listed = (sku: string) => members[sku]?.listed ?? Number.POSITIVE_INFINITY;
  const by = {
    most_photos: (a: string, b: string) => photos(b) - photos(a),
    lowest_price: (a: string, b: string) => cost(a) - cost(b),
    oldest: (a: string, b: string) => listed(a) - listed(b),
  }[what];
  return [...g.skus].sort((a, b) => by(a, b) || a.localeCompare(b))[0];
}

/** Decides the selected groups (or every undecided one) at once: keep in each the product
 * `what` chooses, or mark them all as variants. Offers an undo. */
async function bulk(groups: Group[], what: Bulk): Promise<void> {
  const v = app.dupes;
  if (!v) return;
  const targets = bulkTargets(groups);
  try {
    for (const g of targets) {
      if (what === "variants") await api.decide("variants", g.skus, null);
      else await api.decide("duplicate", g.skus, pickKeep(g, v.members, what));
    }
    lastBulk = targets;
    selected.clear();
    $("#dupes-undo").hidden = targets.length === 0;
    toast(t.dupes.decided(targets.length));
    await loadDupes();
  } catch (e) {
    toast(errorText(e), true);
  }
}

async function undoBulk(): Promise<void> {
  try {
    for (const g of lastBulk) await api.undecide(g.skus);
    toast(t.dupes.tookBack(lastBulk.length));
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
    groups.length ? t.dupes.duplicateGroups(groups.length) : "",
    variants.length ? t.dupes.variantGroups(variants.length) : "",
  ].filter(Boolean);
  $("#dupes-count").textContent = said.join(" · ");
  if (!groups.length && !variants.length) {
    replace($("#dupes-list"), h("div", { class: "empty" }, h("h2", {}, t.dupes.none), h("p", {}, t.dupes.noneHint)));
    return;
  }
  const listed = groups
    .map((g, gi) => ({ g, gi }))
    .filter(({ g }) => shown === "all" || (decisionKind(g) === "undecided") === (shown === "undecided"));
  const picked = groups.filter((g) => selected.has(groupKey(g))).length;
  const undecided = groups.filter((g) => decisionKind(g) === "undecided").length;
  const bulkButton = (id: string, what: Bulk, label: string) =>
    h("button", { id, type: "button", class: "secondary", onclick: () => void bulk(groups, what) }, label);
  replace(
    $("#dupes-list"),
    picked > 0 || undecided > 1
      ? h(
          "div",
          { class: "row bulk" },
          h("span", { id: "bulk-target" }, picked > 0 ? t.dupes.forSelected(picked) : t.dupes.forUndecided(undecided)),
          bulkButton("bulk-photos", "most_photos", t.dupes.keepMostPhotos),
          bulkButton("bulk-price", "lowest_price", t.dupes.keepLowestPrice),
          bulkButton("bulk-oldest", "oldest", t.dupes.keepOldest),
          picked > 0
            ? h(
                "button",
                {
                  id: "bulk-clear",
                  type: "button",
                  class: "link",
                  onclick: () => {
                    selected.clear();
                    renderDupes();
                  },
                },
                t.dupes.clearSelection,
              )
            : null,
        )
      : null,
    groups.length && !listed.length
      ? h("p", { class: "empty" }, shown === "undecided" ? t.dupes.allDecided : t.dupes.noneDecided)
      : null,
    listed.map(({ g, gi }) =>
      h(
        "article",
        {
          class: "group",
          tabindex: 0,
          "data-group": g.id,
          "data-decision": groupDecision(g),
          "aria-selected": String(selected.has(groupKey(g))),
          onkeydown: (e: Event) => onGroupKey(e as KeyboardEvent, g),
        },
        h(
          "header",
          {},
          h(
            "label",
            { class: "select" },
            h("input", {
              type: "checkbox",
              class: "group-select",
              checked: selected.has(groupKey(g)),
              "aria-label": t.dupes.selectGroup(g.skus.join(", ")),
              onchange: () => toggleSelected(g),
            }),
          ),
          h("span", { class: "conf" }, t.dupes.confidence(score(g.confidence))),
          h("span", { class: "decision" }, groupDecision(g)),
          h(
            "button",
            { type: "button", class: "compare-open link", onclick: () => void openCompare(g.skus) },
            t.dupes.compare,
          ),
        ),
        members(v, g, true),
        h(
          "ul",
          { class: "evidence" },
          v.explanations[gi].map((why, pi) => h("li", {}, `${g.pairs[pi].a} ↔ ${g.pairs[pi].b}: ${why}`)),
        ),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            { type: "button", class: "decide-not secondary", onclick: () => void decide(g, "not_duplicate", null) },
            t.dupes.notDuplicatesButton,
          ),
          h(
            "button",
            { type: "button", class: "decide-variants secondary", onclick: () => void decide(g, "variants", null) },
            t.dupes.variantsButton,
          ),
        ),
      ),
    ),
    variants.length
      ? h(
          "section",
          { id: "variants", class: "variants" },
          h("h3", {}, t.dupes.variantsTitle),
          h("p", { class: "hint" }, t.dupes.variantsHint),
          variants.length > 1
            ? h(
                "button",
                {
                  id: "bulk-variants",
                  type: "button",
                  class: "secondary",
                  onclick: () => void bulk(variants, "variants"),
                },
                t.dupes.markAllVariants(variants.length),
              )
            : null,
          variants.map((g) =>
            h(
              "article",
              { class: "group variant-group", "data-group": `v${g.id}` },
              h("header", {}, h("span", { class: "decision" }, g.variant ?? t.dupes.variants)),
              members(v, g, false),
              h(
                "div",
                { class: "row" },
                h(
                  "button",
                  { type: "button", class: "decide-variants", onclick: () => void decide(g, "variants", null) },
                  t.dupes.markVariants,
                ),
                h(
                  "button",
                  {
                    type: "button",
                    class: "decide-not secondary",
                    onclick: () => void decide(g, "not_duplicate", null),
                  },
                  t.dupes.notRelated,
                ),
              ),
            ),
          ),
        )
      : null,
  );
  if (focusAt !== null && app.view === "dupes" && $("#compare").hidden) focusGroup(focusAt);
}

export async function exportMergeMap(): Promise<void> {
  const path = await save({
    title: t.dupes.saveMergeMap,
    defaultPath: t.dupes.mergeMapFile,
    filters: [{ name: t.common.csvFilter, extensions: ["csv"] }],
  });
  if (!path) return;
  try {
    const n = await api.exportMergeMap(path, app.thresholds);
    toast(t.dupes.savedMergeMap(n, path));
  } catch (e) {
    toast(errorText(e), true);
  }
}

function toggleSelected(g: Group): void {
  const k = groupKey(g);
  if (selected.has(k)) selected.delete(k);
  else selected.add(k);
  renderDupes();
}

/** The listed duplicate groups' cards, in order. */
function groupCards(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>("#dupes-list .group:not(.variant-group)")];
}

/** The card to focus after the list is drawn again (keyboard review goes on where it was). */
let focusAt: number | null = null;

function focusGroup(i: number): void {
  const cards = groupCards();
  if (!cards.length) return;
  const card = cards[Math.max(0, Math.min(cards.length - 1, i))];
  card.focus();
  card.scrollIntoView({ block: "nearest" });
}

/** Keys on a focused group: see the hint under the view's title. */
function onGroupKey(e: KeyboardEvent, g: Group): void {
  if (e.target !== e.currentTarget || e.ctrlKey || e.metaKey || e.altKey) return;
  const i = groupCards().indexOf(e.currentTarget as HTMLElement);
  focusAt = i;
  const key = e.key.toLowerCase();
  if (key === "j" || key === "arrowdown") focusGroup(i + 1);
  else if (key === "k" || key === "arrowup") focusGroup(i - 1);
  else if (key === "x" || key === " ") toggleSelected(g);
  else if (key === "n") void decide(g, "not_duplicate", null);
  else if (key === "v") void decide(g, "variants", null);
  else if (key === "c") void openCompare(g.skus);
  else if (key === "u" && !$("#dupes-undo").hidden) void undoBulk();
  else if (/^[1-9]$/.test(key) && Number(key) <= g.skus.length) void decide(g, "duplicate", g.skus[Number(key) - 1]);
  else return;
  e.preventDefault();
}

/** Keys anywhere in the duplicates view (not while typing): J / K start on the first group,
 * U undoes, Escape closes the comparison. */
export function onDupesKey(e: KeyboardEvent): void {
  if (e.key === "Escape" && !$("#compare").hidden) {
    closeCompare();
    return;
  }
  const t = e.target as HTMLElement;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName) || t.closest(".group") || e.ctrlKey || e.metaKey) return;
  const key = e.key.toLowerCase();
  if ((key === "j" || key === "k") && $("#compare").hidden) focusGroup(0);
  else if (key === "u" && !$("#dupes-undo").hidden) void undoBulk();
  else return;
  e.preventDefault();
}

/** One side of the comparison: the product's photos at full size and its fields, with what
 * differs from the other side marked. */
type Side = Awaited<ReturnType<typeof api.product>>;

function compareSide(p: Side, other: Side): HTMLElement {
  const a = p.product;
  const b = other.product;
  const diffed = (x: string, y: string) =>
    diffWords(x, y)[0].map((piece) => (piece.changed ? h("mark", {}, piece.text) : piece.text));
  const field = (key: string, label: string, x: string, y: string) =>
    h("tr", { "data-field": key }, h("th", {}, label), h("td", {}, x ? diffed(x, y) : "—"));
  const big = h("img", {
    class: "compare-photo",
    alt: t.dupes.photoOf(a.title || a.sku),
    src: a.images[0] ? fileUrl(a.images[0].path) : "",
  });
  return h(
    "div",
    { class: "compare-side", "data-sku": a.sku },
    a.images.length ? big : h("p", { class: "empty" }, t.common.noPhoto),
    a.images.length > 1
      ? h(
          "div",
          { class: "strip" },
          a.images.map((im, i) =>
            h(
              "button",
              {
                type: "button",
                class: "thumb-btn",
                "aria-label": t.dupes.photoN(i + 1),
                onclick: () => {
                  big.src = fileUrl(im.path);
                },
              },
              h("img", { src: fileUrl(p.thumbnails[i]), alt: "" }),
            ),
          ),
        )
      : null,
    h(
      "table",
      { class: "facts" },
      field("title", t.common.title, a.title, b.title),
      field("sku", t.common.sku, a.sku, b.sku),
      field("price", t.common.price, a.price === null ? "" : price(a.price), b.price === null ? "" : price(b.price)),
      field("category", t.common.category, a.category, b.category),
      field("color", t.common.colour, a.color, b.color),
      field("photos", t.common.photos, String(a.images.length), String(b.images.length)),
      field("description", t.common.description, a.description, b.description),
    ),
  );
}

/** Shows two listings of a group side by side (the first two; with more, choose which). */
export async function openCompare(skus: string[], left = 0, right = 1): Promise<void> {
  const box = $("#compare");
  try {
    const [a, b] = await Promise.all([api.product(skus[left]), api.product(skus[right])]);
    const chooser = (which: "left" | "right", at: number) =>
      skus.length > 2
        ? h(
            "select",
            {
              class: `compare-choose-${which}`,
              "aria-label": which === "left" ? t.dupes.leftListing : t.dupes.rightListing,
              onchange: (e: Event) => {
                const i = Number((e.target as HTMLSelectElement).value);
                void openCompare(skus, which === "left" ? i : left, which === "right" ? i : right);
              },
            },
            skus.map((s, i) => h("option", { value: i, selected: i === at }, s)),
          )
        : null;
    replace(
      box,
      h(
        "div",
        { class: "drawer-head" },
        h("h2", {}, t.dupes.compareTitle),
        chooser("left", left),
        chooser("right", right),
        h(
          "button",
          { id: "compare-close", type: "button", class: "ghost", "aria-label": t.common.close, onclick: closeCompare },
          t.common.remove,
        ),
      ),
      h("p", { class: "hint" }, t.dupes.compareHint),
      h("div", { class: "compare-sides" }, compareSide(a, b), compareSide(b, a)),
    );
    box.hidden = false;
    $("#compare-close").focus();
  } catch (e) {
    toast(errorText(e), true);
  }
}

export function closeCompare(): void {
  $("#compare").hidden = true;
  if (focusAt !== null) focusGroup(focusAt);
}
