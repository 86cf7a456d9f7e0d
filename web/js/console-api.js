// REST calls of the CSR console (docs/protocol.md section 3): JSON in, JSON out, and every
// refusal turned into an ApiError whose message is the service's own sentence.
// The sign-in travels in the service's HttpOnly `tether_auth` cookie.

/** A refused REST call: `status`, the service's `code` and its human `message`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** Call `method path` with an optional JSON body; resolves to the JSON answer (null for 204). */
export async function api(method, path, body, bearer) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer) headers["Authorization"] = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The service can't be reached. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let value = null;
  try { value = text ? JSON.parse(text) : null; } catch { /* not JSON: handled below */ }
  if (response.ok) return value;
  if (value && typeof value.message === "string") {
    let message = sentence(value.message);
    const retry = response.headers.get("Retry-After");
    if (response.status === 429 && retry && !/\d/.test(message)) message += ` Try again in ${retry} s.`;
    throw new ApiError(response.status, value.code || "error", message);
  }
  throw new ApiError(response.status, "http", `The service answered with HTTP ${response.status}.`);
}

/** A message as a sentence: capital first letter, final full stop. */
export function sentence(text) {
  const t = String(text || "").trim();
  if (!t) return "Something went wrong.";
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
