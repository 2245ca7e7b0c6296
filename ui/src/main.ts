// Vitrine's window: search with sliders and filters, the product panel, import, duplicate
// review and settings. Plain TypeScript over the DOM; every piece of catalog text is set as
// text (see dom.ts).

import { open, save } from "@tauri-apps/plugin-dialog";
import { api, errorText, fileUrl, type DupesView, type Hit, type Info, type JobDone, type Progress, type SearchPage, type Thresholds } from "./api";
import { $, h, replace } from "./dom";
import { count, duration, eta, leaf, price, rate, score, SIGNAL_LABELS } from "./format";
import { buildRequest, categoryTree, emptyQuery, hasQuery } from "./query";
import { MAX_WEIGHT, SIGNALS, SliderState } from "./weights";

type View = "search" | "dupes" | "import" | "settings";

const PAGE = 24;

const app = {
  info: null as Info | null,
  view: "search" as View,
  q: emptyQuery(),
  sliders: new SliderState({ visual: 1, crossmodal: 1, text: 1, keyword: 1, phash: 0.5 }),
  page: null as SearchPage | null,
  hits: [] as Hit[],
  seq: 0,
  dupes: null as DupesView | null,
  thresholds: null as Thresholds | null,
  likeTitle: "",
};

// ---------- layout ----------

function navButton(view: View, label: string): HTMLButtonElement {
  return h("button", { id: `nav-${view}`, class: "nav", type: "button", onclick: () => show(view) }, label);
}

function layout(): void {
  const root = $("#app");
  replace(
    root,
    h(
      "header",
      { class: "top" },
      h("div", { class: "brand" }, "Vitrine"),
      h("nav", {}, navButton("search", "Search"), navButton("dupes", "Duplicates"), navButton("import", "Import"), navButton("settings", "Settings")),
      h("div", { id: "job-pill", class: "pill", hidden: true }),
      h("button", { id: "present-toggle", class: "ghost", type: "button", title: "Large thumbnails for demos (F11 for full screen)", onclick: togglePresentation }, "Presentation"),
    ),
    h("main", {}, searchView(), dupesView(), importView(), settingsView()),
    h("div", { id: "drawer", class: "drawer", hidden: true, role: "dialog", "aria-modal": "true", "aria-label": "Product" }),
    h("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite", hidden: true }),
  );
}

function show(view: View): void {
  app.view = view;
  for (const v of ["search", "dupes", "import", "settings"] as View[]) {
    $(`#view-${v}`).hidden = v !== view;
    $(`#nav-${v}`).classList.toggle("active", v === view);
  }
  if (view === "dupes" && !app.dupes) void loadDupes();
  if (view === "settings") void loadModels();
}

function toast(text: string, error = false): void {
  const t = $("#toast");
  t.textContent = text;
  t.classList.toggle("error", error);
  t.hidden = false;
  window.clearTimeout(Number(t.dataset.timer));
  t.dataset.timer = String(window.setTimeout(() => (t.hidden = true), error ? 8000 : 3500));
}

function togglePresentation(): void {
  const on = document.body.classList.toggle("presenting");
  $("#present-toggle").textContent = on ? "Leave presentation" : "Presentation";
}

// ---------- search ----------

function searchView(): HTMLElement {
  const photoInput = h("input", { id: "photo-input", type: "file", accept: "image/*", class: "visually-hidden", onchange: onPhotoPicked });
  return h(
    "section",
    { id: "view-search", class: "view" },
    h(
      "form",
      { id: "searchbar", class: "searchbar", onsubmit: (e: Event) => { e.preventDefault(); void runSearch(); } },
      h("div", { id: "chips", class: "chips" }),
      h("input", { id: "search-input", type: "search", placeholder: "Describe a product: “red leather handbag under 80”", autocomplete: "off", "aria-label": "Search text", oninput: onTyping }),
      h("input", { id: "not-input", type: "text", placeholder: "not… (comma-separated)", autocomplete: "off", "aria-label": "Leave out", oninput: onTyping }),
      h("label", { class: "button secondary", title: "Search with a photo: pick one, drop it on the window, or paste it" }, "Photo…", photoInput),
      h("button", { id: "search-go", type: "submit" }, "Search"),
    ),
    h(
      "div",
      { class: "search-body" },
      h("aside", { class: "side" }, h("h3", {}, "Filters"), h("div", { id: "filters" }), h("h3", {}, "What counts"), h("div", { id: "sliders" })),
      h(
        "div",
        { class: "results-wrap" },
        h("div", { id: "result-summary", class: "summary" }),
        h("div", { id: "results", class: "grid", role: "list" }),
        h("button", { id: "more", class: "secondary more", type: "button", hidden: true, onclick: () => void loadMore() }, "Show more"),
      ),
    ),
  );
}

