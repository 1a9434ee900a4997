// The /products part of the HTTP API, as the Products page uses it. Errors are thrown as the
// ApiError of api.js: {message, status, fields}.

import {request} from "./api.js";

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

/** Starts an export of the products the filters match: {sku, q, active ("", "true", "false")}. */
export function startExport({sku = "", q = "", active = ""} = {}) {
  const query = new URLSearchParams();
  if (sku) query.set("sku", sku);
  if (q) query.set("q", q);
  if (active) query.set("active", active);
  const search = query.toString();
  return request("GET", search ? `/products/export?${search}` : "/products/export");
}

export function getExport(id) {
  return request("GET", `/products/exports/${encodeURIComponent(id)}`);
}
