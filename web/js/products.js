// The Products page: a filtered, cursor-paged table of the catalog; create and edit in a dialog,
// the active switch, delete with confirmation, delete-all behind a typed confirmation, and an export
// of what the filters show (a job on the server; its progress, then a download link).

import {linkWithToken} from "./api.js";
import {formatNumber, formatTime} from "./format.js";
import {createProduct, deleteProduct, getDeleteAll, getExport, listProducts, patchProduct, replaceProduct,
  startDeleteAll, startExport} from "./products-api.js";

const DEBOUNCE_MS = 300;
const POLL_MS = 500;
const FIELDS = ["sku", "name", "description", "price", "active"];

const $ = (id) => document.getElementById(id);
const price = new Intl.NumberFormat(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2});

const els = {
  filters: $("filters"),
  sku: $("filter-sku"),
  name: $("filter-name"),
  active: $("filter-active"),
  pageSize: $("page-size"),
  status: $("products-status"),
  error: $("products-error"),
  table: $("products"),
  body: $("products-body"),
  loading: $("products-loading"),
  empty: $("products-empty"),
  total: $("products-total"),
  matches: $("products-matches"),
  prev: $("page-prev"),
  next: $("page-next"),
  pageNumber: $("page-number"),
  newButton: $("product-new"),
  deleteAllButton: $("delete-all-open"),
};

// --- state ----------------------------------------------------------------------------------
const params = new URLSearchParams(location.search);
const state = {
  cursor: null,
  page: 1,
  last: null,        // the last page the API returned
  seq: 0,            // newer requests win over late answers of older ones
  controller: null,
};

(function initialFilters() {
  if (params.get("sku")) els.sku.value = params.get("sku");
  if (params.get("q")) els.name.value = params.get("q");
  if (["true", "false"].includes(params.get("active"))) els.active.value = params.get("active");
  const limit = params.get("limit");
  if (limit && /^\d+$/.test(limit)) {
    if (![...els.pageSize.options].some((o) => o.value === limit)) {
      els.pageSize.append(new Option(limit, limit));
    }
    els.pageSize.value = limit;
  }
})();

function filters() {
  return {
    sku: els.sku.value.trim(),
    q: els.name.value.trim(),
    active: els.active.value,
    limit: Number(els.pageSize.value) || 50,
  };
}

