// The native REST API, with the session cookie and the CSRF header.

export class Api {
  constructor(csrfToken) {
    this.csrfToken = csrfToken;
  }

  /** Answers {ok, status, data, network}; `network` is true when no answer came at all. */
  async request(method, url, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = this.csrfToken;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        redirect: "manual",
      });
    } catch (error) {
      return { ok: false, status: 0, data: null, network: true, error };
    }
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    // A redirect (to the login page) means the session is gone.
    const status = response.type === "opaqueredirect" ? 401 : response.status;
    return { ok: response.ok, status, data, network: false };
  }

  get(url) {
    return this.request("GET", url);
  }

  put(url, body) {
    return this.request("PUT", url, body);
  }

  patch(url, body) {
    return this.request("PATCH", url, body);
  }

  post(url, body = {}) {
    return this.request("POST", url, body);
  }
}

/** The message and located details of an error answer of the native API. */
export function errorOf(result) {
  const error = result.data?.error;
  if (error) return { code: error.code, message: error.message, details: error.details || [] };
  if (result.network) return { code: "network", message: "The server cannot be reached.", details: [] };
  return { code: String(result.status), message: `The server answered ${result.status}.`, details: [] };
}
