// What the window holds between events: the catalog's info, the current query and its
// results, the duplicates scan, and small helpers every view uses.

import type { DupesView, Hit, Info, SearchPage, Thresholds } from "./api";
import { $ } from "./dom";
import { emptyQuery } from "./query";
import { SliderState } from "./weights";

export type View = "search" | "dupes" | "quality" | "import" | "settings";

/** Results per page. */
export const PAGE = 24;

export const app = {
  info: null as Info | null,
  view: "search" as View,
  q: emptyQuery(),
  /** Defaults come from the core (`info.default_weights`) once the catalog is open. */
  sliders: new SliderState({ visual: 0, crossmodal: 0, text: 0, keyword: 0, phash: 0 }),
  page: null as SearchPage | null,
  hits: [] as Hit[],
  /** Whether the results below the strong matches are shown. */
  showWeaker: false,
  /** The last query searched, without its weights. */
  asked: "",
  seq: 0,
  dupes: null as DupesView | null,
  thresholds: null as Thresholds | null,
  likeTitle: "",
  /** The typed text the shown results were searched for, and the results marked right (true)
   * or wrong (false) for it. */
  judgedText: "",
  marks: new Map<string, boolean>(),
};

export function toast(text: string, error = false): void {
  const t = $("#toast");
  t.textContent = text;
  t.classList.toggle("error", error);
  t.hidden = false;
  window.clearTimeout(Number(t.dataset.timer));
  t.dataset.timer = String(window.setTimeout(() => (t.hidden = true), error ? 8000 : 3500));
}
