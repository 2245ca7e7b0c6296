// The search view: the query box with photo chips, filters, fusion sliders, results with
// their per-signal breakdown, and the product panel.

import { api, errorText, fileUrl, type Hit, type SearchResults } from "../api";
import type { Sort } from "../bindings/Sort";
import { $, append, h, replace } from "../dom";
import { leaf, price, score } from "../format";
import { t } from "../strings";
import { buildRequest, categoryTree, emptyQuery, hasQuery, withoutPhrase } from "../query";
import { MAX_WEIGHT, modelName, modelNotice, SIGNALS } from "../weights";
import { addModelFolder } from "./settings";
import { app, PAGE, toast } from "../state";
import { show } from "../main";

export function searchView(): HTMLElement {
  const photoInput = h("input", {
    id: "photo-input",
    type: "file",
    accept: "image/*",
    class: "visually-hidden",
    onchange: onPhotoPicked,
  });
  return h(
    "section",
    { id: "view-search", class: "view" },
    h(
      "form",
      {
        id: "searchbar",
        class: "searchbar",
        onsubmit: (e: Event) => {
          e.preventDefault();
          void runSearch();
        },
      },
      h("div", { id: "chips", class: "chips" }),
      h("input", {
        id: "search-input",
        type: "search",
        placeholder: t.search.placeholder,
        autocomplete: "off",
        "aria-label": t.search.textLabel,
        oninput: onTyping,
      }),
      h("input", {
        id: "not-input",
        type: "text",
        placeholder: t.search.notPlaceholder,
        autocomplete: "off",
        "aria-label": t.search.notLabel,
        oninput: onTyping,
      }),
      h("label", { class: "button secondary", title: t.search.photoHint }, t.search.photo, photoInput),
      h("button", { id: "search-go", type: "submit" }, t.search.go),
    ),
    h(
      "div",
      { class: "search-body" },
      h(
        "aside",
        { class: "side" },
        h("h3", {}, t.search.filters),
        h("div", { id: "filters" }),
        h("h3", {}, t.search.whatCounts),
        h("div", { id: "sliders" }),
      ),
      h(
        "div",
        { class: "results-wrap" },
        h("div", { id: "result-summary", class: "summary" }),
        h("div", { id: "results", class: "grid", role: "list" }),
        h(
          "button",
          { id: "more", class: "secondary more", type: "button", hidden: true, onclick: () => void loadMore() },
          t.search.showMore,
        ),
      ),
    ),
  );
}

export function renderFilters(): void {
  const info = app.info;
  const f = $("#filters");
  if (!info) return;
  const cat = h(
    "select",
    {
      id: "filter-category",
      "aria-label": t.common.category,
      onchange: (e: Event) => {
        app.q.category = (e.target as HTMLSelectElement).value;
        void runSearch();
      },
    },
    h("option", { value: "" }, t.search.allCategories),
    categoryTree(info.facets.categories).map((c) =>
      h(
        "option",
        { value: c.path, selected: c.path === app.q.category },
        `${"\u2003".repeat(c.depth)}${c.label} (${c.count})`,
      ),
    ),
  );
  const color = h(
    "select",
    {
      id: "filter-color",
      "aria-label": t.common.colour,
      onchange: (e: Event) => {
        app.q.color = (e.target as HTMLSelectElement).value;
        void runSearch();
      },
    },
    h("option", { value: "" }, t.search.anyColour),
    info.facets.colors.map(([c, n]) => h("option", { value: c, selected: c === app.q.color }, `${c} (${n})`)),
  );
  const priceBox = (id: string, label: string, key: "minPrice" | "maxPrice", hint: number | null) =>
    h("input", {
      id,
      type: "text",
      inputmode: "decimal",
      "aria-label": label,
      placeholder: hint === null ? label : t.search.priceHint(label, price(hint)),
      value: app.q[key],
      onchange: (e: Event) => {
        app.q[key] = (e.target as HTMLInputElement).value;
        void runSearch();
      },
    });
  const sort = h(
    "select",
    {
      id: "sort",
      "aria-label": t.search.sortBy,
      onchange: (e: Event) => {
        app.q.sort = (e.target as HTMLSelectElement).value as Sort;
        void runSearch();
      },
    },
    sortLabels().map(([v, label]) => h("option", { value: v, selected: v === app.q.sort }, label)),
  );
  replace(
    f,
    h("label", {}, t.search.sortBy, sort),
    h("label", {}, t.common.category, cat),
    h("label", {}, t.common.colour, color),
    h(
      "div",
      { class: "price-range" },
      priceBox("min-price", t.search.minPrice, "minPrice", info.facets.min_price),
      "–",
      priceBox("max-price", t.search.maxPrice, "maxPrice", info.facets.max_price),
    ),
    h("button", { type: "button", class: "link", onclick: clearFilters }, t.search.clearFilters),
  );
}