function syncUrl() {
  const f = filters();
  const query = new URLSearchParams();
  if (f.sku) query.set("sku", f.sku);
  if (f.q) query.set("q", f.q);
  if (f.active) query.set("active", f.active);
  if (f.limit !== 50) query.set("limit", String(f.limit));
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

// --- messages -------------------------------------------------------------------------------
function announce(text) {
  els.status.textContent = text;
}

function showError(text) {
  els.error.textContent = text || "";
  els.error.hidden = !text;
}

// --- loading --------------------------------------------------------------------------------
async function load({cursor = state.cursor, page = state.page, quiet = false} = {}) {
  const seq = ++state.seq;
  state.controller?.abort();
  const controller = new AbortController();
  state.controller = controller;
  els.table.setAttribute("aria-busy", "true");
  document.documentElement.dataset.loading = "true";
  const timer = setTimeout(() => {
    if (seq === state.seq) {
      els.loading.hidden = false;
      els.empty.hidden = true;
    }
  }, 150);
  if (!quiet) announce("Loading products…");
  try {
    const result = await listProducts({...filters(), cursor}, {signal: controller.signal});
    if (seq !== state.seq) return;
    state.cursor = cursor;
    state.page = page;
    state.last = result;
    showError("");
    render(result);
  } catch (error) {
    if (error.name === "AbortError" || seq !== state.seq) return;
    if (cursor && error.status === 400) {
      // A stale cursor (e.g. the filters changed under it): start again from the first page.
      return load({cursor: null, page: 1});
    }
    showError(`The products could not be loaded: ${error.message}`);
    announce("");
  } finally {
    if (seq === state.seq) {
      clearTimeout(timer);
      els.loading.hidden = true;
      els.table.setAttribute("aria-busy", "false");
      document.documentElement.dataset.loading = "false";
    }
  }
}

function reload() {
  return load({quiet: true});
}

function render(result) {
  const items = result.items || [];
  els.body.replaceChildren(...items.map(row));
  els.empty.hidden = items.length > 0;
  const f = filters();
  const filtered = Boolean(f.sku || f.q || f.active);
  els.empty.textContent = filtered ? "No products match these filters." : "No products yet.";

  els.total.textContent = `${formatNumber(result.total)} ${result.total === 1 ? "product" : "products"} in the catalog`;
  els.total.dataset.value = String(result.total);
  const hasMatches = filtered && result.matches !== null && result.matches !== undefined;
  els.matches.hidden = !hasMatches;
  els.matches.textContent = hasMatches ? `· ${formatNumber(result.matches)} ${result.matches === 1 ? "match" : "matches"}` : "";
  if (hasMatches) els.matches.dataset.value = String(result.matches);

  els.prev.disabled = !result.prev;
  els.next.disabled = !result.next;
  els.pageNumber.textContent = `Page ${state.page}`;

  let text;
  if (!items.length) text = els.empty.textContent;
  else if (hasMatches) text = `Showing ${items.length} of ${formatNumber(result.matches)} matching products, page ${state.page}.`;
  else if (filtered) text = `Showing ${items.length} matching products, page ${state.page}.`;
  else text = `Showing ${items.length} of ${formatNumber(result.total)} products, page ${state.page}.`;
  announce(text);
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  return td;
}

function row(item) {
  const tr = document.createElement("tr");
  tr.dataset.sku = item.sku;
  tr.dataset.active = String(item.active);

  const sku = cell(item.sku, "sku");
  sku.dataset.testid = "product-sku";
  const name = cell(item.name, "name");
  name.dataset.testid = "product-name";
  if (item.description) name.title = item.description;
  const priceCell = cell(item.price === null || item.price === undefined ? "—" : price.format(Number(item.price)), "num");
  priceCell.dataset.testid = "product-price";
  if (item.price !== null && item.price !== undefined) priceCell.dataset.value = item.price;

  const activeCell = cell(undefined, "active");
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "switch";
  toggle.setAttribute("role", "switch");
  toggle.setAttribute("aria-checked", String(Boolean(item.active)));
  toggle.setAttribute("aria-label", `Active: ${item.sku}`);
  toggle.dataset.testid = "product-active";
  const label = document.createElement("span");
  label.className = "switch__label";
  label.textContent = item.active ? "Yes" : "No";
  label.setAttribute("aria-hidden", "true");
  toggle.append(Object.assign(document.createElement("span"), {className: "switch__track"}), label);
  toggle.addEventListener("click", () => toggleActive(item, tr, toggle));
  activeCell.append(toggle);

  const updated = cell(undefined, "time");
  const when = item.updated_at || item.created_at;
  if (when) {
    const time = document.createElement("time");
    time.dateTime = when;
    time.textContent = formatTime(when);
    time.title = new Date(when).toLocaleString();
    updated.append(time);
  } else {
    updated.textContent = "—";
  }

  const actions = cell(undefined, "actions");
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "button button--small";
  edit.textContent = "Edit";
  edit.dataset.testid = "product-edit";
  edit.setAttribute("aria-label", `Edit ${item.sku}`);
  edit.addEventListener("click", () => openEditor(item, edit));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "button button--small button--danger";
  remove.textContent = "Delete";
  remove.dataset.testid = "product-delete";
  remove.setAttribute("aria-label", `Delete ${item.sku}`);
  remove.addEventListener("click", () => confirmDelete(item, remove));
  actions.append(edit, remove);

  tr.append(sku, name, priceCell, activeCell, updated, actions);
  return tr;
}

// --- filters and pages ------------------------------------------------------------------------
let debounce = null;
function filtersChanged({now = false} = {}) {
  clearTimeout(debounce);
  const run = () => {
    syncUrl();
    load({cursor: null, page: 1});
  };
  if (now) run();
  else debounce = setTimeout(run, DEBOUNCE_MS);
}

els.sku.addEventListener("input", () => filtersChanged());
els.name.addEventListener("input", () => filtersChanged());
els.active.addEventListener("change", () => filtersChanged({now: true}));
els.pageSize.addEventListener("change", () => filtersChanged({now: true}));
els.filters.addEventListener("submit", (event) => {
  event.preventDefault();
  filtersChanged({now: true});
});

els.next.addEventListener("click", () => {
  if (state.last?.next) load({cursor: state.last.next, page: state.page + 1});
});
els.prev.addEventListener("click", () => {
  if (state.last?.prev) load({cursor: state.last.prev, page: Math.max(1, state.page - 1)});
});

// --- active switch ---------------------------------------------------------------------------
async function toggleActive(item, tr, toggle) {
  if (toggle.getAttribute("aria-busy") === "true") return;
  const wanted = !item.active;
  toggle.setAttribute("aria-busy", "true");
  toggle.setAttribute("aria-checked", String(wanted));
  try {
    const updated = await patchProduct(item.sku, {active: wanted});
    const fresh = row(updated);
    tr.replaceWith(fresh);
    fresh.querySelector("[role=switch]").focus();
    showError("");
    announce(`${updated.sku} is now ${updated.active ? "active" : "inactive"}.`);
  } catch (error) {
    toggle.setAttribute("aria-checked", String(Boolean(item.active)));
    toggle.removeAttribute("aria-busy");
    showError(`${item.sku} could not be changed: ${error.message}`);
  }
}

// --- dialogs --------------------------------------------------------------------------------
function wireClose(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close("cancel"));
  }
}

