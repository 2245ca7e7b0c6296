import { describe, expect, it } from "vitest";
import { count, eta, leaf, price, rate, score, setMoney } from "./format";
import {
  buildRequest,
  categoryTree,
  emptyQuery,
  filters,
  hasQuery,
  notTerms,
  parsePrice,
  withoutPhrase,
} from "./query";
import { diffWords } from "./diff";
import { modelNotice, SliderState } from "./weights";

const defaults = { visual: 1, crossmodal: 1, text: 1, keyword: 1, phash: 0.5 };

describe("query building", () => {
  it("takes a read phrase out of the typed text", () => {
    expect(withoutPhrase("jacket  with no hood under $80", "with no hood")).toBe("jacket under $80");
    expect(withoutPhrase("bag under 50", "under 50")).toBe("bag");
    expect(withoutPhrase("bag under 50", "without zip")).toBe("bag under 50");
  });

  it("splits not terms on commas, trims, lower-cases and drops repeats", () => {
    expect(notTerms(" Leather, kids ,, LEATHER ")).toEqual(["leather", "kids"]);
    expect(notTerms("")).toEqual([]);
  });

  it("reads prices with a comma or a dot and refuses junk", () => {
    expect(parsePrice("12,50")).toBe(12.5);
    expect(parsePrice(" 80 ")).toBe(80);
    expect(parsePrice("abc")).toBeNull();
    expect(parsePrice("-3")).toBeNull();
    expect(parsePrice("")).toBeNull();
  });

  it("swaps a price range typed the wrong way round", () => {
    const q = { ...emptyQuery(), minPrice: "90", maxPrice: "20" };
    expect(filters(q)).toMatchObject({ min_price: 20, max_price: 90 });
  });

  it("puts text, not terms, the photo chip and filters in the request", () => {
    const q = {
      ...emptyQuery(),
      text: "  red bag ",
      notText: "leather",
      photo: { id: 7, name: "a.jpg", url: "blob:x" },
      category: "Gear/Bags",
      color: "Red",
      more: [{ sku: "MB02", title: "Fusion Backpack" }],
      sort: "price_low" as const,
    };
    const r = buildRequest(q, defaults, 24, 48);
    expect(r).toEqual({
      text: "red bag",
      not: ["leather"],
      photo: 7,
      like: null,
      more: ["MB02"],
      less: [],
      filters: { category: "Gear/Bags", color: "Red", min_price: null, max_price: null, attributes: [] },
      sort: "price_low",
      weights: defaults,
      k: 24,
      offset: 48,
    });
  });

  it("has a query only with text, a photo or a product to match", () => {
    expect(hasQuery(emptyQuery())).toBe(false);
    expect(hasQuery({ ...emptyQuery(), text: "   " })).toBe(false);
    expect(hasQuery({ ...emptyQuery(), like: "MB01" })).toBe(true);
  });

  it("lays categories out as an indented tree", () => {
    expect(
      categoryTree([
        ["Gear/Bags", 3],
        ["Gear", 5],
      ]),
    ).toEqual([
      { path: "Gear", label: "Gear", depth: 0, count: 5 },
      { path: "Gear/Bags", label: "Bags", depth: 1, count: 3 },
    ]);
  });
});

describe("slider state", () => {
  it("clamps, resets and reports defaults", () => {
    const s = new SliderState(defaults);
    s.set("keyword", 9);
    expect(s.get("keyword")).toBe(3);
    s.set("text", -1);
    expect(s.get("text")).toBe(0);
    s.set("visual", Number.NaN);
    expect(s.get("visual")).toBe(1);
    expect(s.isDefault()).toBe(false);
    s.reset();
    expect(s.isDefault()).toBe(true);
  });

  it("weighs signals whose model is absent at 0 and says why", () => {
    const s = new SliderState(defaults);
    const off = { code: "model_missing", model_id: "clip", downloadable: true, download_mb: 605 };
    s.setAvailability([
      { signal: "visual", available: false, reason: "CLIP is not downloaded", ...off },
      {
        signal: "text",
        available: true,
        reason: null,
        code: null,
        model_id: null,
        downloadable: false,
        download_mb: null,
      },
    ]);
    expect(s.weights().visual).toBe(0);
    expect(s.weights().text).toBe(1);
    expect(s.get("visual")).toBe(1);
    expect(s.disabled("visual")?.reason).toBe("CLIP is not downloaded");
    expect(s.disabled("text")).toBeNull();
    const said = modelNotice(s.disabled("visual")!);
    expect(said).toBe("Searching by photo needs the visual model, which is not on this computer yet.");
    expect(said).not.toMatch(/--|VITRINE_|\//);
  });
});

describe("formatting", () => {
  it("formats prices, scores and counts", () => {
    setMoney(null, "en-US");
    expect(price(1234.5)).toBe("1,234.50");
    expect(price(null)).toBe("no price");
    setMoney("EUR", "de-DE");
    expect(price(1234.5).replace(/\s/g, " ")).toBe("1.234,50 €");
    setMoney("USD", "en-US");
    expect(price(34)).toBe("$34.00");
    setMoney("ZZZ", "en-US");
    expect(price(2)).toMatch(/2\.00/);
    setMoney(null, "en-US");
    expect(score(0.8765)).toBe("0.88");
    expect(count(1, "product")).toBe("1 product");
    expect(count(2, "product")).toBe("2 products");
    expect(leaf("Women/Tops/Jackets")).toBe("Jackets");
  });

  it("gives a rate and the time left only once there is progress", () => {
    expect(rate(0, 1, "photos")).toBe("");
    expect(rate(150, 2, "photos")).toBe("75 photos/s");
    expect(rate(3, 2, "photos")).toBe("1.5 photos/s");
    expect(eta(0, 100, 5)).toBe("");
    expect(eta(50, 100, 10)).toBe("about 10.0 s left");
  });
});

describe("word differences", () => {
  const marked = (ps: { text: string; changed: boolean }[]) =>
    ps
      .filter((p) => p.changed)
      .map((p) => p.text.trim())
      .join("|");

  it("marks the words one text has and the other lacks", () => {
    const [a, b] = diffWords("Sprite Stasis Ball 55 cm", "Sprite Stasis Ball 65 cm");
    expect(marked(a)).toBe("55");
    expect(marked(b)).toBe("65");
    expect(a.map((p) => p.text).join("")).toBe("Sprite Stasis Ball 55 cm");
  });

  it("ignores case, and marks an added sentence as one run", () => {
    const [a, b] = diffWords("Soft cotton tee.", "soft cotton tee. Machine wash cold.");
    expect(marked(a)).toBe("");
    expect(marked(b)).toBe("Machine wash cold.");
  });

  it("handles empty texts", () => {
    expect(diffWords("", "")).toEqual([[], []]);
    const [a, b] = diffWords("", "New");
    expect(a).toEqual([]);
    expect(marked(b)).toBe("New");
  });
});