export function clearFilters(): void {
  Object.assign(app.q, { category: "", color: "", minPrice: "", maxPrice: "" });
  renderFilters();
  void runSearch();
}

export function renderSliders(): void {
  const box = $("#sliders");
  const rows = SIGNALS.map((s) => {
    const off = app.sliders.disabled(s);
    const out = h("output", { id: `slider-${s}-value` }, app.sliders.get(s).toFixed(1));
    const input = h("input", {
      id: `slider-${s}`,
      type: "range",
      min: 0,
      max: MAX_WEIGHT,
      step: 0.1,
      value: app.sliders.get(s),
      disabled: off !== null,
      "aria-label": t.signals[s],
      oninput: (e: Event) => {
        app.sliders.set(s, Number((e.target as HTMLInputElement).value));
        out.textContent = app.sliders.get(s).toFixed(1);
        void rerank();
      },
    });
    return h(
      "div",
      { class: `slider${off ? " off" : ""}` },
      h("label", { for: `slider-${s}` }, t.signals[s], out),
      input,
    );
  });
  replace(
    box,
    modelNotices(),
    rows,
    h(
      "button",
      {
        id: "sliders-reset",
        type: "button",
        class: "link",
        onclick: () => {
          app.sliders.reset();
          renderSliders();
          void rerank();
        },
      },
      t.search.resetWeights,
    ),
  );
}

/** One notice per model that is off (not one per slider): a sentence, what to do, and the
 * technical reason behind "Details". */
function modelNotices(): HTMLElement[] {
  const seen = new Set<string>();
  const out: HTMLElement[] = [];
  for (const s of SIGNALS) {
    const off = app.sliders.disabled(s);
    if (!off || seen.has(off.model_id ?? s)) continue;
    seen.add(off.model_id ?? s);
    out.push(
      h(
        "div",
        { class: "model-notice", "data-model": off.model_id ?? "", "data-code": off.code ?? "" },
        h("p", {}, modelNotice(off)),
        off.downloadable && off.model_id
          ? h(
              "button",
              {
                type: "button",
                class: "download-model",
                onclick: () => {
                  const id = off.model_id!;
                  void api.downloadModel(id).catch((e) => toast(errorText(e), true));
                },
              },
              t.models.download(modelName(s), off.download_mb),
            )
          : null,
        h("p", { class: "notice-progress", "aria-live": "polite" }),
        h("button", { type: "button", class: "link", onclick: () => void addModelFolder() }, t.common.useModelFolder),
        off.reason ? h("details", {}, h("summary", {}, t.common.details), h("p", { class: "hint" }, off.reason)) : null,
      ),
    );
  }
  return out;
}

export let typingTimer = 0;
export function onTyping(): void {
  app.q.text = ($("#search-input") as HTMLInputElement).value;
  app.q.notText = ($("#not-input") as HTMLInputElement).value;
  window.clearTimeout(typingTimer);
  typingTimer = window.setTimeout(() => void runSearch(), 400);
}

