// The REST API, as the browser uses it: session cookie plus the CSRF header.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.detail || `Request failed (${status})`);
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || {};
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const early = method === "GET" && takeEarly(path);
  const response = await (early || fetch(path.startsWith("/") ? path : `/api/v1/${path}`, init));
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// An answer boot.js asked for while the page was still loading, taken once.
function takeEarly(path) {
  const early = globalThis.teamchatBoot && globalThis.teamchatBoot.early;
  const response = early && early.get(path);
  if (response) early.delete(path);
  return response;
}

// Once the client is up, answers asked for early and not taken are stale: drop them.
export function forgetEarly() {
  if (globalThis.teamchatBoot) globalThis.teamchatBoot.early = null;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

function nextPath(next) {
  const parsed = new URL(next, window.location.href);
  return parsed.pathname + parsed.search;
}

// Every page of a cursor-paged list.
export async function getAll(path, limit = 5000) {
  let url = path;
  const results = [];
  while (url && results.length < limit) {
    const page = await get(url);
    results.push(...page.results);
    // `next` is an absolute URL; keep its path so api() does not prefix it again.
    url = page.next ? nextPath(page.next) : null;
  }
  return results;
}

// A multipart upload with progress, which fetch cannot report.
export function upload(path, formData, { onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/v1/${path}`);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) resolve(request.response);
      else reject(new ApiError(request.status, request.response));
    };
    request.onerror = () => reject(new ApiError(0, { error: { detail: "The upload failed: network error." } }));
    request.onabort = () => reject(new ApiError(0, { error: { code: "aborted", detail: "Upload cancelled." } }));
    if (signal) signal.addEventListener("abort", () => request.abort());
    request.send(formData);
  });
}
