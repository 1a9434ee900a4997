// Choosing a file (picker or drag and drop), sending it, and following its import to the end.

import {ApiError, cancelImport, createImport, getImport, importFrom, isTerminal, linkWithToken, uploadFile} from "./api.js";
import {formatBytes, formatDuration, formatNumber, formatRate, statusLabel, statusTone} from "./format.js";

const POLL_MS = 1000;
const RETRY_MS = 2000;
const CSV_TYPES = ["text/csv", "application/csv"];

const $ = (id) => document.getElementById(id);

export function looksLikeCsv(file) {
  return /\.csv$/i.test(file.name) || CSV_TYPES.includes(file.type);
}

/**
 * listeners: {started(item), updated(item), ended(item)} — so the history can follow along;
 * importOptions() -> extra fields of POST /imports (the column-mapping preset chosen).
 * Returns {start(file), follow(item)}: follow an import created without an upload (started again).
 */
export function setupUpload(listeners = {}) {
  const els = {
    input: $("file-input"),
    zone: $("drop-zone"),
    error: $("upload-error"),
    panel: $("current-import"),
    file: $("current-file"),
    phase: $("current-phase"),
    status: $("upload-status"),
    uploadMeter: $("upload-meter"),
    uploadProgress: $("upload-progress"),
    uploadBytes: $("upload-bytes"),
    progress: $("progress"),
    percent: $("progress-percent"),
    rows: $("progress-rows"),
    rate: $("progress-rate"),
    eta: $("progress-eta"),
    elapsed: $("progress-elapsed"),
    cancel: $("cancel-current"),
    summary: $("summary"),
    previewMode: $("preview-mode"),
    importThis: $("import-this-file"),
  };

  // One import is followed at a time; choosing another file leaves the previous one running
  // on the server (it stays in the history) and stops following it here.
  let current = null; // {token, id, file, upload, timer, phase}
  let tokens = 0;

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = !message;
  }

  function announce(message) {
    if (els.status.textContent !== message) els.status.textContent = message;
  }

  function setPhase(status, label = statusLabel(status)) {
    els.phase.textContent = label;
    els.phase.className = `badge badge--${statusTone(status)}`;
    els.phase.dataset.status = status;
  }

  function resetPanel(file) {
    els.panel.hidden = false;
    els.summary.hidden = true;
    els.file.textContent = file.name;
    els.file.title = file.name;
    els.uploadMeter.hidden = false;
    els.uploadProgress.value = 0;
    els.uploadBytes.textContent = `0 B of ${formatBytes(file.size)}`;
    els.progress.value = 0;
    els.progress.removeAttribute("aria-busy");
    els.percent.textContent = "0%";
    for (const el of [els.rows, els.rate, els.eta, els.elapsed]) el.textContent = "—";
    els.cancel.hidden = false;
    els.cancel.disabled = false;
    setPhase("UPLOADING", "Uploading");
  }

  function renderUploadProgress(loaded, total) {
    const percent = total ? Math.min(100, (100 * loaded) / total) : 0;
    els.uploadProgress.value = percent;
    els.uploadBytes.textContent = `${formatBytes(loaded)} of ${formatBytes(total)}`;
  }

  function renderProgress(item) {
    setPhase(item.status);
    document.querySelector('label[for="progress"]').textContent = item.mode === "preview" ? "Preview" : "Import";
    const known = Boolean(item.total_rows) || isTerminal(item.status);
    if (known) {
      els.progress.value = item.percent ?? 0;
      els.percent.textContent = `${Math.floor(item.percent ?? 0)}%`;
      els.progress.removeAttribute("aria-busy");
    } else if (item.status === "PLANNING") {
      els.progress.removeAttribute("value"); // indeterminate while the file is being read
      els.progress.setAttribute("aria-busy", "true");
      els.percent.textContent = "counting rows…";
    } else {
      els.progress.value = 0;
      els.percent.textContent = "0%";
    }
    els.rows.textContent = item.total_rows
      ? `${formatNumber(item.rows_processed)} of ${formatNumber(item.total_rows)}`
      : formatNumber(item.rows_processed);
    els.rate.textContent = formatRate(item.rows_per_second);
    if (isTerminal(item.status)) {
      els.eta.textContent = "—";
    } else {
      els.eta.textContent = item.eta_seconds === null || item.eta_seconds === undefined
        ? "calculating…" : formatDuration(item.eta_seconds);
    }
    els.elapsed.textContent = item.started_at ? formatDuration(item.elapsed_seconds) : "—";
    renderChunks(item.chunk_map || "");
  }

  // One square per chunk of the distributed Map, from the import's `chunk_map` (one letter per
  // chunk, already in the progress poll): p pending, r running, d done, R retried, f failed.
  const CHUNK_STATES = {p: "pending", r: "running", d: "done", R: "retried", f: "failed"};

  function renderChunks(map) {
    const view = $("chunk-view");
    const grid = $("chunk-grid");
    view.hidden = !map;
    if (!map) return;
    while (grid.children.length > map.length) grid.lastChild.remove();
    while (grid.children.length < map.length) {
      const cell = document.createElement("span");
      cell.className = "chunk";
      grid.append(cell);
    }
    const counts = {};
    [...map].forEach((letter, index) => {
      const state = CHUNK_STATES[letter] || "pending";
      counts[state] = (counts[state] || 0) + 1;
      const cell = grid.children[index];
      if (cell.dataset.state !== state) {
        cell.className = `chunk chunk--${letter}`;
        cell.dataset.state = state;
        cell.title = `chunk ${index + 1}: ${state}`;
      }
    });
    const parts = Object.entries(counts).map(([state, n]) => `${formatNumber(n)} ${state}`);
    $("chunk-count").textContent = `${formatNumber(map.length)} chunks: ${parts.join(", ")}`;
    grid.setAttribute("aria-label", $("chunk-count").textContent);
  }

  function setSummaryValue(testid, text) {
    els.summary.querySelector(`[data-testid="${testid}"]`).textContent = text;
  }

  function renderSummary(item) {
    const heading = $("summary-heading");
    const preview = item.mode === "preview";
    if (preview && item.status === "SUCCEEDED") {
      heading.textContent = "Preview: importing this file would do this (nothing was written)";
    } else if (preview) {
      heading.textContent = item.status === "FAILED" ? "Preview failed" : "Preview cancelled";
    } else if (item.status === "SUCCEEDED") {
      heading.textContent = item.failed
        ? `Import finished, ${formatNumber(item.failed)} bad ${item.failed === 1 ? "row" : "rows"} skipped`
        : "Import finished";
    } else if (item.status === "FAILED") {
      heading.textContent = "Import failed";
    } else {
      heading.textContent = "Import cancelled";
    }
    els.summary.dataset.status = item.status;
    setSummaryValue("summary-total", formatNumber(item.total_rows ?? 0));
    setSummaryValue("summary-created", formatNumber(item.created));
    setSummaryValue("summary-updated", formatNumber(item.updated));
    setSummaryValue("summary-unchanged", formatNumber(item.unchanged));
    setSummaryValue("summary-failed", formatNumber(item.failed));
    setSummaryValue("summary-duplicates", formatNumber(item.duplicates));
    setSummaryValue("summary-elapsed", formatDuration(item.elapsed_seconds));
    // A file refused before any row was read has no numbers worth showing.
    $("summary-stats").hidden = item.status === "FAILED" && !item.total_rows && !item.rows_processed;

    const error = $("summary-error");
    error.textContent = item.status === "FAILED" ? (item.error || "The import failed.") : "";
    error.hidden = item.status !== "FAILED";

    const report = $("summary-report");
    const link = $("error-report-link");
    if (item.error_report_url) {
      linkWithToken(link, item.error_report_url, `errors-${item.id}.csv`,
        (failure) => showError(`The bad rows could not be downloaded: ${failure.message}`));
      report.hidden = false;
    } else {
      link.removeAttribute("href");
      link.onclick = null;
      report.hidden = true;
    }

    const unknown = $("summary-unknown");
    const columns = item.unknown_columns || [];
    unknown.textContent = columns.length
      ? `Ignored ${columns.length === 1 ? "column" : "columns"} not in the catalog: ${columns.join(", ")}`
      : "";
    unknown.hidden = columns.length === 0;
    renderPreview(item);
    els.summary.hidden = false;
  }

  // A finished preview: the products that would change per field, the sample (now -> after import)
  // and "Import this file", which starts the real import from the same uploaded object.
  const FIELD_LABELS = {sku: "SKU spelling", name: "Name", description: "Description", price: "Price", active: "Active"};

  function shown(value) {
    if (value === null || value === undefined || value === "") return "(empty)";
    if (value === true) return "yes";
    if (value === false) return "no";
    return String(value);
  }

  function renderPreview(item) {
    const block = $("summary-preview");
    block.hidden = !(item.mode === "preview" && item.status === "SUCCEEDED");
    if (block.hidden) return;
    const fields = $("preview-fields");
    fields.replaceChildren();
    for (const [name, count] of Object.entries(item.field_changes || {})) {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      dt.textContent = FIELD_LABELS[name] || name;
      const dd = document.createElement("dd");
      dd.textContent = formatNumber(count);
      dd.dataset.testid = `preview-field-${name}`;
      div.append(dt, dd);
      fields.append(div);
    }
    const sample = item.sample_changes || [];
    const table = $("preview-sample");
    const body = table.querySelector("tbody");
    body.replaceChildren();
    for (const change of sample) {
      const tr = document.createElement("tr");
      tr.dataset.testid = "preview-change";
      for (const text of [formatNumber(change.line), change.sku, FIELD_LABELS[change.field] || change.field,
        shown(change.old), shown(change.new)]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      body.append(tr);
    }
    $("preview-sample-caption").textContent = item.updated > sample.length
      ? `The first ${sample.length} changes in file order` : "Every change";
    table.hidden = sample.length === 0;
    $("preview-none").hidden = Boolean(item.updated);
    els.importThis.disabled = false;
    els.importThis.dataset.importId = item.id;
  }

  function describe(item) {
    if (item.mode === "preview" && item.status === "SUCCEEDED") {
      return `Preview finished: importing would create ${formatNumber(item.created)}, update ` +
        `${formatNumber(item.updated)}, leave ${formatNumber(item.unchanged)} unchanged; ` +
        `${formatNumber(item.failed)} bad rows. Nothing was written.`;
    }
    if (item.status === "SUCCEEDED") {
      return `Import finished: ${formatNumber(item.created)} created, ${formatNumber(item.updated)} updated, ` +
        `${formatNumber(item.unchanged)} unchanged, ${formatNumber(item.failed)} bad rows.`;
    }
    if (item.status === "FAILED") return `Import failed. ${item.error || ""}`.trim();
    if (item.status === "CANCELLED") return "Import cancelled.";
    return `${statusLabel(item.status)}…`;
  }

  function finish(state, item) {
    clearTimeout(state.timer);
    els.cancel.hidden = true;
    renderProgress(item);
    renderSummary(item);
    announce(describe(item));
    listeners.ended?.(item);
  }

  async function poll(state) {
    if (current !== state) return;
    let item;
    try {
      item = await getImport(state.id);
    } catch (error) {
      if (current !== state) return;
      if (error instanceof ApiError && error.status === 404) {
        els.cancel.hidden = true;
        showError(error.message);
        return;
      }
      announce("Lost contact with the server, retrying…");
      state.timer = setTimeout(() => poll(state), RETRY_MS);
      return;
    }
    if (current !== state) return;
    listeners.updated?.(item);
    if (isTerminal(item.status)) {
      finish(state, item);
      return;
    }
    renderProgress(item);
    announce(describe(item));
    state.timer = setTimeout(() => poll(state), POLL_MS);
  }

  async function start(file) {
    showError("");
    if (!looksLikeCsv(file)) {
      showError(`“${file.name}” is not a CSV file. Choose a file ending in .csv.`);
      return;
    }
    if (file.size === 0) {
      showError(`“${file.name}” is empty.`);
      return;
    }
    if (current) clearTimeout(current.timer);
    const state = {token: ++tokens, id: null, file, upload: null, timer: null, phase: "creating"};
    current = state;
    resetPanel(file);
    announce(`Preparing the upload of ${file.name}…`);

    let created;
    try {
      created = await createImport(file, {mode: els.previewMode.checked ? "preview" : "import",
                                          ...(listeners.importOptions?.() || {})});
    } catch (error) {
      if (current !== state) return;
      els.panel.hidden = true;
      showError(error.message);
      announce("");
      return;
    }
    if (current !== state) return;
    state.id = created.import.id;
    els.panel.dataset.importId = state.id;
    listeners.started?.(created.import);

    state.phase = "uploading";
    announce(`Uploading ${file.name} (${formatBytes(file.size)})…`);
    state.upload = uploadFile(created.upload, file, (loaded, total) => {
      if (current === state) renderUploadProgress(loaded, total);
    });
    try {
      await state.upload.promise;
    } catch (error) {
      if (current !== state) return;
      state.phase = "ended";
      els.cancel.hidden = true;
      // The import item is waiting for a file that will not come: cancel it so it does not linger.
      let item = null;
      try {
        item = await cancelImport(state.id);
      } catch {
        item = null;
      }
      setPhase("CANCELLED", error.status === -1 ? "Cancelled" : "Upload failed");
      if (error.status !== -1) showError(error.message);
      announce(error.message);
      if (item) listeners.ended?.(item);
      return;
    }
    if (current !== state) return;
    state.phase = "processing";
    announce("Upload complete. Waiting for the import to start…");
    setPhase("QUEUED", "Uploaded");
    poll(state);
  }

  // "Import this file": the previewed file, imported for real without a second upload, followed
  // like any import.
  async function importPreviewed() {
    const previewId = els.importThis.dataset.importId;
    if (!previewId) return;
    els.importThis.disabled = true;
    showError("");
    let item;
    try {
      item = (await importFrom(previewId, "import")).import;
    } catch (error) {
      showError(error.message);
      els.importThis.disabled = false;
      return;
    }
    follow(item);
  }

  // An import whose file is already stored (a previewed file, or one started again with another
  // column mapping): no upload.
  function follow(item) {
    if (current) clearTimeout(current.timer);
    const state = {token: ++tokens, id: item.id, file: {name: item.file_name, size: item.size || 0}, upload: null,
      timer: null, phase: "processing"};
    current = state;
    resetPanel(state.file);
    els.uploadMeter.hidden = true;
    els.panel.dataset.importId = item.id;
    listeners.started?.(item);
    renderProgress(item);
    announce(`Importing ${item.file_name}…`);
    poll(state);
  }

  async function cancelCurrent() {
    const state = current;
    if (!state) return;
    els.cancel.disabled = true;
    if (state.phase === "uploading" && state.upload) {
      state.upload.abort(); // start() cancels the import item when the upload rejects
      return;
    }
    if (!state.id) return;
    try {
      const item = await cancelImport(state.id);
      if (current === state) {
        clearTimeout(state.timer);
        listeners.updated?.(item);
        poll(state);
      }
    } catch (error) {
      if (current === state) {
        showError(error.message);
        els.cancel.disabled = false;
      }
    }
  }

  // --- wiring -----------------------------------------------------------------------
  els.input.addEventListener("change", () => {
    const file = els.input.files && els.input.files[0];
    if (file) start(file);
    els.input.value = ""; // choosing the same file again starts another import
  });

  els.cancel.addEventListener("click", cancelCurrent);
  els.importThis.addEventListener("click", importPreviewed);

  let dragDepth = 0;
  els.zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    dragDepth += 1;
    els.zone.classList.add("is-dragover");
  });
  els.zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  els.zone.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) els.zone.classList.remove("is-dragover");
  });
  els.zone.addEventListener("drop", (event) => {
    event.preventDefault();
    dragDepth = 0;
    els.zone.classList.remove("is-dragover");
    const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
    if (files.length > 1) {
      showError("Drop one file at a time.");
      return;
    }
    if (files.length === 1) start(files[0]);
  });
  // A file dropped next to the zone must not make the browser navigate away from the page.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (!els.zone.contains(event.target)) event.preventDefault();
    });
  }

  return {start, follow};
}
