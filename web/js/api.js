// The HTTP API, as the page uses it. Every call is prefixed with CATALOG_CONFIG.apiBase
// (empty: same origin) and carries the signed-in user's token (auth.js). Errors come back as JSON
// {error, fields?} and are thrown as ApiError; a 401 (token expired or refused) signs in again.

import {authHeaders, signIn} from "./auth.js";

const config = window.CATALOG_CONFIG || {};

export const apiBase = String(config.apiBase || "").replace(/\/+$/, "");

export const TERMINAL = Object.freeze(["SUCCEEDED", "FAILED", "CANCELLED"]);

export function isTerminal(status) {
  return TERMINAL.includes(status);
}

export function apiUrl(path) {
  return apiBase + path;
}

export class ApiError extends Error {
  constructor(message, {status = 0, fields = null} = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields;
  }
}

/** One JSON call to the API. `signal` (an AbortSignal) lets a page drop answers it no longer wants. */
export async function request(method, path, body, {signal} = {}) {
  const init = {method, headers: {Accept: "application/json", ...authHeaders()}, signal};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiUrl(path), init);
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError("The server cannot be reached. Check your connection and try again.");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.status === 401) {
    signIn();
    throw new ApiError("Your sign-in has expired: signing in again…", {status: 401});
  }
  if (!response.ok) {
    const message = (data && (data.error || data.message)) || `The request failed (HTTP ${response.status}).`;
    throw new ApiError(message, {status: response.status, fields: data && data.fields});
  }
  return data;
}

/**
 * Opens what an API path answers with a download: the bad-rows report (a redirect to a short-lived
 * signed URL, or {url} when asked for JSON) or the OpenAPI document. A plain link cannot carry the
 * token, so the page fetches with it and then hands the browser the signed URL or the body.
 */
export async function download(path, fileName) {
  let response;
  try {
    response = await fetch(apiUrl(path), {headers: {Accept: "application/json", ...authHeaders()}});
  } catch {
    throw new ApiError("The download cannot be reached. Check your connection and try again.");
  }
  if (response.status === 401) {
    signIn();
    throw new ApiError("Your sign-in has expired: signing in again…", {status: 401});
  }
  if (!response.ok) {
    let message = `The download failed (HTTP ${response.status}).`;
    try {
      message = (await response.json()).error || message;
    } catch {
      // not JSON: keep the status
    }
    throw new ApiError(message, {status: response.status});
  }
  const type = response.headers.get("content-type") || "";
  if (!response.redirected && type.includes("application/json")) {
    const body = await response.json();
    if (typeof body.url === "string" && /^https?:/.test(body.url)) {
      window.location.assign(body.url);            // a signed URL: no token needed
      return;
    }
    saveBlob(new Blob([JSON.stringify(body, null, 2)], {type: "application/json"}), fileName);
    return;
  }
  saveBlob(await response.blob(), fileName);
}

function saveBlob(blob, fileName) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Makes a link to an API path download through download() (with the token) when followed. */
export function linkWithToken(link, path, fileName, onError) {
  link.href = apiUrl(path);
  link.onclick = (event) => {
    event.preventDefault();
    download(path, fileName).catch((error) => onError?.(error));
  };
}

/** options: {mode?: "import" (writes the catalog) | "preview" (a dry run that writes nothing), preset?} */
export function createImport(file, options = {}) {
  return request("POST", "/imports", {file_name: file.name, size: file.size, ...options});
}

// A new import (or preview) of the file an earlier one uploaded: started at once, no upload.
export function importFrom(importId, mode = "import", options = {}) {
  return request("POST", "/imports", {from_import: importId, mode, ...options});
}

export function getImport(id) {
  return request("GET", `/imports/${encodeURIComponent(id)}`);
}

export function listImports({limit = 20, next = null} = {}) {
  const query = new URLSearchParams({limit: String(limit)});
  if (next) query.set("next", next);
  return request("GET", `/imports?${query}`);
}

export function cancelImport(id) {
  return request("POST", `/imports/${encodeURIComponent(id)}/cancel`);
}

/** The message inside an S3 XML error document, if there is one. */
function s3ErrorMessage(xhr) {
  const text = xhr.responseText || "";
  if (!text.includes("<Error")) return "";
  try {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    const code = doc.querySelector("Code")?.textContent || "";
    const message = doc.querySelector("Message")?.textContent || "";
    if (code === "EntityTooLarge") return "The file is larger than the upload limit.";
    return message || code;
  } catch {
    return "";
  }
}

/**
 * Sends the file to S3 with the presigned POST form: every field first, the file last.
 * Returns {promise, abort}. onProgress(loadedBytes, totalBytes) is called while sending.
 */
export function uploadFile(upload, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields || {})) {
      form.append(name, value);
    }
    form.append("file", file);

    xhr.open("POST", upload.url);
    xhr.upload.onprogress = (event) => {
      onProgress?.(event.loaded, event.lengthComputable ? event.total : file.size);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.(file.size, file.size);
        resolve();
      } else {
        const detail = s3ErrorMessage(xhr);
        reject(new ApiError(`The upload was refused (HTTP ${xhr.status})${detail ? ": " + detail : "."}`,
          {status: xhr.status}));
      }
    };
    xhr.onerror = () => reject(new ApiError("The upload failed: the storage service cannot be reached."));
    xhr.onabort = () => reject(new ApiError("The upload was cancelled.", {status: -1}));
    xhr.ontimeout = () => reject(new ApiError("The upload timed out."));
    xhr.send(form);
  });
  return {promise, abort: () => xhr.abort()};
}