let returnFocus = null;
function openDialog(dialog, opener) {
  returnFocus = opener || document.activeElement;
  dialog.showModal();
}
function restoreFocus() {
  const target = returnFocus;
  returnFocus = null;
  if (target && target.isConnected) target.focus();
  else els.table.closest(".table-wrap")?.focus();
}

// Create / edit
const productDialog = $("product-dialog");
const productForm = $("product-form");
const productTitle = $("product-dialog-title");
const formError = $("product-form-error");
const saveButton = $("product-save");
const inputs = Object.fromEntries(FIELDS.map((f) => [f, $(`product-${f}`)]));
const fieldErrors = Object.fromEntries(FIELDS.map((f) => [f, $(`product-${f}-error`)]));
let editing = null; // the product being edited, or null for a new one
wireClose(productDialog);
productDialog.addEventListener("close", restoreFocus);

function clearFieldErrors() {
  for (const field of FIELDS) {
    fieldErrors[field].textContent = "";
    fieldErrors[field].hidden = true;
    inputs[field].removeAttribute("aria-invalid");
  }
  formError.textContent = "";
  formError.hidden = true;
}

function showFieldErrors(fields) {
  let first = null;
  for (const [field, message] of Object.entries(fields || {})) {
    const target = fieldErrors[field];
    if (!target) continue;
    target.textContent = message;
    target.hidden = false;
    inputs[field].setAttribute("aria-invalid", "true");
    first = first || inputs[field];
  }
  return first;
}

function openEditor(item, opener) {
  editing = item || null;
  clearFieldErrors();
  productForm.reset();
  productTitle.textContent = item ? `Edit ${item.sku}` : "New product";
  inputs.sku.value = item ? item.sku : "";
  inputs.sku.readOnly = Boolean(item);
  inputs.sku.title = item ? "A product's SKU cannot be changed" : "";
  inputs.name.value = item ? item.name : "";
  inputs.description.value = item ? item.description || "" : "";
  inputs.price.value = item && item.price !== null && item.price !== undefined ? item.price : "";
  inputs.active.checked = item ? Boolean(item.active) : true;
  saveButton.disabled = false;
  openDialog(productDialog, opener);
  (item ? inputs.name : inputs.sku).focus();
}

els.newButton.addEventListener("click", () => openEditor(null, els.newButton));

productForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors();
  const values = {
    name: inputs.name.value.trim(),
    description: inputs.description.value,
    price: inputs.price.value.trim() === "" ? null : inputs.price.value.trim(),
    active: inputs.active.checked,
  };
  const local = {};
  if (!editing && !inputs.sku.value.trim()) local.sku = "is required";
  if (!values.name) local.name = "is required";
  if (Object.keys(local).length) {
    showFieldErrors(local)?.focus();
    return;
  }
  saveButton.disabled = true;
  try {
    let saved;
    if (editing) {
      saved = await replaceProduct(editing.sku, values);
    } else {
      saved = await createProduct({sku: inputs.sku.value.trim(), ...values});
    }
    returnFocus = editing ? returnFocus : els.newButton;
    productDialog.close("saved");
    announce(editing ? `${saved.sku} saved.` : `${saved.sku} created.`);
    await reload();
    announce(editing ? `${saved.sku} saved.` : `${saved.sku} created.`);
  } catch (error) {
    const first = showFieldErrors(error.fields);
    // The field's own message says it all; the banner is for errors no field explains.
    formError.textContent = first ? "" : error.message;
    formError.hidden = Boolean(first);
    (first || inputs.name).focus();
  } finally {
    saveButton.disabled = false;
  }
});

