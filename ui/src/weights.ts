// The fusion-weight sliders: their values, defaults, and which signals are switched off
// because their model is absent.

import { t } from "./strings";

export type SignalName = "visual" | "crossmodal" | "text" | "keyword" | "phash";
export const SIGNALS: SignalName[] = ["visual", "crossmodal", "text", "keyword", "phash"];
export type Weights = Record<SignalName, number>;

export interface Availability {
  signal: SignalName;
  available: boolean;
  /** Why it is off: a stable code (`model_missing`, `model_broken`) and technical words. */
  code: string | null;
  reason: string | null;
  model_id: string | null;
  downloadable: boolean;
  download_mb: number | null;
}

/** The signals that need the visual (CLIP) model; `text` needs the text model. */
export const VISUAL_SIGNALS: SignalName[] = ["visual", "crossmodal"];

/** The model a signal needs, in words. */
export function modelName(s: SignalName): string {
  return VISUAL_SIGNALS.includes(s) ? t.models.visual : t.models.text;
}

/** One sentence a merchant understands for a model that is off. */
export function modelNotice(a: Availability): string {
  const what = VISUAL_SIGNALS.includes(a.signal) ? t.models.byPhoto : t.models.byMeaning;
  const model = modelName(a.signal);
  return a.code === "model_missing" ? t.models.missing(what, model) : t.models.broken(what, model);
}

export const MAX_WEIGHT = 3;

export class SliderState {
  private values: Weights;
  private off = new Map<SignalName, Availability>();

  constructor(private defaults: Weights) {
    this.values = { ...defaults };
  }

  setAvailability(list: Availability[]): void {
    this.off.clear();
    for (const a of list) if (!a.available) this.off.set(a.signal, a);
  }

  /** Why a signal is off, or null when it can be used. */
  disabled(s: SignalName): Availability | null {
    return this.off.get(s) ?? null;
  }

  get(s: SignalName): number {
    return this.values[s];
  }

  set(s: SignalName, v: number): void {
    if (!Number.isFinite(v)) return;
    this.values[s] = Math.min(MAX_WEIGHT, Math.max(0, v));
  }

  reset(): void {
    this.values = { ...this.defaults };
  }

  /** New defaults (the core's): values still at the old defaults move to the new ones. */
  setDefaults(w: Weights): void {
    const untouched = this.isDefault();
    this.defaults = { ...w };
    if (untouched) this.reset();
  }

  isDefault(): boolean {
    return SIGNALS.every((s) => this.values[s] === this.defaults[s]);
  }

  /** What the ranking uses: the slider values, with absent signals at 0. */
  weights(): Weights {
    const w = { ...this.values };
    for (const s of this.off.keys()) w[s] = 0;
    return w;
  }
}
