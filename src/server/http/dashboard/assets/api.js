// The admin API as the page calls it: the session cookie authenticates,
// and every state-changing call carries X-Suture-Dashboard (the server's
// CSRF check). A 401 means the session ended: back to the login page.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = { accept: "application/json" };
  if (method !== "GET") {
    headers["x-suture-dashboard"] = "1";
    headers["content-type"] = "application/json";
  }
  const reply = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (reply.status === 401) {
    location.assign("/login");
    throw new ApiError(401, "the session has ended");
  }
  const data = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    throw new ApiError(reply.status, data.error || `${method} ${path}: ${reply.status}`);
  }
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body ?? {});

/// A query string from an object, leaving out empty values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
