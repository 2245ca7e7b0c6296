// The settings view: catalog and models folders, device, precision, and the models.

import { open } from "@tauri-apps/plugin-dialog";
import { api, errorText } from "../api";
import { $, h, replace } from "../dom";
import { emptyQuery } from "../query";
import { app, toast } from "../state";
import { refresh } from "../main";
import { renderResults } from "./search";

export function settingsView(): HTMLElement {
  const pick = (id: string) => async () => {
    const dir = await open({ directory: true, multiple: false });
    if (typeof dir === "string") ($(`#${id}`) as HTMLInputElement).value = dir;
  };
  return h(
    "section",
    { id: "view-settings", class: "view narrow", hidden: true },
    h("h2", {}, "Settings"),
    h("label", { for: "settings-catalog" }, "Catalog folder"),
    h(
      "div",
      { class: "row" },
      h("input", { id: "settings-catalog", type: "text" }),
      h("button", { type: "button", class: "secondary", onclick: pick("settings-catalog") }, "Choose…"),
    ),
    h("label", { for: "settings-models" }, "Models folder"),
    h(
      "div",
      { class: "row" },
      h("input", { id: "settings-models", type: "text" }),
      h("button", { type: "button", class: "secondary", onclick: pick("settings-models") }, "Choose…"),
    ),
    h("label", { for: "settings-device" }, "Run models on"),
    h(
      "select",
      { id: "settings-device" },
      ["auto", "cpu", "cuda", "metal"].map((d) =>
        h("option", { value: d }, d === "auto" ? "Automatic (GPU when present)" : d.toUpperCase()),
      ),
    ),
    h("label", { for: "settings-precision" }, "Visual model (CLIP) precision"),
    h(
      "select",
      { id: "settings-precision" },
      h("option", { value: "f32" }, "Full (f32)"),
      h("option", { value: "int8" }, "Fast (int8 weights; results within about 1%)"),
    ),
    h("label", { for: "settings-currency" }, "Currency of the prices"),
    h("input", {
      id: "settings-currency",
      type: "text",
      maxlength: 3,
      placeholder: "e.g. EUR",
      autocomplete: "off",
    }),
    h("div", { class: "row" }, h("button", { id: "settings-apply", type: "button", onclick: applySettings }, "Apply")),
    h("h3", {}, "Models"),
    h(
      "div",
      { class: "row" },
      h("p", { id: "models-status", class: "status", "aria-live": "polite" }),
      h(
        "button",
        { id: "models-cancel", type: "button", class: "secondary", hidden: true, onclick: () => void api.cancelJob() },
        "Cancel download",
      ),
    ),
    h("div", { id: "models-list" }),
    h("button", { type: "button", class: "secondary", onclick: addModelFolder }, "Use a model from a folder…"),
  );
}

export function renderSettings(): void {
  const info = app.info;
  if (!info) return;
  ($("#settings-catalog") as HTMLInputElement).value = info.catalog_dir;
  ($("#settings-models") as HTMLInputElement).value = info.models_dir;
  ($("#settings-device") as HTMLSelectElement).value = info.device;
  ($("#settings-precision") as HTMLSelectElement).value = info.precision;
  ($("#settings-currency") as HTMLInputElement).value = info.currency ?? "";
}

export async function applySettings(): Promise<void> {
  try {
    await api.applySettings({
      catalog: ($("#settings-catalog") as HTMLInputElement).value.trim() || null,
      models: ($("#settings-models") as HTMLInputElement).value.trim() || null,
      device: ($("#settings-device") as HTMLSelectElement).value,
      precision: ($("#settings-precision") as HTMLSelectElement).value,
      currency: ($("#settings-currency") as HTMLInputElement).value.trim(),
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

export async function loadModels(): Promise<void> {
  try {
    const list = await api.models();
    replace(
      $("#models-list"),
      h(
        "table",
        { class: "models" },
        h("tr", {}, h("th", {}, "Model"), h("th", {}, "For"), h("th", {}, "Status"), h("th", {})),
        list.map((m) =>
          h(
            "tr",
            { "data-model": m.id },
            h("td", {}, m.name, h("div", { class: "hint" }, m.licence)),
            h("td", {}, m.kind === "clip" ? "Photos and text" : "Product text"),
            h("td", {}, m.active ? "In use" : m.present ? "Ready" : "Not downloaded"),
            h(
              "td",
              {},
              !m.present && m.downloadable
                ? h(
                    "button",
                    {
                      type: "button",
                      class: "secondary",
                      onclick: () => void api.downloadModel(m.id).catch((e) => toast(errorText(e), true)),
                    },
                    m.download_mb ? `Download (about ${m.download_mb} MB)` : "Download",
                  )
                : null,
              m.present && !m.active
                ? h("button", { type: "button", class: "secondary", onclick: () => void useModel(m.id) }, "Use")
                : null,
            ),
          ),
        ),
      ),
    );
  } catch (e) {
    $("#models-status").textContent = errorText(e);
  }
}

export async function useModel(id: string): Promise<void> {
  try {
    await api.useModel(id);
    toast(
      "Model chosen. Rescan on the Import page to embed the catalog with it; searches use the previous model until then.",
    );
    await loadModels();
    await refresh();
  } catch (e) {
    toast(errorText(e), true);
  }
}

export async function addModelFolder(): Promise<void> {
  const dir = await open({
    directory: true,
    multiple: false,
    title: "A model folder (config.json, tokenizer.json, model.safetensors)",
  });
  if (typeof dir !== "string") return;
  try {
    const id = await api.addModelFolder(dir);
    toast(`Added the model ${id}. Rescan on the Import page to embed the catalog with it.`);
    await loadModels();
  } catch (e) {
    toast(errorText(e), true);
  }
}
