// The native REST API with the session cookie and the CSRF header.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** Answers {ok, status, data}; status 0 when the server could not be reached. */
export async function request(method, url, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    return { ok: false, status: 0, data: null };
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { ok: response.ok, status: response.status, data };
}

export function errorMessage(result) {
  if (result.data?.error) {
    const details = (result.data.error.details || []).map((d) => (d.path ? `${d.path}: ${d.message}` : d.message));
    return [result.data.error.message, ...details].join(" ");
  }
  return result.status === 0 ? "The server cannot be reached." : `The server answered ${result.status}.`;
}
