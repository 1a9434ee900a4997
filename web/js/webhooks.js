// The Webhooks page: list endpoints, create one (the signing secret is shown once), enable/disable,
// delete, rotate the secret, send a test event and look at / replay recent deliveries.

import {linkWithToken, request} from "./api.js";
import {formatNumber, formatTime} from "./format.js";

const $ = (id) => document.getElementById(id);

const hookPath = (id) => `/webhooks/${encodeURIComponent(id)}`;
const api = {
  list: () => request("GET", "/webhooks"),
  create: (values) => request("POST", "/webhooks", values),
  update: (id, values) => request("PATCH", hookPath(id), values),
  remove: (id) => request("DELETE", hookPath(id)),
  rotate: (id) => request("POST", `${hookPath(id)}/rotate-secret`),
  test: (id) => request("POST", `${hookPath(id)}/test`),
  deliveries: (id) => request("GET", `${hookPath(id)}/deliveries?limit=20`),
  replay: (id, deliveryId) =>
    request("POST", `${hookPath(id)}/deliveries/${encodeURIComponent(deliveryId)}/replay`),
};

const els = {
  form: $("webhook-form"), url: $("webhook-url"), urlError: $("webhook-url-error"),
  typesError: $("webhook-types-error"), formError: $("webhook-form-error"), create: $("webhook-create"),
  secretBox: $("secret-box"), secretTitle: $("secret-title"), secretValue: $("secret-value"),
  secretCopy: $("secret-copy"), secretDismiss: $("secret-dismiss"),
  body: $("webhooks-body"), empty: $("webhooks-empty"), status: $("webhooks-status"),
  error: $("webhooks-error"), refresh: $("webhooks-refresh"),
};

// Per-endpoint UI state that survives re-rendering the table (not the secret: that is shown once).
const openDeliveries = new Set();
const testResults = new Map();   // id -> {text, ok}
const rowErrors = new Map();     // id -> message

function announce(text) {
  els.status.textContent = text;
}

function showError(message) {
  els.error.textContent = message;
  els.error.hidden = !message;
}

function el(tag, {text, cls, attrs} = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (cls) node.className = cls;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function button(label, testid, onClick, cls = "button button--small") {
  const b = el("button", {text: label, cls, attrs: {type: "button", "data-testid": testid}});
  b.addEventListener("click", onClick);
  return b;
}

const dash = (value) => (value === null || value === undefined || value === "" ? "—" : value);
const ms = (value) => (value === null || value === undefined ? "—" : `${formatNumber(value)} ms`);

function showSecret(title, secret) {
  els.secretTitle.textContent = title;
  els.secretValue.textContent = secret;
  els.secretBox.hidden = false;
}

function hideSecret() {
  els.secretValue.textContent = "";
  els.secretBox.hidden = true;
}

els.secretDismiss.addEventListener("click", hideSecret);
els.secretCopy.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(els.secretValue.textContent);
    announce("Secret copied to the clipboard.");
  } catch {
    announce("Copying failed; select the secret and copy it by hand.");
  }
});

// --- endpoints table ----------------------------------------------------------------------------
function statusBadge(endpoint) {
  const tone = endpoint.status === "healthy" ? "success" : endpoint.status === "failing" ? "danger" : "neutral";
  const label = endpoint.enabled ? (endpoint.status === "failing" ? "Enabled · failing" : "Enabled") : "Disabled";
  return el("span", {text: label, cls: `badge badge--${tone}`, attrs: {"data-testid": "webhook-enabled"}});
}

async function rowAction(id, work) {
  rowErrors.delete(id);
  showError("");
  try {
    await work();
  } catch (error) {
    rowErrors.set(id, error.message || String(error));
  }
  await load();
}