function renderFilters(): void {
  const info = app.info;
  const f = $("#filters");
  if (!info) return;
  const cat = h(
    "select",
    { id: "filter-category", "aria-label": "Category", onchange: (e: Event) => { app.q.category = (e.target as HTMLSelectElement).value; void runSearch(); } },
    h("option", { value: "" }, "All categories"),
    categoryTree(info.facets.categories).map((c) =>
      h("option", { value: c.path, selected: c.path === app.q.category }, `${"\u2003".repeat(c.depth)}${c.label} (${c.count})`),
    ),
  );
  const color = h(
    "select",
    { id: "filter-color", "aria-label": "Colour", onchange: (e: Event) => { app.q.color = (e.target as HTMLSelectElement).value; void runSearch(); } },
    h("option", { value: "" }, "Any colour"),
    info.facets.colors.map(([c, n]) => h("option", { value: c, selected: c === app.q.color }, `${c} (${n})`)),
  );
  const priceBox = (id: string, label: string, key: "minPrice" | "maxPrice", hint: number | null) =>
    h("input", {
      id, type: "text", inputmode: "decimal", "aria-label": label, placeholder: hint === null ? label : `${label} (${price(hint)})`,
      value: app.q[key],
      onchange: (e: Event) => { app.q[key] = (e.target as HTMLInputElement).value; void runSearch(); },
    });
  replace(
    f,
    h("label", {}, "Category", cat),
    h("label", {}, "Colour", color),
    h("div", { class: "price-range" }, priceBox("min-price", "Min", "minPrice", info.facets.min_price), "–", priceBox("max-price", "Max", "maxPrice", info.facets.max_price)),
    h("button", { type: "button", class: "link", onclick: clearFilters }, "Clear filters"),
  );
}

function clearFilters(): void {
  Object.assign(app.q, { category: "", color: "", minPrice: "", maxPrice: "" });
  renderFilters();
  void runSearch();
}

function renderSliders(): void {
  const box = $("#sliders");
  const rows = SIGNALS.map((s) => {
    const off = app.sliders.disabled(s);
    const out = h("output", { id: `slider-${s}-value` }, app.sliders.get(s).toFixed(1));
    const input = h("input", {
      id: `slider-${s}`, type: "range", min: 0, max: MAX_WEIGHT, step: 0.1, value: app.sliders.get(s),
      disabled: off !== null, "aria-label": SIGNAL_LABELS[s],
      oninput: (e: Event) => {
        app.sliders.set(s, Number((e.target as HTMLInputElement).value));
        out.textContent = app.sliders.get(s).toFixed(1);
        void rerank();
      },
    });
    return h(
      "div",
      { class: `slider${off ? " off" : ""}` },
      h("label", { for: `slider-${s}` }, SIGNAL_LABELS[s], out),
      input,
      off && h("p", { class: "why-off" }, off.reason ?? "Its model is not available.", off.how ? h("span", { class: "how" }, ` ${off.how}`) : null),
    );
  });
  replace(box, rows, h("button", { id: "sliders-reset", type: "button", class: "link", onclick: () => { app.sliders.reset(); renderSliders(); void rerank(); } }, "Reset to defaults"));
}

let typingTimer = 0;
function onTyping(): void {
  app.q.text = ($("#search-input") as HTMLInputElement).value;
  app.q.notText = ($("#not-input") as HTMLInputElement).value;
  window.clearTimeout(typingTimer);
  typingTimer = window.setTimeout(() => void runSearch(), 400);
}

