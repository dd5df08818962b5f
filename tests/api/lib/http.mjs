// Tiny HTTP helpers for craftd's JSON API. craftd answers one request per connection
// (Connection: close), so every request uses a fresh connection (agent: false).
import http from "node:http";

// Sends one request. body: an object (sent as JSON), a string or Buffer (sent as is), or
// undefined (no body). Resolves with {status, body, text, headers}; body is the parsed JSON or
// null when the response is not JSON; request describes the request for failure messages.
export function request(baseUrl, method, path, { body, token, headers = {}, timeoutMs = 10000 } = {}) {
  const url = new URL(path, baseUrl);
  const payload = body === undefined ? null : typeof body === "string" || Buffer.isBuffer(body) ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
  const h = { ...headers };
  if (payload) {
    h["content-type"] ??= "application/json";
    h["content-length"] ??= String(payload.length);
  }
  if (token !== undefined && token !== null) h.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: h, agent: false });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(new Error(`${method} ${path}: no response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("response", (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed = null;
        try {
          parsed = JSON.parse(text);
        } catch {}
        const sent = payload ? payload.toString("utf8") : "";
        resolve({
          status: res.statusCode, body: parsed, text, headers: res.headers,
          // For assertion messages: what was asked.
          request: `${method} ${path}${sent ? " " + (sent.length > 300 ? sent.slice(0, 300) + `... (${sent.length} bytes)` : sent) : ""}`,
        });
      };
      res.on("end", done);
      // The server may answer early (413) and close while we still write; keep what came.
      res.on("error", done);
      res.on("aborted", done);
    });
    req.on("error", (e) => {
      // A write error after the response arrived (EPIPE/ECONNRESET on a body the server
      // refused) is not a failure of the request: the 'response' handler settles it.
      setTimeout(() => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new Error(`${method} ${path}: ${e.message}`));
      }, 200);
    });
    if (payload) req.end(payload);
    else req.end();
  });
}

// An API client bound to a craftd: post(path, body, token) and get(path, token) resolve with
// {status, body, text, request}.
export function httpClient(baseUrl) {
  return {
    baseUrl,
    post: (path, body, token) => request(baseUrl, "POST", path, { body: body ?? {}, token }),
    get: (path, token) => request(baseUrl, "GET", path, { token }),
    request: (method, path, options) => request(baseUrl, method, path, options),
  };
}
