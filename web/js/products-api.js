// The /products part of the HTTP API, as the Products page uses it. Errors are thrown as the
// ApiError of api.js: {message, status, fields}.

import {ApiError, apiUrl} from "./api.js";

async function request(method, path, body, {signal} = {}) {
  const init = {method, headers: {Accept: "application/json"}, signal};
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
  if (!response.ok) {
    const message = (data && (data.error || data.message)) || `The request failed (HTTP ${response.status}).`;
    throw new ApiError(message, {status: response.status, fields: data && data.fields});
  }
  return data;
}

const skuPath = (sku) => `/products/${encodeURIComponent(sku)}`;

/** filters: {sku, q, active ("", "true", "false"), limit, cursor} */
export function listProducts({sku = "", q = "", active = "", limit = 50, cursor = null} = {}, options) {
  const query = new URLSearchParams();
  if (sku) query.set("sku", sku);
  if (q) query.set("q", q);
  if (active) query.set("active", active);
  query.set("limit", String(limit));
  if (cursor) query.set("cursor", cursor);
  return request("GET", `/products?${query}`, undefined, options);
}

export function createProduct(values) {
  return request("POST", "/products", values);
}

export function replaceProduct(sku, values) {
  return request("PUT", skuPath(sku), values);
}

export function patchProduct(sku, values) {
  return request("PATCH", skuPath(sku), values);
}

export function deleteProduct(sku) {
  return request("DELETE", skuPath(sku));
}

export function startDeleteAll() {
  return request("DELETE", "/products");
}

export function getDeleteAll(id) {
  return request("GET", `/products/delete-all/${encodeURIComponent(id)}`);
}
