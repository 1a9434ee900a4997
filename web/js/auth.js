// Signing in: OAuth 2.0 authorization code with PKCE (S256) against CATALOG_CONFIG.auth
// ({authorizeUrl, tokenUrl, logoutUrl, clientId, scope}): Cognito's hosted UI on AWS, the local
// cloud's issuer (/local-auth) locally.
//
// The access token lives in this module's memory only: never in storage or a cookie. A page load
// without one goes to the sign-in page, whose own session (a cookie of the identity provider) brings
// a signed-in user straight back. Only the PKCE verifier, the state and the page to come back to are
// kept in sessionStorage, for the length of the redirect.
//
// This module finishes signing in before anything that imports it runs (top-level await): a page's
// code runs with `session` set, or not at all (the browser is on its way to the sign-in page).

const config = (window.CATALOG_CONFIG || {}).auth || null;
const PENDING = "catalog.signin";        // sessionStorage key of the sign-in under way

/** The signed-in user, or null when the deployment has no sign-in configured. */
export const session = config ? await establish() : null;

/** The Authorization header for API calls ({} without sign-in). */
export function authHeaders() {
  return session ? {Authorization: `Bearer ${session.accessToken}`} : {};
}

/** Goes to the sign-in page (and comes back here). Returns a promise that never settles. */
export function signIn() {
  if (!config) return Promise.reject(new Error("Sign-in is not configured."));
  return redirectToSignIn();
}

/** Forgets the token and ends the identity provider's session, then comes back to this page. */
export function signOut() {
  sessionStorage.removeItem(PENDING);
  if (!config.logoutUrl) {               // an issuer without a logout endpoint: forget the token only
    window.location.assign(pageUrl());
    return;
  }
  const query = new URLSearchParams({client_id: config.clientId, logout_uri: pageUrl()});
  window.location.assign(`${config.logoutUrl}?${query}`);
}

function pageUrl() {
  return window.location.origin + window.location.pathname;
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** A JWT's payload (the API checks the signature; the page only reads who signed in). */
function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function words(value) {
  if (Array.isArray(value)) return value.map(String);
  return String(value || "").replace(/^\[|\]$/g, "").split(/[\s,]+/).filter(Boolean);
}

/** The role the API will give these claims: "admin", "reader" or "" (as functions/api/authorization.py). */
export function roleOf(claims) {
  const groups = words(claims["cognito:groups"]);
  const scopes = words(claims.scope);
  if (groups.includes("admins") || scopes.includes("catalog/admin")) return "admin";
  if (groups.includes("readers") || scopes.includes("catalog/read")) return "reader";
  return "";
}

/** Where to come back to: this page as it is, without a sign-in answer's parameters. */
function backUrl() {
  const query = new URLSearchParams(window.location.search);
  for (const name of ["code", "state", "error", "error_description"]) query.delete(name);
  const search = query.toString();
  return window.location.pathname + (search ? `?${search}` : "") + window.location.hash;
}

function whenParsed(fn) {
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fn);
  } else {
    fn();
  }
}

async function redirectToSignIn() {
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem(PENDING, JSON.stringify({verifier, state, back: backUrl()}));
  const query = new URLSearchParams({
    response_type: "code", client_id: config.clientId, redirect_uri: pageUrl(), scope: config.scope || "openid",
    state, code_challenge: await challengeOf(verifier), code_challenge_method: "S256",
  });
  window.location.assign(`${config.authorizeUrl}?${query}`);
  return new Promise(() => {});          // the page is leaving
}

function signInFailed(message) {
  whenParsed(() => {
    const main = document.querySelector("main") || document.body;
    const alert = document.createElement("p");
    alert.className = "alert alert--error";
    alert.setAttribute("role", "alert");
    alert.dataset.testid = "signin-error";
    alert.textContent = message;
    const again = document.createElement("button");
    again.type = "button";
    again.className = "button button--small";
    again.textContent = "Sign in again";
    again.addEventListener("click", () => redirectToSignIn());
    alert.append(" ", again);
    main.prepend(alert);
  });
  return new Promise(() => {});          // nothing that needs the API runs
}

async function establish() {
  const params = new URLSearchParams(window.location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  const answered = params.has("code") || params.has("error");
  if (!answered || !pending || params.get("state") !== pending.state) {
    return redirectToSignIn();           // no sign-in under way for this answer: start one
  }
  sessionStorage.removeItem(PENDING);
  window.history.replaceState(null, "", pending.back || window.location.pathname);
  if (params.has("error")) {
    return signInFailed(`Signing in failed: ${params.get("error_description") || params.get("error")}.`);
  }
  let response;
  try {
    response = await fetch(config.tokenUrl, {
      method: "POST",
      headers: {"Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams({
        grant_type: "authorization_code", client_id: config.clientId, code: params.get("code"),
        redirect_uri: pageUrl(), code_verifier: pending.verifier,
      }),
    });
  } catch {
    return signInFailed("Signing in failed: the sign-in service cannot be reached.");
  }
  if (!response.ok) {
    return signInFailed(`Signing in failed (HTTP ${response.status}).`);
  }
  const tokens = await response.json();
  const claims = claimsOf(tokens.access_token);
  const identity = tokens.id_token ? claimsOf(tokens.id_token) : {};
  const expiresAt = Date.now() + 1000 * Number(tokens.expires_in || 3600);
  return Object.freeze({
    accessToken: tokens.access_token,
    name: identity.email || claims.username || identity["cognito:username"] || claims.sub || "",
    role: roleOf(claims),
    expiresAt,
  });
}

/** The signed-in user and a Sign out button, at the end of the page's header. */
function showSession() {
  const header = document.querySelector(".site-header__inner");
  if (!header || !session) return;
  const box = document.createElement("div");
  box.className = "session";
  box.dataset.testid = "session";
  const who = document.createElement("span");
  who.className = "session__user";
  who.dataset.testid = "session-user";
  who.textContent = session.name;
  const role = document.createElement("span");
  role.className = "badge session__role";
  role.dataset.testid = "session-role";
  role.textContent = session.role === "admin" ? "admin" : session.role === "reader" ? "reader (view only)" : "no role";
  const out = document.createElement("button");
  out.type = "button";
  out.className = "button button--small";
  out.dataset.testid = "sign-out";
  out.textContent = "Sign out";
  out.addEventListener("click", signOut);
  box.append(who, " ", role, " ", out);
  header.append(box);
  document.documentElement.dataset.role = session.role || "none";
}

if (session) whenParsed(showSession);
