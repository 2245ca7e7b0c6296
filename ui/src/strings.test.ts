// @vitest-environment jsdom
// Every piece of text the window shows comes from strings.ts: with a table whose every entry is
// wrapped in ⟦…⟧, each view is drawn with catalog data (marked §) and each text node and
// label is checked to come from the table, the catalog, or be figures and symbols.

import { beforeAll, describe, expect, it, vi } from "vitest";
import { en, type Strings } from "./strings";

vi.mock("@tauri-apps/plugin-dialog", () => ({ open: vi.fn(async () => null), save: vi.fn(async () => null) }));

const weights = { visual: 1, crossmodal: 1, text: 1, keyword: 1, phash: 0.5 };
const signals = ["visual", "crossmodal", "text", "keyword", "phash"] as const;
const hit = (rank: number, sku: string) => ({
  rank,
  sku,
  title: `§Title ${sku}`,
  category: "§Bags/§Totes",
  color: "§red",
  price: 12.5 * rank,
  score: 0.9 / rank,
  penalty: rank === 2 ? 0.2 : 0,
  other_kind: rank === 2,
  signals: signals.map((s) => ({ signal: s, score: 0.5, share: 0.2, raw: 0.3, weight: 1 })),
  matched_image: { path: "/§p/a.jpg", hash: "h", thumbnail: "/§p/a.webp", view: "§front", color: "" },
});
const product = (sku: string) => ({
  product: {
    id: 1,
    sku,
    title: `§Title ${sku}`,
    description: `§A bag for the gym ${sku}`,
    category: "§Bags",
    color: "§red",
    price: sku.endsWith("1") ? 10 : 12,
    attributes: { "§material": "§leather" },
    origin: "csv",
    source: "§s.csv",
    images: [1, 2].map((i) => ({ id: i, product_id: 1, path: `/§p/${i}.jpg`, view: "§side", color: "" })),
  },
  thumbnails: ["/§p/1.webp", "/§p/2.webp"],
});
const pair = (a: string, b: string, decision: string | null) => ({
  a,
  b,
  evidence: {},
  confidence: 0.95,
  decision,
  keep: decision ? a : null,
  variant: null,
});
const member = (sku: string, listed: number) => ({
  listed,
  title: `§Title ${sku}`,
  category: "§Bags",
  color: "§red",
  price: 10 + listed,
  thumbnails: ["/§p/t.webp"],
});

const fakeApi = {
  info: async () => ({
    catalog_dir: "/§catalog",
    models_dir: "/§models",
    device: "auto",
    precision: "f32",
    currency: null,
    stats: { products: 3, images: 6 },
    facets: { categories: [["§Bags", 3]], colors: [["§red", 2]], min_price: 5, max_price: 90 },
    signals: [
      {
        signal: "visual",
        available: false,
        code: "model_missing",
        reason: "§technical reason",
        model_id: "§clip",
        downloadable: true,
        download_mb: 600,
      },
      ...signals.slice(2).map((s) => ({ signal: s, available: true })),
    ],
    default_weights: weights,
    job: null,
  }),
  search: async () => ({
    query_id: 1,
    millis: 12,
    results: {
      text: "§bag",
      not: ["§zip"],
      read: [
        { kind: "not", phrase: "§without zip", applied: true },
        { kind: "price", phrase: "§around 40", applied: true },
        { kind: "sort", phrase: "§cheapest", applied: true },
        { kind: "price", phrase: "§under 500", applied: false },
      ],
      sort: "price_low",
      filters: { category: null, color: null, min_price: 32, max_price: 48, attributes: [] },
      weights,
      signals,
      total: 3,
      strong: 1,
      offset: 0,
      hits: [hit(1, "§A1"), hit(2, "§A2"), hit(3, "§A3")],
      language_note: { language: "§Spanish", model: "§CLIP" },
      spelling: [
        { typed: "§bakpack", read: "§backpack", colour: false },
        { typed: "§navy", read: "§blue", colour: true },
      ],
      unknown: ["§sunglasses"],
      title_photo_agreement: 0.02,
    },
  }),
  rerank: async () => (await fakeApi.search()) as unknown,
  judgements: async () => ({ counts: { queries: 2, usable: 1, right: 3, wrong: 1 }, marks: [] }),
  product: async (sku: string) => product(sku),
  duplicates: async () => ({
    report: {
      thresholds: { phash: 6, visual: 0.93 },
      groups: [
        { id: 1, skus: ["§A1", "§A2"], confidence: 0.95, pairs: [pair("§A1", "§A2", null)], variant: null },
        { id: 2, skus: ["§B1", "§B2"], confidence: 0.9, pairs: [pair("§B1", "§B2", null)], variant: null },
        { id: 3, skus: ["§C1", "§C2"], confidence: 0.9, pairs: [pair("§C1", "§C2", "duplicate")], variant: null },
      ],
      variants: [
        { id: 4, skus: ["§V1", "§V2"], confidence: 1, pairs: [], variant: "§55 cm / 65 cm" },
        { id: 5, skus: ["§W1", "§W2"], confidence: 1, pairs: [], variant: null },
      ],
    },
    members: Object.fromEntries(
      ["§A1", "§A2", "§B1", "§B2", "§C1", "§C2", "§V1", "§V2", "§W1", "§W2"].map((s, i) => [s, member(s, i)]),
    ),
    explanations: [["§same photo"], ["§same photo"], ["§same photo"]],
  }),
  models: async () => [
    {
      id: "§clip",
      name: "§CLIP",
      kind: "clip",
      present: false,
      active: false,
      licence: "§MIT",
      downloadable: true,
      download_mb: 600,
      languages: "§English",
      good_at: "§General photos",
    },
    { id: "§mini", name: "§MiniLM", kind: "text", present: true, active: true, licence: "§Apache" },
    { id: "§other", name: "§Other", kind: "text", present: true, active: false, licence: "§Apache" },
  ],
  evaluate: async () => ({
    queries: 2,
    weights,
    rows: ["fused", "fused: min-max", "fused: rrf", "keyword only"].map((config) => ({
      config,
      scored: 2,
      metrics: { ndcg_10: 0.8, recall_10: 0.7, mrr_10: 0.6, cut_precision: 0.5 },
    })),
  }),
  onProgress: async () => () => {},
  onDone: async () => () => {},
};

