// The import history: newest first, "Load more" pages, live refresh while imports run, Cancel.

import {cancelImport, isTerminal, linkWithToken, listImports} from "./api.js";
import {formatNumber, formatTime, statusLabel, statusTone} from "./format.js";

const PAGE_SIZE = 20;
const ACTIVE_REFRESH_MS = 3000;
const IDLE_REFRESH_MS = 15000;

const $ = (id) => document.getElementById(id);

function newestFirst(a, b) {
  const byTime = String(b.created_at || "").localeCompare(String(a.created_at || ""));
  return byTime || String(b.id).localeCompare(String(a.id));
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  return td;
}

export function setupHistory() {
  const els = {
    table: $("history"),
    body: $("history-body"),
    more: $("history-more"),
    refresh: $("history-refresh"),
    message: $("history-message"),
    empty: $("history-empty"),
  };

  const items = new Map(); // id -> item
  const rows = new Map();  // id -> <tr>
  let next = null;         // cursor of the next page after everything loaded so far
  let morePagesLoaded = false;
  let loaded = false;
  let timer = null;
  let refreshing = null;

  // One message at a time; a successful reload only clears a message about loading, so the
  // answer to a Cancel click stays on screen after the refresh that follows it.
  let messageKind = null;
  function showMessage(text, kind = "load") {
    els.message.textContent = text;
    els.message.hidden = !text;
    messageKind = text ? kind : null;
  }
  function clearLoadMessage() {
    if (messageKind === "load") showMessage("");
  }

  function upsert(item) {
    const known = items.get(item.id);
    // A late answer from an earlier request must not bring a finished import back to life.
    if (known && isTerminal(known.status) && !isTerminal(item.status)) return;
    items.set(item.id, item);
  }

  function fillRow(tr, item) {
    tr.dataset.importId = item.id;
    tr.dataset.status = item.status;
    tr.replaceChildren();

    const file = cell(item.file_name || "—", "file");
    file.title = `${item.file_name || ""}\n${item.id}`;
    tr.append(file);
    const source = cell(item.source === "s3" ? "S3 drop" : "Upload", "source");
    if (item.mode === "preview") {
      const mark = document.createElement("span");
      mark.className = "badge badge--neutral";
      mark.dataset.testid = "history-preview";
      mark.textContent = "Preview";
      mark.title = "A dry run: nothing was written";
      source.append(" ", mark);
    }
    tr.append(source);

    const status = cell(undefined, "status");
    const badge = document.createElement("span");
    badge.className = `badge badge--${statusTone(item.status)}`;
    badge.dataset.testid = "history-status";
    badge.dataset.status = item.status;
    badge.textContent = statusLabel(item.status);
    status.append(badge);
    if (item.status === "FAILED" && item.error) badge.title = item.error;
    tr.append(status);

    let rowsText = "—";
    if (item.total_rows) {
      rowsText = isTerminal(item.status)
        ? formatNumber(item.total_rows)
        : `${formatNumber(item.rows_processed)} / ${formatNumber(item.total_rows)}`;
    }
    tr.append(cell(rowsText, "num"));
    const created = cell(formatNumber(item.created), "num");
    created.dataset.testid = "history-created";
    const updated = cell(formatNumber(item.updated), "num");
    updated.dataset.testid = "history-updated";
    const failed = cell(formatNumber(item.failed), "num");
    failed.dataset.testid = "history-failed";
    tr.append(created, updated, failed);

    const started = cell(undefined, "time");
    const when = item.started_at || item.created_at;
    if (when) {
      const time = document.createElement("time");
      time.dateTime = when;
      time.textContent = formatTime(when);
      time.title = new Date(when).toLocaleString();
      started.append(time);
    } else {
      started.textContent = "—";
    }
    tr.append(started);

    const actions = cell(undefined, "actions");
    if (!isTerminal(item.status)) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button button--small button--danger";
      button.textContent = "Cancel";
      button.dataset.testid = "history-cancel";
      button.setAttribute("aria-label", `Cancel the import of ${item.file_name || item.id}`);
      button.addEventListener("click", () => cancel(item, button));
      actions.append(button);
    } else if (item.error_report_url) {
      const link = document.createElement("a");
      linkWithToken(link, item.error_report_url, `errors-${item.id}.csv`,
        (error) => showMessage(`The bad rows could not be downloaded: ${error.message}`, "cancel"));
      link.textContent = "Bad rows";
      link.dataset.testid = "history-error-report";
      link.setAttribute("aria-label", `Download the bad rows of ${item.file_name || item.id} (CSV)`);
      actions.append(link);
    }
    tr.append(actions);
  }

  function signature(item) {
    return JSON.stringify([item.mode, item.status, item.rows_processed, item.total_rows, item.created, item.updated,
      item.failed, item.started_at, item.error_report_url, item.file_name]);
  }

  function render() {
    const ordered = [...items.values()].sort(newestFirst);
    let cursor = els.body.firstElementChild;
    for (const item of ordered) {
      let tr = rows.get(item.id);
      if (!tr) {
        tr = document.createElement("tr");
        rows.set(item.id, tr);
      }
      const sig = signature(item);
      // Rows are only rebuilt when they changed, so a focused Cancel button keeps its focus.
      if (tr.dataset.signature !== sig) {
        const hadFocus = tr.contains(document.activeElement);
        fillRow(tr, item);
        tr.dataset.signature = sig;
        if (hadFocus) els.table.closest(".table-wrap")?.focus();
      }
      if (tr !== cursor) els.body.insertBefore(tr, cursor);
      else cursor = cursor.nextElementSibling;
    }
    els.empty.hidden = !loaded || items.size > 0;
    els.more.hidden = !next;
  }

  function anyRunning() {
    for (const item of items.values()) if (!isTerminal(item.status)) return true;
    return false;
  }

  function schedule() {
    clearTimeout(timer);
    if (document.hidden) return;
    timer = setTimeout(refresh, anyRunning() ? ACTIVE_REFRESH_MS : IDLE_REFRESH_MS);
  }

  /** Reloads the first page; pages loaded with "Load more" stay as they are. */
  function refresh() {
    if (refreshing) return refreshing;
    clearTimeout(timer);
    els.table.setAttribute("aria-busy", "true");
    refreshing = (async () => {
      try {
        const page = await listImports({limit: PAGE_SIZE});
        for (const item of page.items || []) upsert(item);
        if (!morePagesLoaded) next = page.next || null;
        loaded = true;
        clearLoadMessage();
        render();
      } catch (error) {
        showMessage(`The import history could not be loaded: ${error.message}`);
      } finally {
        els.table.removeAttribute("aria-busy");
        refreshing = null;
        schedule();
      }
    })();
    return refreshing;
  }

  async function loadMore() {
    if (!next) return;
    els.more.disabled = true;
    els.table.setAttribute("aria-busy", "true");
    try {
      const page = await listImports({limit: PAGE_SIZE, next});
      for (const item of page.items || []) upsert(item);
      next = page.next || null;
      morePagesLoaded = true;
      clearLoadMessage();
      render();
    } catch (error) {
      showMessage(`More imports could not be loaded: ${error.message}`);
    } finally {
      els.more.disabled = false;
      els.table.removeAttribute("aria-busy");
    }
  }

  async function cancel(item, button) {
    button.disabled = true;
    showMessage("");
    try {
      const updated = await cancelImport(item.id);
      upsert(updated);
      render();
    } catch (error) {
      showMessage(`“${item.file_name || item.id}” could not be cancelled: ${error.message}`, "cancel");
      button.disabled = false;
      await refresh();
    }
  }

  els.more.addEventListener("click", loadMore);
  els.refresh.addEventListener("click", () => refresh());
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else refresh();
  });

  refresh();

  // What the upload panel tells the history about the import it follows.
  return {
    refresh,
    started(item) {
      upsert(item);
      render();
      schedule();
    },
    updated(item) {
      upsert(item);
      render();
    },
    ended(item) {
      upsert(item);
      render();
      refresh();
    },
  };
}