// Delete one
const confirmDialog = $("confirm-dialog");
const confirmText = $("confirm-text");
const confirmError = $("confirm-error");
const confirmOk = $("confirm-ok");
let deleting = null;
wireClose(confirmDialog);
confirmDialog.addEventListener("close", restoreFocus);

function confirmDelete(item, opener) {
  deleting = item;
  confirmText.textContent = `Delete ${item.sku} (${item.name})? This cannot be undone.`;
  confirmError.hidden = true;
  confirmOk.disabled = false;
  openDialog(confirmDialog, opener);
}

confirmDialog.querySelector("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!deleting) return;
  confirmOk.disabled = true;
  const item = deleting;
  try {
    await deleteProduct(item.sku);
    deleting = null;
    returnFocus = els.table.closest(".table-wrap");
    confirmDialog.close("deleted");
    await reload();
    announce(`${item.sku} deleted.`);
  } catch (error) {
    confirmError.textContent = error.message;
    confirmError.hidden = false;
    confirmOk.disabled = false;
    if (error.status === 404) reload();
  }
});

// Delete all
const deleteAllDialog = $("delete-all-dialog");
const deleteAllInput = $("delete-all-input");
const deleteAllOk = $("delete-all-ok");
const deleteAllCancel = $("delete-all-cancel");
const deleteAllCount = $("delete-all-count");
const deleteAllConfirm = $("delete-all-confirm-field");
const deleteAllProgressWrap = $("delete-all-progress-wrap");
const deleteAllProgress = $("delete-all-progress");
const deleteAllPercent = $("delete-all-percent");
const deleteAllStatus = $("delete-all-status");
const deleteAllError = $("delete-all-error");
let deleteAllRunning = false;
wireClose(deleteAllDialog);
deleteAllDialog.addEventListener("close", restoreFocus);
deleteAllDialog.addEventListener("cancel", (event) => {
  if (deleteAllRunning) event.preventDefault(); // the job runs on; keep its progress on screen
});

els.deleteAllButton.addEventListener("click", () => {
  deleteAllInput.value = "";
  deleteAllInput.disabled = false;
  deleteAllConfirm.hidden = false;
  deleteAllOk.disabled = true;
  deleteAllOk.hidden = false;
  deleteAllCancel.textContent = "Cancel";
  deleteAllCancel.disabled = false;
  deleteAllProgressWrap.hidden = true;
  deleteAllProgress.value = 0;
  deleteAllPercent.textContent = "0%";
  deleteAllStatus.textContent = "";
  deleteAllError.hidden = true;
  const total = state.last?.total;
  deleteAllCount.textContent = total === undefined ? "all of them" : `${formatNumber(total)} ${total === 1 ? "product" : "products"}`;
  openDialog(deleteAllDialog, els.deleteAllButton);
  deleteAllInput.focus();
});