export function renderChips(): void {
  const chips = $("#chips");
  const list: HTMLElement[] = [];
  if (app.q.photo) {
    list.push(
      h(
        "span",
        { class: "chip photo-chip" },
        h("img", { src: app.q.photo.url, alt: "" }),
        app.q.photo.name,
        h(
          "button",
          {
            type: "button",
            class: "chip-x",
            "aria-label": t.search.removePhoto,
            onclick: () => {
              app.q.photo = null;
              renderChips();
              void runSearch();
            },
          },
          t.common.remove,
        ),
      ),
    );
  }
  for (const kind of ["more", "less"] as const) {
    for (const m of app.q[kind]) {
      list.push(
        h(
          "span",
          { class: `chip ${kind}-chip` },
          (kind === "more" ? t.search.moreLikeChip : t.search.lessLikeChip)(m.title),
          h(
            "button",
            {
              type: "button",
              class: "chip-x",
              "aria-label": (kind === "more" ? t.search.undoMoreLike : t.search.undoLessLike)(m.title),
              onclick: () => {
                app.q[kind] = app.q[kind].filter((x) => x.sku !== m.sku);
                renderChips();
                void runSearch();
              },
            },
            t.common.remove,
          ),
        ),
      );
    }
  }
  if (app.q.like) {
    list.push(
      h(
        "span",
        { class: "chip like-chip" },
        t.search.moreLikeChip(app.likeTitle),
        h(
          "button",
          {
            type: "button",
            class: "chip-x",
            "aria-label": t.search.removeLike,
            onclick: () => {
              app.q.like = null;
              renderChips();
              void runSearch();
            },
          },
          t.common.remove,
        ),
      ),
    );
  }
  replace(chips, list);
}

export async function usePhoto(blob: Blob, name: string): Promise<void> {
  try {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const chip = await api.addQueryPhoto(bytes);
    if (app.q.photo) URL.revokeObjectURL(app.q.photo.url);
    app.q.photo = { id: chip.id, name, url: URL.createObjectURL(blob) };
    show("search");
    renderChips();
    await runSearch();
  } catch (e) {
    toast(errorText(e), true);
  }
}

export function onPhotoPicked(e: Event): void {
  const input = e.target as HTMLInputElement;
  const f = input.files?.[0];
  if (f) void usePhoto(f, f.name);
  input.value = "";
}

export function wirePhotoDrops(): void {
  window.addEventListener("dragover", (e) => {
    e.preventDefault();
    document.body.classList.add("dropping");
  });
  window.addEventListener("dragleave", (e) => {
    if (e.relatedTarget === null) document.body.classList.remove("dropping");
  });
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    document.body.classList.remove("dropping");
    const f = [...(e.dataTransfer?.files ?? [])].find(
      (x) => x.type.startsWith("image/") || /\.(jpe?g|png|webp|gif|bmp|tiff?)$/i.test(x.name),
    );
    if (f) void usePhoto(f, f.name);
    else toast(t.search.dropPhoto, true);
  });
  window.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.type.startsWith("image/"));
    const f = item?.getAsFile();
    if (f) {
      e.preventDefault();
      void usePhoto(f, t.search.pastedPhoto);
    }
  });
}

export async function runSearch(): Promise<void> {
  const seq = ++app.seq;
  if (!hasQuery(app.q)) {
    app.page = null;
    app.hits = [];
    renderResults();
    return;
  }
  setBusy(true);
  try {
    const request = buildRequest(app.q, app.sliders.weights(), PAGE);
    const page = await api.search(request);
    if (seq !== app.seq) return;
    app.page = page;
    app.hits = page.results.hits;
    // A new query shows its strong matches first; the same one again keeps what was shown.
    const asked = JSON.stringify({ ...request, weights: null });
    if (asked !== app.asked) app.showWeaker = false;
    app.asked = asked;
    await loadMarks(request.text);
    if (seq !== app.seq) return;
    renderResults();
  } catch (e) {
    if (seq === app.seq) showSearchError(errorText(e));
  } finally {
    if (seq === app.seq) setBusy(false);
  }
}

/** New weights: fuse the same candidates again, keeping as many results as are shown. */
export async function rerank(): Promise<void> {
  if (!app.page) return;
  const seq = ++app.seq;
  try {
    const page = await api.rerank(app.page.query_id, app.sliders.weights(), Math.max(PAGE, app.hits.length), 0);
    if (seq !== app.seq) return;
    app.page = page;
    app.hits = page.results.hits;
    renderResults();
  } catch (e) {
    if (seq === app.seq) await runSearch();
    else console.warn(e);
  }
}