function renderEndpoint(endpoint) {
  const id = endpoint.id;
  const row = el("tr", {attrs: {"data-id": id, "data-testid": "webhook-row"}});
  const url = el("td", {cls: "webhook-url"}, [el("code", {text: endpoint.url, attrs: {"data-testid": "webhook-url-cell"}})]);
  if (endpoint.description) url.append(el("div", {text: endpoint.description, cls: "muted"}));
  if (endpoint.disabled_reason && !endpoint.enabled) {
    url.append(el("div", {text: `Disabled: ${endpoint.disabled_reason}`, cls: "muted"}));
  }
  const types = (endpoint.event_types || ["*"]).map((t) => (t === "*" ? "All events" : t)).join(", ");
  row.append(
    url,
    el("td", {text: types, attrs: {"data-testid": "webhook-types"}}),
    el("td", {}, [statusBadge(endpoint)]),
    el("td", {text: dash(endpoint.last_status_code), cls: "num", attrs: {"data-testid": "webhook-last-status"}}),
    el("td", {text: ms(endpoint.last_response_ms), cls: "num", attrs: {"data-testid": "webhook-last-ms"}}),
    el("td", {text: formatTime(endpoint.last_delivery_at), attrs: {"data-testid": "webhook-last-delivery"}}),
    el("td", {text: formatNumber(endpoint.consecutive_failures || 0), cls: "num",
      attrs: {"data-testid": "webhook-failures"}}),
  );

  const actions = el("td", {cls: "webhook-actions"});
  actions.append(
    button("Test", "webhook-test", (event) => {
      event.currentTarget.disabled = true;
      testResults.set(id, {text: "Sending a test event…", ok: true});
      renderDetails(id);
      rowAction(id, async () => {
        testResults.delete(id);
        const result = await api.test(id);
        const parts = [result.status_code ? `HTTP ${result.status_code}` : "No response",
          `${formatNumber(result.response_ms)} ms`];
        if (result.error) parts.push(result.error);
        testResults.set(id, {text: `Test: ${parts.join(" · ")}`, ok: result.ok,
          status: result.status_code, ms: result.response_ms});
      });
    }),
    button(endpoint.enabled ? "Disable" : "Enable", "webhook-toggle",
      () => rowAction(id, () => api.update(id, {enabled: !endpoint.enabled}))),
    button("Rotate secret", "webhook-rotate", () => {
      if (!window.confirm("Rotate the signing secret? The old secret keeps signing for 24 hours.")) return;
      rowAction(id, async () => {
        const result = await api.rotate(id);
        showSecret(`New signing secret for ${endpoint.url}`, result.secret);
      });
    }),
    button(openDeliveries.has(id) ? "Hide deliveries" : "Deliveries", "webhook-deliveries-toggle", () => {
      if (openDeliveries.has(id)) openDeliveries.delete(id);
      else openDeliveries.add(id);
      load();
    }),
    button("Delete", "webhook-delete", () => {
      if (!window.confirm(`Delete the webhook endpoint ${endpoint.url}? This cannot be undone.`)) return;
      rowAction(id, async () => {
        await api.remove(id);
        openDeliveries.delete(id);
        testResults.delete(id);
        announce("Endpoint deleted.");
      });
    }, "button button--small button--danger"),
  );
  row.append(actions);

  const details = el("tr", {cls: "webhook-details", attrs: {"data-details-for": id, "data-testid": "webhook-details"}});
  details.append(el("td", {attrs: {colspan: "8"}}));
  return [row, details];
}

function renderDetails(id, deliveries) {
  const details = els.body.querySelector(`tr[data-details-for="${CSS.escape(id)}"]`);
  if (!details) return;
  const cell = details.firstElementChild;
  const keep = cell.querySelector("[data-testid='deliveries']");
  cell.replaceChildren();
  const error = rowErrors.get(id);
  if (error) cell.append(el("p", {text: error, cls: "alert alert--error", attrs: {role: "alert", "data-testid": "webhook-error"}}));
  const test = testResults.get(id);
  if (test) {
    const attrs = {"data-testid": "webhook-test-result", role: "status"};
    if (test.status !== undefined) attrs["data-status"] = String(test.status ?? "");
    if (test.ms !== undefined) attrs["data-ms"] = String(test.ms);
    cell.append(el("p", {text: test.text, cls: `webhook-test ${test.ok ? "" : "webhook-test--failed"}`, attrs}));
  }
  if (deliveries) cell.append(renderDeliveries(id, deliveries));
  else if (keep) cell.append(keep);
  details.hidden = !cell.childElementCount;
}