deleteAllInput.addEventListener("input", () => {
  deleteAllOk.disabled = deleteAllInput.value.trim() !== "DELETE";
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function showJob(job) {
  const percent = Math.max(0, Math.min(100, Number(job.percent) || 0));
  deleteAllProgress.value = percent;
  deleteAllPercent.textContent = `${Math.round(percent)}%`;
  deleteAllStatus.textContent = job.status === "SUCCEEDED"
    ? `All products deleted (${formatNumber(job.deleted)}).`
    : `Deleting… ${formatNumber(job.deleted)} of ${formatNumber(job.total)} products.`;
}

deleteAllDialog.querySelector("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (deleteAllInput.value.trim() !== "DELETE" || deleteAllRunning) return;
  deleteAllRunning = true;
  deleteAllError.hidden = true;
  deleteAllOk.disabled = true;
  deleteAllInput.disabled = true;
  deleteAllCancel.disabled = true;
  deleteAllConfirm.hidden = true;
  deleteAllProgressWrap.hidden = false;
  deleteAllStatus.textContent = "Starting…";
  try {
    let job = await startDeleteAll();
    showJob(job);
    while (!["SUCCEEDED", "FAILED"].includes(job.status)) {
      await sleep(POLL_MS);
      job = await getDeleteAll(job.id);
      showJob(job);
    }
    if (job.status === "FAILED") throw new Error(job.error || "The delete-all failed.");
    deleteAllOk.hidden = true;
    deleteAllCancel.textContent = "Close";
    await reload();
    announce(`All products deleted.`);
  } catch (error) {
    deleteAllError.textContent = `The products could not all be deleted: ${error.message}`;
    deleteAllError.hidden = false;
    deleteAllStatus.textContent = "";
    deleteAllConfirm.hidden = false;
    deleteAllInput.disabled = false;
    deleteAllOk.disabled = deleteAllInput.value.trim() !== "DELETE";
    reload();
  } finally {
    deleteAllRunning = false;
    deleteAllCancel.disabled = false;
    deleteAllCancel.focus();
  }
});

// --- export ---------------------------------------------------------------------------------
const exportEls = {
  button: $("export-start"),
  panel: $("export-panel"),
  progress: $("export-progress"),
  percent: $("export-percent"),
  status: $("export-status"),
  error: $("export-error"),
  download: $("export-download"),
};
let exportRunning = false;

function describeFilters({sku, q, active}) {
  const parts = [];
  if (sku) parts.push(`SKU starting with “${sku}”`);
  if (q) parts.push(`name containing “${q}”`);
  if (active) parts.push(active === "true" ? "active only" : "inactive only");
  return parts.length ? parts.join(", ") : "the whole catalog";
}

function showExport(job) {
  const rows = formatNumber(job.rows || 0);
  if (job.status === "SUCCEEDED") {
    exportEls.progress.value = 100;
    exportEls.percent.textContent = "100%";
    exportEls.status.textContent = `Export ready: ${rows} ${job.rows === 1 ? "product" : "products"}.`;
  } else if (job.total === null || job.total === undefined) {
    exportEls.progress.removeAttribute("value");      // indeterminate: a filtered export's total is not counted
    exportEls.percent.textContent = "";
    exportEls.status.textContent = `Exporting… ${rows} products written.`;
  } else {
    const percent = Math.max(0, Math.min(100, Number(job.percent) || 0));
    exportEls.progress.value = percent;
    exportEls.percent.textContent = `${Math.round(percent)}%`;
    exportEls.status.textContent = `Exporting… ${rows} of ${formatNumber(job.total)} products written.`;
  }
}

exportEls.button.addEventListener("click", async () => {
  if (exportRunning) return;
  exportRunning = true;
  const {sku, q, active} = filters();
  exportEls.button.disabled = true;
  exportEls.panel.hidden = false;
  exportEls.error.hidden = true;
  exportEls.download.hidden = true;
  exportEls.progress.removeAttribute("value");
  exportEls.percent.textContent = "";
  exportEls.status.textContent = `Starting the export of ${describeFilters({sku, q, active})}…`;
  try {
    let job = await startExport({sku, q, active});
    showExport(job);
    while (!["SUCCEEDED", "FAILED"].includes(job.status)) {
      await sleep(POLL_MS);
      job = await getExport(job.id);
      showExport(job);
    }
    if (job.status === "FAILED") throw new Error(job.error || "The export failed.");
    exportEls.download.href = job.download_url;
    exportEls.download.setAttribute("download", job.file_name);
    exportEls.download.textContent = `Download ${job.file_name}`;
    exportEls.download.hidden = false;
    exportEls.download.focus();
  } catch (error) {
    exportEls.error.textContent = `The export did not finish: ${error.message}`;
    exportEls.error.hidden = false;
    exportEls.status.textContent = "";
  } finally {
    exportRunning = false;
    exportEls.button.disabled = false;
  }
});

// --- start ----------------------------------------------------------------------------------
const docs = $("api-docs-link");
if (docs) linkWithToken(docs, "/openapi.json", "catalog-api-openapi.json");

load({cursor: null, page: 1}).finally(() => {
  document.documentElement.dataset.ready = "true";
});