function renderChips(): void {
  const chips = $("#chips");
  const list: HTMLElement[] = [];
  if (app.q.photo) {
    list.push(
      h("span", { class: "chip photo-chip" }, h("img", { src: app.q.photo.url, alt: "" }), app.q.photo.name,
        h("button", { type: "button", class: "chip-x", "aria-label": "Remove the photo", onclick: () => { app.q.photo = null; renderChips(); void runSearch(); } }, "×")),
    );
  }
  if (app.q.like) {
    list.push(
      h("span", { class: "chip like-chip" }, `More like: ${app.likeTitle}`,
        h("button", { type: "button", class: "chip-x", "aria-label": "Remove “more like this”", onclick: () => { app.q.like = null; renderChips(); void runSearch(); } }, "×")),
    );
  }
  replace(chips, list);
}

async function usePhoto(blob: Blob, name: string): Promise<void> {
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

function onPhotoPicked(e: Event): void {
  const input = e.target as HTMLInputElement;
  const f = input.files?.[0];
  if (f) void usePhoto(f, f.name);
  input.value = "";
}

function wirePhotoDrops(): void {
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
    const f = [...(e.dataTransfer?.files ?? [])].find((x) => x.type.startsWith("image/") || /\.(jpe?g|png|webp|gif|bmp|tiff?)$/i.test(x.name));
    if (f) void usePhoto(f, f.name);
    else toast("Drop a photo (JPEG, PNG, WebP…) to search with it.", true);
  });
  window.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.type.startsWith("image/"));
    const f = item?.getAsFile();
    if (f) {
      e.preventDefault();
      void usePhoto(f, "Pasted photo");
    }
  });
}

async function runSearch(): Promise<void> {
  const seq = ++app.seq;
  if (!hasQuery(app.q)) {
    app.page = null;
    app.hits = [];
    renderResults();
    return;
  }
  setBusy(true);
  try {
    const page = await api.search(buildRequest(app.q, app.sliders.weights(), PAGE));
    if (seq !== app.seq) return;
    app.page = page;
    app.hits = page.results.hits;
    renderResults();
  } catch (e) {
    if (seq === app.seq) showSearchError(errorText(e));
  } finally {
    if (seq === app.seq) setBusy(false);
  }
}