export async function loadMore(): Promise<void> {
  if (!app.page || app.hits.length >= app.page.results.total) return;
  const seq = app.seq;
  try {
    const page = await api.rerank(app.page.query_id, app.sliders.weights(), PAGE, app.hits.length);
    if (seq !== app.seq) return;
    app.hits = app.hits.concat(page.results.hits);
    app.page = { ...page, results: { ...page.results, offset: 0 } };
    renderResults(true);
  } catch (e) {
    toast(errorText(e), true);
  }
}

export function setBusy(on: boolean): void {
  $("#results").setAttribute("aria-busy", String(on));
  document.body.classList.toggle("busy", on);
}

export function showSearchError(text: string): void {
  replace($("#result-summary"), h("p", { class: "error" }, text));
  replace($("#results"));
  $("#more").hidden = true;
}

export function renderResults(appended = false): void {
  const grid = $("#results");
  const summary = $("#result-summary");
  const info = app.info;
  if (info && info.stats.products === 0) {
    replace(summary);
    replace(
      grid,
      h(
        "div",
        { class: "empty" },
        h("h2", {}, t.search.emptyCatalog),
        h("p", {}, t.search.emptyCatalogHint),
        h("button", { type: "button", onclick: () => show("import") }, t.search.importProducts),
      ),
    );
    $("#more").hidden = true;
    return;
  }
  if (!app.page) {
    replace(summary);
    replace(grid, h("div", { class: "empty" }, h("h2", {}, t.search.start), h("p", {}, t.search.startHint)));
    $("#more").hidden = true;
    return;
  }
  const r = app.page.results;
  const used = r.signals
    .filter((s) => r.weights[s] > 0)
    .map((s) => t.signals[s])
    .join(", ");
  // Only the strong matches until the user asks for the weaker ones.
  const allShown = app.showWeaker || r.strong === 0;
  const visible = allShown ? app.hits : app.hits.filter((hit) => hit.rank <= r.strong);
  const weaker = r.total - r.strong;
  const headline = r.strong === 0 ? t.search.noStrongMatch(r.total) : t.search.strongMatches(r.strong);
  replace(
    summary,
    h(
      "p",
      {},
      t.search.summary(headline, used, Math.round(app.page.millis)),
      r.strong > 0 && weaker > 0
        ? h(
            "button",
            {
              id: "weaker",
              class: "link",
              type: "button",
              "aria-expanded": String(app.showWeaker),
              onclick: () => {
                app.showWeaker = !app.showWeaker;
                renderResults();
              },
            },
            app.showWeaker ? t.search.hideWeaker : t.search.showWeaker(weaker),
          )
        : null,
    ),
    readAs(r),
    r.spelling.map((s) =>
      h("p", { class: "hint spelling" }, (s.colour ? t.search.shade : t.search.spelling)(s.typed, s.read)),
    ),
    r.unknown.map((w) => h("p", { class: "hint unknown-word" }, t.search.unknown(w))),
    r.language_note
      ? h(
          "p",
          { id: "language-note", class: "hint" },
          t.search.languageNote(r.language_note.language, r.language_note.model),
          " ",
          h("button", { type: "button", class: "link", onclick: () => show("settings") }, t.search.chooseModel),
        )
      : null,
    // Half the evidence or less: worth a word, since the slider alone would not say why.
    r.title_photo_agreement !== null && r.title_photo_agreement < 0.5
      ? h(
          "p",
          { id: "agreement-note", class: "hint" },
          t.search.weakVisualModel(Math.round(100 * Math.max(0, r.title_photo_agreement))),
          " ",
          h("button", { type: "button", class: "link", onclick: () => show("settings") }, t.search.chooseModel),
        )
      : null,
  );
  if (app.hits.length === 0) {
    replace(
      grid,
      h(
        "div",
        { class: "empty" },
        h("h2", {}, t.search.nothing),
        h("p", {}, t.search.nothingHint),
        app.q.category || app.q.color || app.q.minPrice || app.q.maxPrice
          ? h("button", { type: "button", class: "secondary", onclick: clearFilters }, t.search.clearTheFilters)
          : null,
      ),
    );
  } else if (appended) {
    for (const hit of visible.slice(grid.querySelectorAll(".result").length))
      append(grid, [cardAfterCut(hit, r.strong)]);
  } else {
    replace(
      grid,
      visible.flatMap((hit) => cardAfterCut(hit, r.strong)),
    );
  }
  const wanted = allShown ? r.total : r.strong;
  $("#more").hidden = app.hits.length >= wanted;
}