vi.mock("./api", () => ({
  api: new Proxy(fakeApi, { get: (o, k: string) => (k in o ? o[k as keyof typeof o] : async () => null) }),
  errorText: (e: unknown) => `§${String(e)}`,
  errorCode: () => null,
  fileUrl: (p: string) => `asset://${p}`,
}));

/** `en` with every sentence wrapped in ⟦…⟧. */
function pseudo<T>(v: T): T {
  if (typeof v === "string") return `⟦${v}⟧` as T;
  if (typeof v === "function") return ((...a: unknown[]) => `⟦${(v as (...a: unknown[]) => string)(...a)}⟧`) as T;
  if (Array.isArray(v)) return v.map(pseudo) as T;
  return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, pseudo(x)])) as T;
}

/** What the window shows that came from neither the table nor the catalog. */
function strays(root: Element): string[] {
  const out: string[] = [];
  const ok = (s: string) => s.includes("⟦") || s.includes("§") || /^[\s\d.,:%×–—+−▲▼✓✗·()/@-]*$/.test(s);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
  for (let n: Node | null = walker.currentNode; n; n = walker.nextNode()) {
    if (n.nodeType === Node.TEXT_NODE) {
      if (!ok(n.textContent ?? "")) out.push(`text “${n.textContent}” in <${n.parentElement?.tagName.toLowerCase()}>`);
    } else {
      const el = n as Element;
      for (const a of ["placeholder", "title", "aria-label", "alt"]) {
        const v = el.getAttribute(a);
        if (v && !ok(v)) out.push(`${a}=“${v}” on <${el.tagName.toLowerCase()}>`);
      }
    }
  }
  return out;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("the window's text comes from strings.ts", () => {
  let main: typeof import("./main");
  let search: typeof import("./views/search");
  let importer: typeof import("./views/importer");

  beforeAll(async () => {
    const strings = await import("./strings");
    strings.useStrings(pseudo<Strings>(en));
    document.body.innerHTML = '<div id="app"></div>';
    main = await import("./main");
    search = await import("./views/search");
    importer = await import("./views/importer");
    await vi.waitFor(() => expect(document.body.dataset.ready).toBe("true"));
  });

  it("on start, with the visual model missing", () => {
    expect(document.querySelector(".model-notice")).not.toBeNull();
    expect(strays(document.body)).toEqual([]);
  });

  it("on the search page with results, read phrases, chips and the product panel", async () => {
    search.renderResults();
    expect(strays(document.body)).toEqual([]);
    (document.querySelector("#search-input") as HTMLInputElement).value = "§bag without zip";
    search.onTyping();
    // The search runs here, not from the typing pause's timer, which could otherwise fire
    // after the test environment is gone.
    window.clearTimeout(search.typingTimer);
    await search.runSearch();
    await search.moreLike("§A1", "§Title A1");
    document.querySelector<HTMLElement>("#weaker")?.click();
    document.querySelector<HTMLElement>(".feedback-more")?.click();
    await tick();
    document.querySelector<HTMLElement>(".feedback-less:not([aria-pressed=true])")?.click();
    await tick();
    document.querySelector<HTMLElement>("#weaker")?.click();
    await search.openProduct("§A1");
    expect(document.querySelectorAll("#results .result").length).toBeGreaterThan(1);
    expect(document.querySelector(".read-as")).not.toBeNull();
    expect(document.querySelector(".read-limits")?.textContent).toContain("48");
    expect(document.querySelector(".read-order")?.textContent).toContain(en.search.sortPriceLow);
    expect(document.querySelector(".read-chip.read-unapplied")?.textContent).toContain("§under 500");
    expect(document.querySelector(".read-not-applied")?.textContent).toContain("§under 500");
    expect(document.querySelector("#language-note")).not.toBeNull();
    expect(document.querySelectorAll(".spelling").length).toBe(2);
    expect(document.querySelector(".unknown-word")?.textContent).toContain("§sunglasses");
    // The result of another kind than the one searched for says why its text counts half.
    expect(document.querySelector('[data-sku="§A2"] .other-kind')?.textContent).toContain(en.search.otherKind);
    expect(document.querySelector('[data-sku="§A1"] .other-kind')).toBeNull();
    expect(strays(document.body)).toEqual([]);
  });

  it("in the duplicates view, its bulk actions, variants and the comparison", async () => {
    main.show("dupes");
    await vi.waitFor(() => expect(document.querySelector("#dupes-list .group")).not.toBeNull());
    document.querySelector<HTMLInputElement>(".group-select")?.click();
    await (await import("./views/duplicates")).openCompare(["§A1", "§A2", "§B1"]);
    expect(document.querySelector("#bulk-target")).not.toBeNull();
    expect(document.querySelector("#compare mark")).not.toBeNull();
    expect(strays(document.body)).toEqual([]);
  });

  it("on the import page, while a job runs and after it", async () => {
    main.show("import");
    importer.startImport();
    importer.onProgress({ kind: "import", phase: "import", done: 5, total: 10, skipped: 1, elapsed_s: 2, message: "" });
    importer.onProgress({
      kind: "download",
      phase: "download",
      done: 5e6,
      total: 9e6,
      skipped: 0,
      elapsed_s: 2,
      message: "§clip",
    });
    expect(strays(document.body)).toEqual([]);
    const skipped = [{ item: "/§x.jpg", line: 3, kind: "corrupt_image", message: "§cannot decode" }];
    await importer.onDone({
      kind: "import",
      ok: true,
      cancelled: false,
      error: null,
      code: null,
      seconds: 3.2,
      import: { products_added: 2, products_updated: 1, images_added: 4, photos_processed: 4, skipped, missing: [{}] },
      embed: { photos_embedded: 4, products_embedded: 2, skipped: [] },
    } as never);
    await importer.onDone({
      kind: "download",
      ok: false,
      cancelled: false,
      error: "§e",
      code: "model_broken",
    } as never);
    expect(document.querySelector("#import-skipped tr")).not.toBeNull();
    expect(strays(document.body)).toEqual([]);
  });

  it("on the quality and settings pages", async () => {
    main.show("quality");
    await tick();
    document.querySelector<HTMLElement>("#quality-measure")?.click();
    await vi.waitFor(() => expect(document.querySelector(".quality-table")).not.toBeNull());
    main.show("settings");
    await vi.waitFor(() => expect(document.querySelector("#models-list tr[data-model]")).not.toBeNull());
    main.togglePresentation();
    expect(strays(document.body)).toEqual([]);
  });

  it("would catch a sentence written in a view", () => {
    document.body.append(Object.assign(document.createElement("p"), { textContent: "Stray words" }));
    expect(strays(document.body)).toEqual(["text “Stray words” in <p>"]);
  });
});