/** New weights: fuse the same candidates again, keeping as many results as are shown. */
async function rerank(): Promise<void> {
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

async function loadMore(): Promise<void> {
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

function setBusy(on: boolean): void {
  $("#results").setAttribute("aria-busy", String(on));
  document.body.classList.toggle("busy", on);
}

function showSearchError(text: string): void {
  replace($("#result-summary"), h("p", { class: "error" }, text));
  replace($("#results"));
  $("#more").hidden = true;
}

function renderResults(appended = false): void {
  const grid = $("#results");
  const summary = $("#result-summary");
  const info = app.info;
  if (info && info.stats.products === 0) {
    replace(summary);
    replace(grid, h("div", { class: "empty" }, h("h2", {}, "Your catalog is empty"), h("p", {}, "Import a folder of product photos, a CSV of products, or both."), h("button", { type: "button", onclick: () => show("import") }, "Import products")));
    $("#more").hidden = true;
    return;
  }
  if (!app.page) {
    replace(summary);
    replace(grid, h("div", { class: "empty" }, h("h2", {}, "Search your catalog"), h("p", {}, "Type a description, or drop a photo anywhere on the window, paste one, or pick one with “Photo…”. Add words to “not…” to push products down.")));
    $("#more").hidden = true;
    return;
  }
  const r = app.page.results;
  const used = r.signals.filter((s) => r.weights[s] > 0).map((s) => SIGNAL_LABELS[s]).join(", ");
  replace(summary, h("p", {}, `${count(r.total, "product")} · ${used || "no signal weighted"} · ${Math.round(app.page.millis)} ms`));
  if (app.hits.length === 0) {
    replace(grid, h("div", { class: "empty" }, h("h2", {}, "Nothing matches"), h("p", {}, "Try fewer words, clear a filter, or raise another signal’s weight.")));
  } else if (appended) {
    for (const hit of app.hits.slice(grid.children.length)) grid.appendChild(card(hit));
  } else {
    replace(grid, app.hits.map(card));
  }
  $("#more").hidden = app.hits.length >= r.total;
}

function card(hit: Hit): HTMLElement {
  const img = hit.matched_image;
  const signals = app.page?.results.signals ?? [];
  const why = h(
    "div",
    { class: "why", role: "tooltip" },
    h("table", {},
      hit.signals.filter((s) => signals.includes(s.signal)).map((s) =>
        h("tr", { class: s.weight > 0 ? "" : "unweighted", "data-signal": s.signal },
          h("th", {}, SIGNAL_LABELS[s.signal]),
          h("td", { class: "bar" }, barSpan(s.score)),
          h("td", {}, score(s.score)),
          h("td", { class: "weight" }, `×${s.weight.toFixed(1)}`),
        ),
      ),
    ),
    hit.penalty > 0 ? h("p", { class: "penalty" }, `“Not” terms: −${Math.round(hit.penalty * 100)}%`) : null,
    img ? h("p", { class: "matched" }, `Matched photo: ${[img.view, img.color].filter(Boolean).join(", ") || img.path.split("/").pop()}`) : null,
  );
  const el = h(
    "article",
    { class: "result", tabindex: 0, role: "listitem", "data-sku": hit.sku, "aria-label": `${hit.rank}. ${hit.title}` },
    h("div", { class: "thumb" }, img ? h("img", { src: fileUrl(img.thumbnail), alt: "", loading: "lazy" }) : h("span", { class: "no-photo" }, "No photo")),
    h("div", { class: "meta" },
      h("h4", { class: "title" }, hit.title || hit.sku),
      h("div", { class: "line" }, h("span", { class: "price" }, price(hit.price)), h("span", { class: "score", title: "Fused score" }, score(hit.score))),
      h("div", { class: "cat" }, leaf(hit.category)),
    ),
    why,
  );
  el.addEventListener("click", () => void openProduct(hit.sku));
  el.addEventListener("keydown", (e) => onCardKey(e, el, hit.sku));
  return el;
}

function barSpan(v: number): HTMLElement {
  const s = h("span", { class: "fill" });
  s.style.width = `${Math.round(Math.max(0, Math.min(1, v)) * 100)}%`;
  return s;
}

function onCardKey(e: KeyboardEvent, el: HTMLElement, sku: string): void {
  const cards = [...document.querySelectorAll<HTMLElement>("#results .result")];
  const i = cards.indexOf(el);
  const perRow = Math.max(1, Math.round($("#results").clientWidth / Math.max(1, el.offsetWidth)));
  const go = (j: number) => cards[Math.max(0, Math.min(cards.length - 1, j))]?.focus();
  switch (e.key) {
    case "ArrowRight": go(i + 1); break;
    case "ArrowLeft": go(i - 1); break;
    case "ArrowDown": go(i + perRow); break;
    case "ArrowUp": go(i - perRow); break;
    case "Enter": case " ": void openProduct(sku); break;
    default: return;
  }
  e.preventDefault();
}

// ---------- product panel ----------

async function openProduct(sku: string): Promise<void> {
  const drawer = $("#drawer");
  try {
    const { product: p, thumbnails } = await api.product(sku);
    const big = h("img", { class: "big", alt: "", src: thumbnails[0] ? fileUrl(thumbnails[0]) : "" });
    const attrs = Object.entries(p.attributes).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, Array.isArray(v) ? v.join(", ") : String(v))));
    replace(
      drawer,
      h("div", { class: "drawer-head" },
        h("h2", {}, p.title || p.sku),
        h("button", { id: "drawer-close", type: "button", class: "ghost", "aria-label": "Close", onclick: closeProduct }, "×")),
      h("div", { class: "photos" },
        p.images.length ? big : h("p", { class: "empty" }, "This product has no photo."),
        h("div", { class: "strip" }, p.images.map((im, i) =>
          h("button", { type: "button", class: "thumb-btn", title: [im.view, im.color].filter(Boolean).join(", "), onclick: () => { big.src = fileUrl(im.path); } },
            h("img", { src: fileUrl(thumbnails[i]), alt: "" })))),
      ),
      h("table", { class: "facts" },
        h("tr", {}, h("th", {}, "SKU"), h("td", {}, p.sku)),
        h("tr", {}, h("th", {}, "Price"), h("td", {}, price(p.price))),
        h("tr", {}, h("th", {}, "Category"), h("td", {}, p.category)),
        h("tr", {}, h("th", {}, "Colour"), h("td", {}, p.color)),
        attrs),
      p.description ? h("p", { class: "description" }, p.description) : null,
      h("button", { id: "more-like-this", type: "button", onclick: () => { closeProduct(); void moreLike(p.sku, p.title); } }, "More like this"),
    );
    drawer.hidden = false;
    $("#drawer-close").focus();
  } catch (e) {
    toast(errorText(e), true);
  }
}

