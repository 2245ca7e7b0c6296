// The settings view: catalog and models folders, device, precision, and the models.

import { open } from "@tauri-apps/plugin-dialog";
import { api, errorText } from "../api";
import { $, h, replace } from "../dom";
import { emptyQuery } from "../query";
import { app, toast } from "../state";
import { t } from "../strings";
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
    h("h2", {}, t.settings.title),
    h("label", { for: "settings-catalog" }, t.settings.catalog),
    h(
      "div",
      { class: "row" },
      h("input", { id: "settings-catalog", type: "text" }),
      h("button", { type: "button", class: "secondary", onclick: pick("settings-catalog") }, t.common.choose),
    ),
    h("label", { for: "settings-models" }, t.settings.models),
    h(
      "div",
      { class: "row" },
      h("input", { id: "settings-models", type: "text" }),
      h("button", { type: "button", class: "secondary", onclick: pick("settings-models") }, t.common.choose),
    ),
    h("label", { for: "settings-device" }, t.settings.device),
    h(
      "select",
      { id: "settings-device" },
      (
        [
          ["auto", t.settings.deviceAuto],
          ["cpu", t.settings.deviceCpu],
          ["cuda", t.settings.deviceCuda],
          ["metal", t.settings.deviceMetal],
        ] as const
      ).map(([d, label]) => h("option", { value: d }, label)),
    ),
    h("label", { for: "settings-precision" }, t.settings.precision),
    h(
      "select",
      { id: "settings-precision" },
      h("option", { value: "f32" }, t.settings.full),
      h("option", { value: "int8" }, t.settings.fast),
    ),
    h("label", { for: "settings-currency" }, t.settings.currency),
    h("input", {
      id: "settings-currency",
      type: "text",
      maxlength: 3,
      placeholder: t.settings.currencyPlaceholder,
      autocomplete: "off",
    }),
    h(
      "div",
      { class: "row" },
      h("button", { id: "settings-apply", type: "button", onclick: applySettings }, t.settings.apply),
    ),
    h("h3", {}, t.settings.modelsTitle),
    h(
      "div",
      { class: "row" },
      h("p", { id: "models-status", class: "status", "aria-live": "polite" }),
      h(
        "button",
        { id: "models-cancel", type: "button", class: "secondary", hidden: true, onclick: () => void api.cancelJob() },
        t.settings.cancelDownload,
      ),
    ),
    h("div", { id: "models-list" }),
    h("button", { type: "button", class: "secondary", onclick: addModelFolder }, t.common.useModelFolder),
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
    toast(t.settings.applied);
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
        h(
          "tr",
          {},
          h("th", {}, t.settings.model),
          h("th", {}, t.settings.for),
          h("th", {}, t.settings.size),
          h("th", {}, t.settings.status),
          h("th", {}),
        ),
        list.map((m) =>
          h(
            "tr",
            { "data-model": m.id },
            h(
              "td",
              {},
              m.name,
              h("div", { class: "hint" }, [m.licence, m.languages].filter(Boolean).join(" · ")),
              m.good_at ? h("div", { class: "hint good-at" }, m.good_at) : null,
            ),
            h("td", {}, m.kind === "clip" ? t.settings.photosAndText : t.settings.productText),
            h("td", { class: "num" }, m.download_mb ? t.settings.aboutMb(m.download_mb) : ""),
            h("td", {}, m.active ? t.settings.inUse : m.present ? t.settings.ready : t.settings.notDownloaded),
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
                    t.settings.download(m.download_mb),
                  )
                : null,
              m.present && !m.active
                ? h(
                    "button",
                    { type: "button", class: "secondary", onclick: () => void useModel(m.id) },
                    t.settings.use,
                  )
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
    toast(t.settings.chosen);
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
    title: t.settings.modelFolder,
  });
  if (typeof dir !== "string") return;
  try {
    const id = await api.addModelFolder(dir);
    toast(t.settings.added(id));
    await loadModels();
  } catch (e) {
    toast(errorText(e), true);
  }
}
