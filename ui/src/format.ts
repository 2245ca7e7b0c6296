// How numbers and names read in the UI.

import { t } from "./strings";

/** How prices are written: the catalog's currency (ISO code, when known) in the user's locale. */
const money: { currency: string | null; locale: string | undefined } = { currency: null, locale: undefined };

export function setMoney(currency: string | null, locale?: string): void {
  money.currency = currency;
  money.locale = locale;
}

export function price(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return t.format.noPrice;
  if (money.currency) {
    try {
      return new Intl.NumberFormat(money.locale, { style: "currency", currency: money.currency }).format(p);
    } catch {
      // An unknown code: the number, then the code.
      return `${p.toLocaleString(money.locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${money.currency}`;
    }
  }
  return p.toLocaleString(money.locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/** A score in [0, 1] as a percentage-like figure with two decimals. */
export function score(s: number): string {
  if (!Number.isFinite(s)) return "–";
  return s.toFixed(2);
}

export function rate(done: number, seconds: number, unit: string): string {
  if (seconds <= 0 || done <= 0) return "";
  const r = done / seconds;
  return `${r >= 10 ? Math.round(r) : r.toFixed(1)} ${unit}/s`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

/** Time left from progress so far, or "" when it cannot be told yet. */
export function eta(done: number, total: number, seconds: number): string {
  if (done <= 0 || total <= done || seconds <= 0) return "";
  return t.format.timeLeft(duration(((total - done) * seconds) / done));
}

export function count(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** The last part of a category path, for compact display. */
export function leaf(category: string): string {
  const parts = category.split("/").filter((p) => p.trim() !== "");
  return parts.length ? parts[parts.length - 1] : "";
}