function closeProduct(): void {
  $("#drawer").hidden = true;
}

async function moreLike(sku: string, title: string): Promise<void> {
  app.q = { ...emptyQuery(), like: sku };
  app.likeTitle = title;
  ($("#search-input") as HTMLInputElement).value = "";
  ($("#not-input") as HTMLInputElement).value = "";
  renderChips();
  renderFilters();
  show("search");
  await runSearch();
}

// ---------- import ----------

function importView(): HTMLElement {
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
    h("p", { class: "hint" }, "A folder of photos, a CSV of products, or both. Photos named in the CSV are matched to the folders. Importing again reads only what changed."),
    h("label", { for: "import-path" }, "Folders and CSV files, one per line (type or paste paths)"),
    h("textarea", { id: "import-path", rows: 3, spellcheck: "false", placeholder: "/home/me/shop/products.csv\n/home/me/shop/photos" }),
    h("div", { class: "row" },
      h("button", { type: "button", class: "secondary", onclick: choose(true) }, "Choose folder…"),
      h("button", { type: "button", class: "secondary", onclick: choose(false) }, "Choose CSV…"),
      h("label", { class: "check" }, h("input", { id: "import-prune", type: "checkbox" }), "Remove products whose files are gone"),
    ),
    h("div", { class: "row" },
      h("button", { id: "import-start", type: "button", onclick: startImport }, "Import"),
      h("button", { id: "import-rescan", type: "button", class: "secondary", onclick: () => void runJob(api.rescan) }, "Rescan previous sources"),
      h("button", { id: "import-cancel", type: "button", class: "danger", hidden: true, onclick: () => void api.cancelJob() }, "Cancel"),
    ),
    h("progress", { id: "import-progress", max: 1, value: 0, hidden: true }),
    h("p", { id: "import-status", class: "status", "aria-live": "polite" }),
    h("div", { id: "import-report" }),
  );
}

function startImport(): void {
  const paths = ($("#import-path") as HTMLTextAreaElement).value.split("\n").map((p) => p.trim()).filter(Boolean);
  if (!paths.length) {
    $("#import-status").textContent = "Type or choose a folder of photos or a CSV file first.";
    return;
  }
  const prune = ($("#import-prune") as HTMLInputElement).checked;
  void runJob(() => api.startImport(paths, prune));
}

