// Column mapping on the Imports page: the preset picker of the upload form, the columns an import
// used, and, when a required column is missing, a form that maps the file's headers to the catalog's
// fields and starts the import again from the same upload (POST /imports {from_import, mapping}).

import {request} from "./api.js";

export const FIELDS = Object.freeze([
  {name: "sku", label: "SKU", required: true},
  {name: "name", label: "Name", required: true},
  {name: "description", label: "Description"},
  {name: "price", label: "Price"},
  {name: "active", label: "Active"},
]);
const PRESET_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

const $ = (id) => document.getElementById(id);

export function listMappings() {
  return request("GET", "/mappings");
}

export function saveMapping(name, mapping) {
  return request("PUT", `/mappings/${encodeURIComponent(name)}`, {mapping});
}

/** A new import of an import's uploaded file with another column mapping (no second upload). */
export function importAgain(fromImport, mapping, preset) {
  const body = {from_import: fromImport, mapping};
  if (preset) body.preset = preset;
  return request("POST", "/imports", body);
}

/** The mapping the form holds: {field: header} for each field given a column. */
export function formMapping(form) {
  const mapping = {};
  for (const field of FIELDS) {
    const value = form.elements[`map-${field.name}`]?.value;
    if (value) mapping[field.name] = value;
  }
  return mapping;
}

/** What is wrong with a mapping before it is sent: a required field unmapped, a column used twice. */
export function mappingProblem(mapping) {
  const missing = FIELDS.filter((f) => f.required && !mapping[f.name]).map((f) => f.label);
  if (missing.length) return `Choose a column for ${missing.join(" and ")}.`;
  const seen = new Map();
  for (const [field, header] of Object.entries(mapping)) {
    if (seen.has(header)) return `Column “${header}” is chosen for both ${seen.get(header)} and ${field}.`;
    seen.set(header, field);
  }
  return "";
}

/**
 * upload: {follow(item)} of setupUpload, to follow the import started again.
 * Returns {options() -> {preset?} for a new upload, show(item) when an import ends, hide()}.
 */
export function setupMapping(upload) {
  const picker = $("preset-select");
  const form = $("mapping-form");
  const fieldsBox = $("mapping-fields");
  const error = $("mapping-error");
  const presetName = $("mapping-preset-name");
  let failed = null;  // the FAILED import the form maps

  async function loadPresets() {
    let presets = [];
    try {
      presets = (await listMappings()).items || [];
    } catch {
      return;  // the picker keeps "automatically"; an upload still works
    }
    const chosen = picker.value;
    for (const option of [...picker.options].slice(1)) option.remove();
    for (const preset of presets) {
      const option = document.createElement("option");
      option.value = preset.name;
      option.textContent = `${preset.name} (${Object.entries(preset.mapping).map(([f, h]) => `${f} ← ${h}`).join(", ")})`;
      picker.append(option);
    }
    if ([...picker.options].some((o) => o.value === chosen)) picker.value = chosen;
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function renderColumns(item) {
    const line = $("summary-columns");
    const used = Object.entries(item.column_mapping || {});
    line.textContent = used.length && !item.missing_columns
      ? `Columns: ${used.map(([field, header]) => `${field} ← ${header}`).join(", ")}` +
        (item.preset ? ` (preset ${item.preset})` : "")
      : "";
    line.hidden = !line.textContent;
  }

  function renderForm(item) {
    failed = item;
    fieldsBox.replaceChildren();
    const headers = item.headers || [];
    const current = item.column_mapping || {};
    for (const field of FIELDS) {
      const box = document.createElement("div");
      box.className = "field";
      const label = document.createElement("label");
      label.htmlFor = `map-${field.name}`;
      label.textContent = field.label;
      if (field.required) {
        const star = document.createElement("span");
        star.className = "field__required";
        star.textContent = " *";
        star.setAttribute("aria-hidden", "true");
        label.append(star);
      }
      const select = document.createElement("select");
      select.id = select.name = `map-${field.name}`;
      select.dataset.testid = `map-${field.name}`;
      select.required = Boolean(field.required);
      if ((item.missing_columns || []).includes(field.name)) select.setAttribute("aria-invalid", "true");
      select.append(new Option(field.required ? "— choose a column —" : "— none —", ""));
      for (const header of headers) select.append(new Option(header || "(no name)", header));
      select.value = headers.includes(current[field.name]) ? current[field.name] : "";
      box.append(label, select);
      fieldsBox.append(box);
    }
    const missing = (item.missing_columns || []).join(", ");
    $("mapping-hint").textContent =
      `The file has no column for ${missing}. Choose which of its columns hold each field, then import it again ` +
      "— the file is not uploaded again.";
    presetName.value = "";
    showError("");
    form.hidden = false;
  }

  function show(item) {
    renderColumns(item);
    if (item.status === "FAILED" && item.missing_columns?.length && item.headers?.length) {
      renderForm(item);
    } else {
      hide();
    }
  }

  function hide() {
    failed = null;
    form.hidden = true;
  }

  form.addEventListener("change", () => showError(""));   // a complaint goes once the choice changes

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!failed) return;
    const mapping = formMapping(form);
    const problem = mappingProblem(mapping);
    const name = presetName.value.trim();
    if (problem || (name && !PRESET_NAME.test(name))) {
      showError(problem || "A preset name is 1 to 40 lower-case letters, digits, - and _.");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showError("");
    try {
      if (name) {
        await saveMapping(name, mapping);
        loadPresets();
      }
      const created = await importAgain(failed.id, mapping, name || null);
      hide();
      upload.follow(created.import);
    } catch (failure) {
      const fields = failure.fields ? Object.values(failure.fields).join("; ") : "";
      showError(fields && !failure.message.includes(fields) ? `${failure.message} (${fields})` : failure.message);
    } finally {
      button.disabled = false;
    }
  });

  loadPresets();

  return {
    options: () => (picker.value ? {preset: picker.value} : {}),
    show,
    hide,
    reload: loadPresets,
  };
}
