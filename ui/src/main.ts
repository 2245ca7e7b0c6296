// Vitrine's window: the layout and navigation, and start-up. Each view lives in views/;
// shared state in state.ts. Plain TypeScript over the DOM; every piece of catalog text is set
// as text (see dom.ts).

import { api, errorText } from "./api";
import { $, h, replace } from "./dom";
import { setMoney } from "./format";
import { app, type View } from "./state";
import { t } from "./strings";
import { dupesView, loadDupes, onDupesKey } from "./views/duplicates";
import { importView, onDone, onProgress } from "./views/importer";
import { loadQuality, qualityView } from "./views/quality";
import {
  closeProduct,
  renderChips,
  renderFilters,
  renderResults,
  renderSliders,
  searchView,
  wirePhotoDrops,
} from "./views/search";
import { loadModels, renderSettings, settingsView } from "./views/settings";

export function navButton(view: View): HTMLButtonElement {
  return h("button", { id: `nav-${view}`, class: "nav", type: "button", onclick: () => show(view) }, t.nav[view]);
}

export function layout(): void {
  const root = $("#app");
  replace(
    root,
    h(
      "header",
      { class: "top" },
      h("div", { class: "brand" }, t.brand),
      h(
        "nav",
        {},
        navButton("search"),
        navButton("dupes"),
        navButton("quality"),
        navButton("import"),
        navButton("settings"),
      ),
      h("div", { id: "job-pill", class: "pill", hidden: true }),
      h(
        "button",
        {
          id: "present-toggle",
          class: "ghost",
          type: "button",
          title: t.nav.presentationHint,
          onclick: togglePresentation,
        },
        t.nav.presentation,
      ),
    ),
    h("main", {}, searchView(), dupesView(), qualityView(), importView(), settingsView()),
    h("div", {
      id: "drawer",
      class: "drawer",
      hidden: true,
      role: "dialog",
      "aria-modal": "true",
      "aria-label": t.nav.productPanel,
    }),
    h("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite", hidden: true }),
  );
}

export function show(view: View): void {
  app.view = view;
  for (const v of ["search", "dupes", "quality", "import", "settings"] as View[]) {
    $(`#view-${v}`).hidden = v !== view;
    $(`#nav-${v}`).classList.toggle("active", v === view);
  }
  if (view === "dupes" && !app.dupes) void loadDupes();
  if (view === "settings") void loadModels();
  if (view === "quality") void loadQuality();
}

export function togglePresentation(): void {
  const on = document.body.classList.toggle("presenting");
  $("#present-toggle").textContent = on ? t.nav.leavePresentation : t.nav.presentation;
}

export async function refresh(): Promise<void> {
  try {
    app.info = await api.info();
    setMoney(app.info.currency);
    app.sliders.setDefaults(app.info.default_weights);
    app.sliders.setAvailability(app.info.signals);
    renderFilters();
    renderSliders();
    renderSettings();
    document.body.dataset.ready = "true";
  } catch (e) {
    replace($("#result-summary"), h("p", { class: "error" }, t.common.catalogNotOpened(errorText(e))));
  }
}

export async function start(): Promise<void> {
  layout();
  show("search");
  renderSliders();
  renderChips();
  wirePhotoDrops();
  document.addEventListener("keydown", (e) => {
    if (app.view === "dupes") {
      onDupesKey(e);
      return;
    }
    if (e.key === "Escape") closeProduct();
    if (
      e.key === "/" &&
      document.activeElement?.tagName !== "INPUT" &&
      document.activeElement?.tagName !== "TEXTAREA"
    ) {
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
