// Typed wrappers over the app's commands and events. What the commands return is typed by
// declarations generated from the Rust types (src/bindings, by ts-rs; src-tauri/src/bindings.rs
// keeps them current).

import { convertFileSrc, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { Decision } from "./bindings/Decision";
import type { Done } from "./bindings/Done";
import type { DupesView } from "./bindings/DupesView";
import type { ImportErrorRecord } from "./bindings/ImportErrorRecord";
import type { Info } from "./bindings/Info";
import type { JudgementsView } from "./bindings/JudgementsView";
import type { QualityView } from "./bindings/QualityView";
import type { TuneReport } from "./bindings/TuneReport";
import type { ModelView } from "./bindings/ModelView";
import type { PhotoChip } from "./bindings/PhotoChip";
import type { ProductView } from "./bindings/ProductView";
import type { Progress } from "./bindings/Progress";
import type { SearchPage } from "./bindings/SearchPage";
import type { Thresholds } from "./bindings/Thresholds";
import type { SearchRequest } from "./query";
import type { Weights } from "./weights";

export type { Decision, DupesView, Info, ModelView, Progress, QualityView, SearchPage, Thresholds, TuneReport };
export type { Group } from "./bindings/Group";
export type { Hit } from "./bindings/Hit";
export type { SearchResults } from "./bindings/SearchResults";
export type { Product } from "./bindings/Product";
/** An item an import skipped, and why. */
export type Skipped = ImportErrorRecord;
/** The end of a long job. */
export type JobDone = Done;

/** The app's event names (src-tauri/src/events.rs). */
export const EVENTS = {
  jobProgress: "job",
  jobDone: "job-done",
  catalogChanged: "catalog-changed",
} as const;

export const api = {
  info: () => invoke<Info>("info"),
  addQueryPhoto: (bytes: Uint8Array) => invoke<PhotoChip>("add_query_photo", bytes),
  search: (req: SearchRequest) => invoke<SearchPage>("search", { req }),
  rerank: (queryId: number, weights: Weights, k: number, offset: number) =>
    invoke<SearchPage>("rerank", { queryId, weights, k, offset }),
  product: (sku: string) => invoke<ProductView>("product", { sku }),
  duplicates: (thresholds: Thresholds | null) => invoke<DupesView>("duplicates", { thresholds }),
  undecide: (skus: string[]) => invoke<number>("undecide", { skus }),
  decide: (decision: Decision, skus: string[], keep: string | null) =>
    invoke<number>("decide", { decision, skus, keep }),
  exportMergeMap: (path: string, thresholds: Thresholds | null) =>
    invoke<number>("export_merge_map", { path, thresholds }),
  judge: (query: string, sku: string, right: boolean | null) => invoke<void>("judge", { query, sku, right }),
  judgements: (query: string | null) => invoke<JudgementsView>("judgements", { query }),
  evaluate: (file: string | null) => invoke<QualityView>("evaluate", { file }),
  tune: (file: string | null) => invoke<TuneReport>("tune", { file }),
  resetWeights: () => invoke<void>("reset_weights"),
  models: () => invoke<ModelView[]>("models"),
  useModel: (id: string) => invoke<void>("use_model", { id }),
  addModelFolder: (path: string) => invoke<string>("add_model_folder", { path }),
  applySettings: (settings: {
    catalog: string | null;
    models: string | null;
    device: string | null;
    precision: string | null;
    currency: string | null;
  }) => invoke<void>("apply_settings", { settings }),
  startImport: (paths: string[], prune: boolean) => invoke<void>("start_import", { paths, prune }),
  rescan: () => invoke<void>("rescan"),
  downloadModel: (id: string) => invoke<void>("download_model", { id }),
  cancelJob: () => invoke<boolean>("cancel_job"),
  importErrors: () => invoke<Skipped[]>("import_errors"),
  onProgress: (f: (p: Progress) => void): Promise<UnlistenFn> =>
    listen<Progress>(EVENTS.jobProgress, (e) => f(e.payload)),
  onDone: (f: (d: JobDone) => void): Promise<UnlistenFn> => listen<JobDone>(EVENTS.jobDone, (e) => f(e.payload)),
};

export function fileUrl(path: string): string {
  return convertFileSrc(path);
}

/** A command's error: a stable code (the core's, e.g. `model_missing`, or `app`) and a sentence. */
export interface CommandError {
  code: string;
  message: string;
}

function isCommandError(e: unknown): e is CommandError {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as CommandError).code === "string" &&
    typeof (e as CommandError).message === "string"
  );
}

/** A command's error as a sentence. */
export function errorText(e: unknown): string {
  if (typeof e === "string") return e;
  if (isCommandError(e)) return e.message;
  if (e instanceof Error) return e.message;
  return JSON.stringify(e);
}

/** A command's error code, to react to the kind of error rather than its text. */
export function errorCode(e: unknown): string | null {
  return isCommandError(e) ? e.code : null;
}