/** Marks a result as "more like this one" or "less like this one" (again: unmarks it) and
 * searches again; each mark shows as a chip whose × undoes it. */
function feedbackButton(hit: Hit, kind: "more" | "less", symbol: string, label: string): HTMLElement {
  const marked = app.q[kind].some((m) => m.sku === hit.sku);
  return h(
    "button",
    {
      type: "button",
      class: `feedback-${kind}`,
      "aria-pressed": String(marked),
      "aria-label": t.search.onResult(label, hit.title || hit.sku),
      title: label,
      onclick: (e: Event) => {
        e.stopPropagation();
        const other = kind === "more" ? "less" : "more";
        app.q[other] = app.q[other].filter((m) => m.sku !== hit.sku);
        app.q[kind] = marked
          ? app.q[kind].filter((m) => m.sku !== hit.sku)
          : [...app.q[kind], { sku: hit.sku, title: hit.title || hit.sku }];
        renderChips();
        void runSearch();
      },
    },
    symbol,
  );
}

/** The right/wrong marks of the typed text's results (none for a search without text). */
async function loadMarks(text: string): Promise<void> {
  app.judgedText = text.trim();
  app.marks = new Map();
  if (!app.judgedText) return;
  try {
    const view = await api.judgements(app.judgedText);
    for (const m of view.marks) app.marks.set(m.sku, m.right);
  } catch (e) {
    console.warn(e);
  }
}

/** Marks a result right or wrong for the typed text (again: unmarks it), for measuring and
 * tuning on the Quality page. */
function judgeButton(hit: Hit, right: boolean): HTMLElement {
  const label = right ? t.search.right : t.search.wrong;
  const pressed = app.marks.get(hit.sku) === right;
  return h(
    "button",
    {
      type: "button",
      class: right ? "judge-right" : "judge-wrong",
      "aria-pressed": String(pressed),
      "aria-label": t.search.onResult(label, hit.title || hit.sku),
      title: label,
      onclick: async (e: Event) => {
        e.stopPropagation();
        const mark = app.marks.get(hit.sku) === right ? null : right;
        try {
          await api.judge(app.judgedText, hit.sku, mark);
          if (mark === null) app.marks.delete(hit.sku);
          else app.marks.set(hit.sku, mark);
          const article = (e.target as HTMLElement).closest("article");
          for (const [cls, value] of [
            ["judge-right", true],
            ["judge-wrong", false],
          ] as const) {
            article?.querySelector(`.${cls}`)?.setAttribute("aria-pressed", String(app.marks.get(hit.sku) === value));
          }
        } catch (err) {
          toast(errorText(err), true);
        }
      },
    },
    right ? "✓" : "✗",
  );
}

/** A result card, preceded by a divider where the weaker matches begin. */
function cardAfterCut(hit: Hit, strong: number): HTMLElement[] {
  if (strong > 0 && hit.rank === strong + 1) {
    return [h("div", { class: "weaker-divider", role: "separator" }, t.search.weakerMatches), card(hit)];
  }
  return [card(hit)];
}

/** The price limits a search ran with, in words ("$32.00 to $48.00"), or null without any. */
function priceLimits(f: SearchResults["filters"] | undefined): string | null {
  const [lo, hi] = [f?.min_price ?? null, f?.max_price ?? null];
  if (lo !== null && hi !== null) return t.search.priceBetween(price(lo), price(hi));
  if (hi !== null) return t.search.priceAtMost(price(hi));
  if (lo !== null) return t.search.priceAtLeast(price(lo));
  return null;
}