/** Shows the job as running, then starts it; events may arrive before `start` resolves. */
async function runJob(start: () => Promise<void>): Promise<void> {
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

const PHASES: Record<Progress["phase"], [string, string]> = {
  import: ["Reading photos", "photos"],
  embed: ["Understanding photos and text", "items"],
  index: ["Building the search index", "items"],
  download: ["Downloading", "bytes"],
};

function onProgress(p: Progress): void {
  const [label, unit] = PHASES[p.phase];
  const text = p.phase === "index"
    ? `${label}…`
    : `${label}: ${p.done.toLocaleString("en-US")} of ${p.total.toLocaleString("en-US")}${p.skipped ? ` (${p.skipped} skipped)` : ""} · ${rate(p.done, p.elapsed_s, unit)} ${eta(p.done, p.total, p.elapsed_s)}`;
  const pill = $("#job-pill");
  pill.hidden = false;
  pill.textContent = p.total ? `${label} ${Math.floor((100 * p.done) / p.total)}%` : label;
  if (p.kind === "download") {
    const s = document.getElementById("models-status");
    if (s) s.textContent = `${p.message}: ${Math.floor(p.done / 1e6)} of ${Math.floor(p.total / 1e6)} MB`;
    return;
  }
  const bar = $("#import-progress") as HTMLProgressElement;
  bar.hidden = false;
  bar.max = Math.max(1, p.total);
  bar.value = p.done;
  bar.dataset.phase = p.phase;
  $("#import-status").textContent = text.trim();
}

async function onDone(d: JobDone): Promise<void> {
  $("#job-pill").hidden = true;
  $("#import-cancel").hidden = true;
  $("#import-start").removeAttribute("disabled");
  if (d.kind === "download") {
    toast(d.ok ? "Model downloaded." : `Download failed: ${d.error}`, !d.ok);
    await refresh();
    await loadModels();
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
    imp && h("ul", { class: "counts" },
      h("li", {}, `${count(imp.products_added, "product")} added, ${imp.products_updated} updated`),
      h("li", {}, `${count(imp.images_added, "photo")} added, ${imp.photos_processed} read`),
      d.embed && h("li", {}, `${count(d.embed.photos_embedded, "photo")} and ${count(d.embed.products_embedded, "product")} embedded`),
      imp.missing.length ? h("li", {}, `${count(imp.missing.length, "item")} no longer in the sources`) : null),
    skipped.length
      ? h("details", { id: "import-skipped", open: true },
        h("summary", {}, `${count(skipped.length, "item")} skipped`),
        h("table", {}, h("tr", {}, h("th", {}, "Item"), h("th", {}, "Why")),
          skipped.map((s) => h("tr", {}, h("td", { class: "path" }, s.line ? `${s.item} (line ${s.line})` : s.item), h("td", {}, s.message)))))
      : h("p", { id: "import-skipped" }, "Nothing was skipped."),
  );
  await refresh();
  app.dupes = null;
  if (hasQuery(app.q)) await runSearch();
  else renderResults();
}

// ---------- duplicates ----------

function dupesView(): HTMLElement {
  return h(
    "section",
    { id: "view-dupes", class: "view", hidden: true },
    h("div", { class: "dupes-head" },
      h("h2", {}, "Duplicate listings"),
      h("div", { id: "dupes-controls", class: "row" }),
      h("p", { id: "dupes-count", class: "status", "aria-live": "polite" }),
      h("button", { id: "dupes-export", type: "button", class: "secondary", onclick: exportMergeMap }, "Export merge map…")),
    h("div", { id: "dupes-list" }),
  );
}

let dupesTimer = 0;
function renderDupesControls(t: Thresholds): void {
  const slider = (key: "phash" | "visual", label: string, min: number, max: number, step: number, fmt: (v: number) => string) => {
    const out = h("output", {}, fmt(t[key]));
    return h("label", { class: "threshold" }, label, h("input", {
      id: `threshold-${key}`, type: "range", min, max, step, value: t[key],
      oninput: (e: Event) => {
        const v = Number((e.target as HTMLInputElement).value);
        app.thresholds = { ...(app.thresholds ?? t), [key]: v };
        out.textContent = fmt(v);
        window.clearTimeout(dupesTimer);
        dupesTimer = window.setTimeout(() => void loadDupes(), 250);
      },
    }), out);
  };
  replace($("#dupes-controls"),
    slider("phash", "Photo difference allowed", 0, 16, 1, (v) => `${v} bits`),
    slider("visual", "Visual similarity needed", 0.8, 0.99, 0.01, (v) => v.toFixed(2)),
    h("button", { type: "button", class: "link", onclick: () => { app.thresholds = null; void loadDupes(); } }, "Defaults"));
}

async function loadDupes(): Promise<void> {
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

function groupDecision(g: DupesView["report"]["groups"][number]): string {
  const ds = new Set(g.pairs.map((p) => p.decision ?? "undecided"));
  if (ds.size !== 1) return ds.has("undecided") ? "partly decided" : "mixed decisions";
  const [d] = ds;
  if (d === "duplicate") return `duplicate, keep ${g.pairs[0].keep ?? "?"}`;
  return { not_duplicate: "not duplicates", variants: "variants", undecided: "undecided" }[d] ?? d;
}

function renderDupes(): void {
  const v = app.dupes;
  if (!v) return;
  const groups = v.report.groups;
  $("#dupes-count").textContent = groups.length ? `${count(groups.length, "group")} of possible duplicates` : "";
  if (!groups.length) {
    replace($("#dupes-list"), h("div", { class: "empty" }, h("h2", {}, "No duplicates found"), h("p", {}, "Allow more photo difference or less visual similarity to see looser matches.")));
    return;
  }
  replace($("#dupes-list"), groups.map((g, gi) => {
    const decide = async (d: "duplicate" | "not_duplicate" | "variants", keep: string | null) => {
      try {
        await api.decide(d, g.skus, keep);
        toast(d === "duplicate" ? "Decision saved." : "Decision saved; the group leaves the list until its photos change.");
        await loadDupes();
      } catch (e) {
        toast(errorText(e), true);
      }
    };
    return h("article", { class: "group", "data-group": g.id, "data-decision": groupDecision(g) },
      h("header", {}, h("span", { class: "conf" }, `Confidence ${score(g.confidence)}`), h("span", { class: "decision" }, groupDecision(g))),
      h("div", { class: "members" }, g.skus.map((sku) => {
        const m = v.members[sku];
        return h("div", { class: "member", "data-sku": sku },
          m?.thumbnails[0] ? h("img", { src: fileUrl(m.thumbnails[0]), alt: "" }) : h("span", { class: "no-photo" }, "No photo"),
          h("h4", {}, m?.title ?? sku),
          h("p", {}, `${sku} · ${price(m?.price)}`),
          h("button", { type: "button", class: "keep secondary", "data-sku": sku, onclick: () => void decide("duplicate", sku) }, "Keep this one"));
      })),
      h("ul", { class: "evidence" }, v.explanations[gi].map((t, pi) => h("li", {}, `${g.pairs[pi].a} ↔ ${g.pairs[pi].b}: ${t}`))),
      h("div", { class: "row" },
        h("button", { type: "button", class: "decide-not secondary", onclick: () => void decide("not_duplicate", null) }, "Not duplicates"),
        h("button", { type: "button", class: "decide-variants secondary", onclick: () => void decide("variants", null) }, "Variants of one product")));
  }));
}

async function exportMergeMap(): Promise<void> {
  const path = await save({ title: "Save the merge map", defaultPath: "vitrine-merge-map.csv", filters: [{ name: "CSV", extensions: ["csv"] }] });
  if (!path) return;
  try {
    const n = await api.exportMergeMap(path, app.thresholds);
    toast(`Saved the merge map (${count(n, "duplicate pair")}) to ${path}`);
  } catch (e) {
    toast(errorText(e), true);
  }
}

// ---------- settings ----------

function settingsView(): HTMLElement {
  const pick = (id: string) => async () => {
    const dir = await open({ directory: true, multiple: false });
    if (typeof dir === "string") ($(`#${id}`) as HTMLInputElement).value = dir;
  };
  return h(
    "section",
    { id: "view-settings", class: "view narrow", hidden: true },
    h("h2", {}, "Settings"),
    h("label", { for: "settings-catalog" }, "Catalog folder"),
    h("div", { class: "row" }, h("input", { id: "settings-catalog", type: "text" }), h("button", { type: "button", class: "secondary", onclick: pick("settings-catalog") }, "Choose…")),
    h("label", { for: "settings-models" }, "Models folder"),
    h("div", { class: "row" }, h("input", { id: "settings-models", type: "text" }), h("button", { type: "button", class: "secondary", onclick: pick("settings-models") }, "Choose…")),
    h("label", { for: "settings-device" }, "Run models on"),
    h("select", { id: "settings-device" }, ["auto", "cpu", "cuda", "metal"].map((d) => h("option", { value: d }, d === "auto" ? "Automatic (GPU when present)" : d.toUpperCase()))),
    h("label", { for: "settings-precision" }, "Visual model (CLIP) precision"),
    h("select", { id: "settings-precision" },
      h("option", { value: "f32" }, "Full (f32)"),
      h("option", { value: "int8" }, "Fast (int8 weights; results within about 1%)")),
    h("div", { class: "row" }, h("button", { id: "settings-apply", type: "button", onclick: applySettings }, "Apply")),
    h("h3", {}, "Models"),
    h("p", { id: "models-status", class: "status" }),
    h("div", { id: "models-list" }),
    h("button", { type: "button", class: "secondary", onclick: addModelFolder }, "Use a model from a folder…"),
  );
}

function renderSettings(): void {
  const info = app.info;
  if (!info) return;
  ($("#settings-catalog") as HTMLInputElement).value = info.catalog_dir;
  ($("#settings-models") as HTMLInputElement).value = info.models_dir;
  ($("#settings-device") as HTMLSelectElement).value = info.device;
  ($("#settings-precision") as HTMLSelectElement).value = info.precision;
}

async function applySettings(): Promise<void> {
  try {
    await api.applySettings({
      catalog: ($("#settings-catalog") as HTMLInputElement).value.trim() || null,
      models: ($("#settings-models") as HTMLInputElement).value.trim() || null,
      device: ($("#settings-device") as HTMLSelectElement).value,
      precision: ($("#settings-precision") as HTMLSelectElement).value,
    });
    app.q = emptyQuery();
    app.page = null;
    app.hits = [];
    app.dupes = null;
    await refresh();
    renderResults();
    toast("Settings applied.");
  } catch (e) {
    toast(errorText(e), true);
  }
}

async function loadModels(): Promise<void> {
  try {
    const list = await api.models();
    replace($("#models-list"), h("table", { class: "models" },
      h("tr", {}, h("th", {}, "Model"), h("th", {}, "For"), h("th", {}, "Status"), h("th", {})),
      list.map((m) => h("tr", { "data-model": m.id },
        h("td", {}, m.name, h("div", { class: "hint" }, m.licence)),
        h("td", {}, m.kind === "clip" ? "Photos and text" : "Product text"),
        h("td", {}, m.active ? "In use" : m.present ? "Ready" : "Not downloaded", !m.present ? h("div", { class: "hint" }, m.how) : null),
        h("td", {},
          !m.present && m.downloadable ? h("button", { type: "button", class: "secondary", onclick: () => void api.downloadModel(m.id).catch((e) => toast(errorText(e), true)) }, "Download") : null,
          m.present && !m.active ? h("button", { type: "button", class: "secondary", onclick: () => void useModel(m.id) }, "Use") : null)))));
  } catch (e) {
    $("#models-status").textContent = errorText(e);
  }
}

async function useModel(id: string): Promise<void> {
  try {
    await api.useModel(id);
    toast("Model chosen. Rescan on the Import page to embed the catalog with it; searches use the previous model until then.");
    await loadModels();
    await refresh();
  } catch (e) {
    toast(errorText(e), true);
  }
}

async function addModelFolder(): Promise<void> {
  const dir = await open({ directory: true, multiple: false, title: "A model folder (config.json, tokenizer.json, model.safetensors)" });
  if (typeof dir !== "string") return;
  try {
    const id = await api.addModelFolder(dir);
    toast(`Added the model ${id}. Rescan on the Import page to embed the catalog with it.`);
    await loadModels();
  } catch (e) {
    toast(errorText(e), true);
  }
}

// ---------- start ----------

async function refresh(): Promise<void> {
  try {
    app.info = await api.info();
    app.sliders.setAvailability(app.info.signals);
    renderFilters();
    renderSliders();
    renderSettings();
    document.body.dataset.ready = "true";
  } catch (e) {
    replace($("#result-summary"), h("p", { class: "error" }, `The catalog could not be opened: ${errorText(e)}. Choose another folder in Settings.`));
  }
}

async function start(): Promise<void> {
  layout();
  show("search");
  renderSliders();
  renderChips();
  wirePhotoDrops();
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeProduct();
    if (e.key === "/" && document.activeElement?.tagName !== "INPUT" && document.activeElement?.tagName !== "TEXTAREA") {
      e.preventDefault();
      $("#search-input").focus();
    }
  });
  await api.onProgress(onProgress);
  await api.onDone((d) => void onDone(d));
  await refresh();
  renderResults();
  $("#search-input").focus();
}

void start();
