// Typed wrappers over the app's commands and events.

import { convertFileSrc, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { Filters, SearchRequest } from "./query";
import type { Availability, SignalName, Weights } from "./weights";

export interface Stats {
  products: number;
  images: number;
  distinct_photos: number;
  categories: [string, number][];
  embeddings: [string, string, number][];
}

export interface Facets {
  categories: [string, number][];
  colors: [string, number][];
  min_price: number | null;
  max_price: number | null;
}

export interface Info {
  catalog_dir: string;
  models_dir: string;
  device: string;
  precision: string;
  stats: Stats;
  facets: Facets;
  signals: Availability[];
  default_weights: Weights;
  job: string | null;
}

export interface SignalScore {
  signal: SignalName;
  score: number;
  raw: number;
  weight: number;
}

export interface Hit {
  rank: number;
  sku: string;
  title: string;
  category: string;
  color: string;
  price: number | null;
  score: number;
  signals: SignalScore[];
  penalty: number;
  matched_image: { path: string; hash: string; thumbnail: string; view: string; color: string } | null;
}

export interface SearchResults {
  text: string;
  not: string[];
  filters: Filters;
  weights: Weights;
  signals: SignalName[];
  total: number;
  offset: number;
  hits: Hit[];
  candidates: number;
  exact: boolean;
}

export interface SearchPage {
  query_id: number;
  results: SearchResults;
  millis: number;
}

export interface Image {
  path: string;
  hash: string;
  width: number;
  height: number;
  view: string;
  color: string;
}

export interface Product {
  sku: string;
  title: string;
  description: string;
  category: string;
  color: string;
  price: number | null;
  attributes: Record<string, unknown>;
  source: string;
  images: Image[];
}

export interface Thresholds {
  phash: number;
  phash_alone: number;
  corroborating_text: number;
  visual: number;
  text: number;
  max_group: number;
}

export type Decision = "duplicate" | "not_duplicate" | "variants";

export interface Pair {
  a: string;
  b: string;
  confidence: number;
  decision: Decision | null;
  keep: string | null;
}

export interface Group {
  id: number;
  skus: string[];
  titles: string[];
  confidence: number;
  pairs: Pair[];
}

export interface DupesView {
  report: { thresholds: Thresholds; signals: string[]; groups: Group[]; passing_pairs: number };
  members: Record<string, { title: string; category: string; color: string; price: number | null; thumbnails: string[] }>;
  explanations: string[][];
}

export interface ModelView {
  id: string;
  name: string;
  kind: "clip" | "text";
  present: boolean;
  active: boolean;
  licence: string;
  how: string;
  folder: string;
  downloadable: boolean;
}

export interface Progress {
  kind: string;
  phase: "import" | "embed" | "index" | "download";
  done: number;
  total: number;
  skipped: number;
  elapsed_s: number;
  message: string;
}

export interface Skipped {
  item: string;
  line: number | null;
  kind: string;
  message: string;
}

export interface JobDone {
  kind: string;
  ok: boolean;
  cancelled: boolean;
  error: string | null;
  import: {
    status: string;
    products_added: number;
    products_updated: number;
    images_added: number;
    photos_processed: number;
    skipped: Skipped[];
    missing: { sku: string; path: string | null; reason: string }[];
  } | null;
  embed: { photos_embedded: number; products_embedded: number; skipped: Skipped[] } | null;
  seconds: number;
}

export const api = {
  info: () => invoke<Info>("info"),
  addQueryPhoto: (bytes: Uint8Array) => invoke<{ id: number; width: number; height: number }>("add_query_photo", bytes),
  search: (req: SearchRequest) => invoke<SearchPage>("search", { req }),
  rerank: (queryId: number, weights: Weights, k: number, offset: number) =>
    invoke<SearchPage>("rerank", { queryId, weights, k, offset }),
  product: (sku: string) => invoke<{ product: Product; thumbnails: string[] }>("product", { sku }),
  duplicates: (thresholds: Thresholds | null) => invoke<DupesView>("duplicates", { thresholds }),
  decide: (decision: Decision, skus: string[], keep: string | null) => invoke<number>("decide", { decision, skus, keep }),
  exportMergeMap: (path: string, thresholds: Thresholds | null) =>
    invoke<number>("export_merge_map", { path, thresholds }),
  models: () => invoke<ModelView[]>("models"),
  useModel: (id: string) => invoke<void>("use_model", { id }),
  addModelFolder: (path: string) => invoke<string>("add_model_folder", { path }),
  applySettings: (settings: { catalog: string | null; models: string | null; device: string | null; precision: string | null }) =>
    invoke<void>("apply_settings", { settings }),
  startImport: (paths: string[], prune: boolean) => invoke<void>("start_import", { paths, prune }),
  rescan: () => invoke<void>("rescan"),
  downloadModel: (id: string) => invoke<void>("download_model", { id }),
  cancelJob: () => invoke<boolean>("cancel_job"),
  importErrors: () => invoke<Skipped[]>("import_errors"),
  onProgress: (f: (p: Progress) => void): Promise<UnlistenFn> => listen<Progress>("job", (e) => f(e.payload)),
  onDone: (f: (d: JobDone) => void): Promise<UnlistenFn> => listen<JobDone>("job-done", (e) => f(e.payload)),
};

export function fileUrl(path: string): string {
  return convertFileSrc(path);
}

/** A command's error as a sentence. */
export function errorText(e: unknown): string {
  if (typeof e === "string") return e;
  if (e instanceof Error) return e.message;
  return JSON.stringify(e);
}