/** The orders results can be in, with their labels (the "Sort by" menu's). */
function sortLabels(): [Sort, string][] {
  return [
    ["relevance", t.search.sortRelevance],
    ["price_low", t.search.sortPriceLow],
    ["price_high", t.search.sortPriceHigh],
  ];
}

/** What the typed text was read as, when it was more than words: a chip per phrase read as a
 * "not" term, a price limit or an order (removing one takes the phrase out of the text), then
 * the price limits searched with ("around 40" reads as a range), the order the results are in,
 * and a price limit that was not applied, as no product has a price. */
function readAs(r: SearchResults): HTMLElement | null {
  if (r.read.length === 0) return null;
  const limits = r.read.some((p) => p.kind === "price" && p.applied) ? priceLimits(r.filters) : null;
  const unapplied = r.read.filter((p) => !p.applied);
  const order =
    r.read.some((p) => p.kind === "sort") && r.sort !== "relevance"
      ? (sortLabels().find(([v]) => v === r.sort)?.[1] ?? null)
      : null;
  return h(
    "p",
    { class: "read-as" },
    t.search.readAs(r.text),
    r.read.map((p) =>
      h(
        "span",
        { class: `chip read-chip read-${p.kind}${p.applied ? "" : " read-unapplied"}` },
        p.phrase,
        h(
          "button",
          {
            type: "button",
            class: "chip-x",
            "aria-label": t.search.removePhrase(p.phrase),
            onclick: () => {
              app.q.text = withoutPhrase(app.q.text, p.phrase);
              ($("#search-input") as HTMLInputElement).value = app.q.text;
              void runSearch();
            },
          },
          t.common.remove,
        ),
      ),
    ),
    limits === null ? null : h("span", { class: "read-limits" }, t.search.priceLimits(limits)),
    order === null ? null : h("span", { class: "read-limits read-order" }, order),
    unapplied.map((p) => h("span", { class: "read-limits read-not-applied" }, t.search.noPrices(p.phrase))),
  );
}

export function card(hit: Hit): HTMLElement {
  const img = hit.matched_image;
  const signals = app.page?.results.signals ?? [];
  const why = h(
    "div",
    { class: "why", role: "tooltip" },
    h(
      "table",
      {},
      hit.signals
        .filter((s) => signals.includes(s.signal))
        .map((s) =>
          h(
            "tr",
            { class: s.weight > 0 ? "" : "unweighted", "data-signal": s.signal },
            h("th", {}, t.signals[s.signal]),
            h("td", { class: "bar" }, barSpan(s.score)),
            h("td", {}, score(s.score)),
            h("td", { class: "weight" }, `×${s.weight.toFixed(1)}`),
            h("td", { class: "share", title: t.search.share }, `${Math.round(s.share * 100)}%`),
          ),
        ),
    ),
    hit.penalty > 0 ? h("p", { class: "penalty" }, t.search.penalty(Math.round(hit.penalty * 100))) : null,
    hit.other_kind ? h("p", { class: "other-kind" }, t.search.otherKind) : null,
    img
      ? h(
          "p",
          { class: "matched" },
          t.search.matchedPhoto([img.view, img.color].filter(Boolean).join(", ") || (img.path.split("/").pop() ?? "")),
        )
      : null,
  );
  const el = h(
    "article",
    {
      class: "result",
      tabindex: 0,
      role: "listitem",
      "data-sku": hit.sku,
      "aria-label": t.search.resultLabel(hit.rank, hit.title),
    },
    h(
      "div",
      { class: "thumb" },
      img
        ? h("img", { src: fileUrl(img.thumbnail), alt: "", loading: "lazy" })
        : h("span", { class: "no-photo" }, t.common.noPhoto),
    ),
    h(
      "div",
      { class: "meta" },
      h("h4", { class: "title" }, hit.title || hit.sku),
      h(
        "div",
        { class: "line" },
        h("span", { class: "price" }, price(hit.price)),
        h("span", { class: "score", title: t.search.fused }, score(hit.score)),
      ),
      h("div", { class: "cat" }, leaf(hit.category)),
      h(
        "div",
        { class: "feedback" },
        feedbackButton(hit, "more", "▲", t.search.moreLikeThisOne),
        feedbackButton(hit, "less", "▼", t.search.lessLikeThisOne),
        app.judgedText ? [judgeButton(hit, true), judgeButton(hit, false)] : null,
      ),
    ),
    why,
  );
  el.addEventListener("click", () => void openProduct(hit.sku));
  el.addEventListener("keydown", (e) => onCardKey(e, el, hit.sku));
  return el;
}