function renderDeliveries(id, result) {
  const box = el("div", {cls: "deliveries", attrs: {"data-testid": "deliveries"}});
  box.append(el("h3", {text: "Recent deliveries", cls: "deliveries__title"}));
  if (result instanceof Error) {
    box.append(el("p", {text: `The deliveries cannot be loaded: ${result.message}`, cls: "alert alert--error",
      attrs: {role: "alert"}}));
    return box;
  }
  const items = result.items || [];
  if (!items.length) {
    box.append(el("p", {text: "No deliveries yet.", cls: "muted", attrs: {"data-testid": "deliveries-empty"}}));
    return box;
  }
  const list = el("ul", {cls: "deliveries__list"});
  for (const d of items) {
    const outcome = d.outcome === "delivered" ? "success" : d.outcome === "failed" ? "danger" : "neutral";
    const summary = [d.event_type || "event", d.kind && d.kind !== "delivery" ? `(${d.kind})` : "",
      `attempt ${d.attempt}`, d.status_code ? `HTTP ${d.status_code}` : "no response", ms(d.response_ms),
      formatTime(d.timestamp)].filter(Boolean).join(" · ");
    const item = el("li", {cls: "deliveries__item", attrs: {"data-testid": "delivery", "data-delivery-id": d.delivery_id}}, [
      el("span", {text: d.outcome || "—", cls: `badge badge--${outcome}`}),
      el("span", {text: summary}),
      el("code", {text: d.delivery_id, cls: "muted"}),
    ]);
    if (d.error) item.append(el("span", {text: d.error, cls: "muted"}));
    if (d.kind === "test") {
      item.append(el("span", {text: "Test events cannot be replayed; use Test again.", cls: "muted"}));
      list.append(item);
      continue;
    }
    item.append(button("Replay", "delivery-replay", (event) => {
      event.currentTarget.disabled = true;
      rowAction(id, async () => {
        await api.replay(id, d.delivery_id);
        announce(`Delivery ${d.delivery_id} queued for replay.`);
      });
    }));
    list.append(item);
  }
  box.append(list);
  return box;
}

let loading = null;
let again = false;

async function load() {
  if (loading) {
    again = true;
    return loading;
  }
  document.documentElement.dataset.loading = "true";
  loading = (async () => {
    try {
      const {items} = await api.list();
      showError("");
      const rows = items.flatMap(renderEndpoint);
      els.body.replaceChildren(...rows);
      els.empty.hidden = items.length > 0;
      for (const endpoint of items) renderDetails(endpoint.id);
      await Promise.all(items.filter((e) => openDeliveries.has(e.id)).map(async (e) => {
        let result;
        try {
          result = await api.deliveries(e.id);
        } catch (error) {
          result = error;
        }
        renderDetails(e.id, result);
      }));
    } catch (error) {
      showError(`The webhook endpoints cannot be loaded: ${error.message}`);
    }
  })();
  try {
    await loading;
  } finally {
    loading = null;
    if (again) {
      again = false;
      await load();
    }
    document.documentElement.dataset.loading = loading ? "true" : "false";
  }
}

// --- create form --------------------------------------------------------------------------------
const typeBoxes = [...els.form.querySelectorAll("input[name='event_types']")];
const allBox = typeBoxes.find((b) => b.value === "*");
for (const box of typeBoxes) {
  box.addEventListener("change", () => {
    if (box === allBox && box.checked) typeBoxes.forEach((b) => { if (b !== allBox) b.checked = false; });
    if (box !== allBox && box.checked) allBox.checked = false;
  });
}

function fieldError(node, input, message) {
  node.textContent = message || "";
  node.hidden = !message;
  if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
}

els.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  fieldError(els.urlError, els.url, "");
  fieldError(els.typesError, null, "");
  els.formError.hidden = true;
  const url = els.url.value.trim();
  const types = typeBoxes.filter((b) => b.checked).map((b) => b.value);
  let invalid = false;
  if (!/^https?:\/\/\S+$/i.test(url)) {
    fieldError(els.urlError, els.url, "Enter an http:// or https:// URL.");
    invalid = true;
  }
  if (!types.length) {
    fieldError(els.typesError, null, "Choose at least one event type, or All events.");
    invalid = true;
  }
  if (invalid) return;
  els.create.disabled = true;
  try {
    const endpoint = await api.create({url, event_types: types});
    showSecret(`Signing secret for ${endpoint.url}`, endpoint.secret);
    els.form.reset();
    announce("Endpoint created.");
    await load();
  } catch (error) {
    const fields = (error && error.fields) || {};
    if (fields.url) fieldError(els.urlError, els.url, fields.url);
    const typeMessage = Object.entries(fields).find(([k]) => k.startsWith("event_types"))?.[1];
    if (typeMessage) fieldError(els.typesError, null, typeMessage);
    els.formError.textContent = `The endpoint was not created: ${error.message}`;
    els.formError.hidden = false;
  } finally {
    els.create.disabled = false;
  }
});

els.refresh.addEventListener("click", () => load());

// --- start --------------------------------------------------------------------------------------
const docs = $("api-docs-link");
if (docs) linkWithToken(docs, "/openapi.json", "catalog-api-openapi.json");

load().finally(() => {
  document.documentElement.dataset.ready = "true";
});
