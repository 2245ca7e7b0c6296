// What the search bar, the photo chip and the filters ask for, turned into a request.

import type { Sort } from "./bindings/Sort";
import type { Weights } from "./weights";

export interface Filters {
  category: string | null;
  color: string | null;
  min_price: number | null;
  max_price: number | null;
  attributes: [string, string][];
}

export interface QueryState {
  text: string;
  /** As typed in the "not" box: terms separated by commas. */
  notText: string;
  photo: { id: number; name: string; url: string } | null;
  like: string | null;
  /** Results marked "more like this one" / "less like this one", with their titles. */
  more: { sku: string; title: string }[];
  less: { sku: string; title: string }[];
  category: string;
  color: string;
  minPrice: string;
  maxPrice: string;
  sort: Sort;
}

export interface SearchRequest {
  text: string;
  not: string[];
  photo: number | null;
  like: string | null;
  more: string[];
  less: string[];
  filters: Filters;
  sort: Sort;
  weights: Weights;
  k: number;
  offset: number;
}

export function emptyQuery(): QueryState {
  return {
    text: "",
    notText: "",
    photo: null,
    like: null,
    more: [],
    less: [],
    category: "",
    color: "",
    minPrice: "",
    maxPrice: "",
    sort: "relevance",
  };
}

/** "not" terms from the box: split on commas, trimmed, lower-cased, without repeats. */
export function notTerms(raw: string): string[] {
  const out: string[] = [];
  for (const t of raw.split(",")) {
    const term = t.trim().toLowerCase();
    if (term && !out.includes(term)) out.push(term);
  }
  return out;
}

/** A price box's value, or null when empty or not a price. Accepts "12,50". */
export function parsePrice(raw: string): number | null {
  const t = raw.trim().replace(/\s/g, "").replace(",", ".");
  if (!t) return null;
  const v = Number(t);
  return Number.isFinite(v) && v >= 0 ? v : null;
}

export function hasQuery(q: QueryState): boolean {
  return q.text.trim() !== "" || q.photo !== null || q.like !== null;
}

export function filters(q: QueryState): Filters {
  let min = parsePrice(q.minPrice);
  let max = parsePrice(q.maxPrice);
  if (min !== null && max !== null && min > max) [min, max] = [max, min];
  return {
    category: q.category || null,
    color: q.color || null,
    min_price: min,
    max_price: max,
    attributes: [],
  };
}

export function buildRequest(q: QueryState, weights: Weights, k: number, offset = 0): SearchRequest {
  return {
    text: q.text.trim(),
    not: notTerms(q.notText),
    photo: q.photo ? q.photo.id : null,
    like: q.like,
    more: q.more.map((m) => m.sku),
    less: q.less.map((m) => m.sku),
    filters: filters(q),
    sort: q.sort,
    weights,
    k,
    offset,
  };
}

/** Category paths as a tree, for an indented list: each with its depth and label. */
export function categoryTree(
  cats: [string, number][],
): { path: string; label: string; depth: number; count: number }[] {
  return [...cats]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([path, count]) => {
      const parts = path.split("/");
      return { path, label: parts[parts.length - 1], depth: parts.length - 1, count };
    });
}

/** The text without the first occurrence of a phrase (its words as the core read them, joined
 * by single spaces), spaces tidied. */
export function withoutPhrase(text: string, phrase: string): string {
  const words = text.split(/\s+/).filter(Boolean);
  const drop = phrase.split(" ");
  for (let i = 0; i + drop.length <= words.length; i++) {
    if (drop.every((w, k) => words[i + k] === w)) {
      words.splice(i, drop.length);
      break;
    }
  }
  return words.join(" ");
}