export function barSpan(v: number): HTMLElement {
  const s = h("span", { class: "fill" });
  s.style.width = `${Math.round(Math.max(0, Math.min(1, v)) * 100)}%`;
  return s;
}

export function onCardKey(e: KeyboardEvent, el: HTMLElement, sku: string): void {
  const cards = [...document.querySelectorAll<HTMLElement>("#results .result")];
  const i = cards.indexOf(el);
  const perRow = Math.max(1, Math.round($("#results").clientWidth / Math.max(1, el.offsetWidth)));
  const go = (j: number) => cards[Math.max(0, Math.min(cards.length - 1, j))]?.focus();
  switch (e.key) {
    case "ArrowRight":
      go(i + 1);
      break;
    case "ArrowLeft":
      go(i - 1);
      break;
    case "ArrowDown":
      go(i + perRow);
      break;
    case "ArrowUp":
      go(i - perRow);
      break;
    case "Enter":
    case " ":
      void openProduct(sku);
      break;
    default:
      return;
  }
  e.preventDefault();
}

export async function openProduct(sku: string): Promise<void> {
  const drawer = $("#drawer");
  try {
    const { product: p, thumbnails } = await api.product(sku);
    const big = h("img", { class: "big", alt: "", src: thumbnails[0] ? fileUrl(thumbnails[0]) : "" });
    const attrs = Object.entries(p.attributes).map(([k, v]) =>
      h("tr", {}, h("th", {}, k), h("td", {}, Array.isArray(v) ? v.join(", ") : String(v))),
    );
    replace(
      drawer,
      h(
        "div",
        { class: "drawer-head" },
        h("h2", {}, p.title || p.sku),
        h(
          "button",
          { id: "drawer-close", type: "button", class: "ghost", "aria-label": t.common.close, onclick: closeProduct },
          t.common.remove,
        ),
      ),
      h(
        "div",
        { class: "photos" },
        p.images.length ? big : h("p", { class: "empty" }, t.search.productNoPhoto),
        h(
          "div",
          { class: "strip" },
          p.images.map((im, i) =>
            h(
              "button",
              {
                type: "button",
                class: "thumb-btn",
                title: [im.view, im.color].filter(Boolean).join(", "),
                onclick: () => {
                  big.src = fileUrl(im.path);
                },
              },
              h("img", { src: fileUrl(thumbnails[i]), alt: "" }),
            ),
          ),
        ),
      ),
      h(
        "table",
        { class: "facts" },
        h("tr", {}, h("th", {}, t.common.sku), h("td", {}, p.sku)),
        h("tr", {}, h("th", {}, t.common.price), h("td", {}, price(p.price))),
        h("tr", {}, h("th", {}, t.common.category), h("td", {}, p.category)),
        h("tr", {}, h("th", {}, t.common.colour), h("td", {}, p.color)),
        attrs,
      ),
      p.description ? h("p", { class: "description" }, p.description) : null,
      h(
        "button",
        {
          id: "more-like-this",
          type: "button",
          onclick: () => {
            closeProduct();
            void moreLike(p.sku, p.title);
          },
        },
        t.search.moreLikeThis,
      ),
    );
    drawer.hidden = false;
    $("#drawer-close").focus();
  } catch (e) {
    toast(errorText(e), true);
  }
}

export function closeProduct(): void {
  $("#drawer").hidden = true;
}

export async function moreLike(sku: string, title: string): Promise<void> {
  app.q = { ...emptyQuery(), like: sku };
  app.likeTitle = title;
  ($("#search-input") as HTMLInputElement).value = "";
  ($("#not-input") as HTMLInputElement).value = "";
  renderChips();
  renderFilters();
  show("search");
  await runSearch();
}
