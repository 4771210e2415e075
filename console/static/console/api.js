// REST calls from the page: same-origin session auth plus the CSRF header, JSON in and out.

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) return meta.content;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function api(method, url, data) {
  const headers = { Accept: "application/json" };
  const options = { method, headers, credentials: "same-origin" };
  if (data !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(data);
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(url, options);
  let body = null;
  const text = await response.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { message: text.slice(0, 200) };
    }
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// {"bot_feedback": {"comment": ["…"]}, "notes": ["…"]} -> {"bot_feedback.comment": "…", "notes": "…"}
export function flattenErrors(body, prefix = "") {
  const out = {};
  if (!body || typeof body !== "object") return out;
  for (const [key, value] of Object.entries(body)) {
    if (!prefix && (key === "code" || key === "message" || key === "errors")) continue;
    const path = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) {
      if (value.every((v) => typeof v === "string")) out[path] = value.join(" ");
      else value.forEach((v, i) => Object.assign(out, flattenErrors(v, `${path}.${i}`)));
    } else if (value && typeof value === "object") {
      Object.assign(out, flattenErrors(value, path));
    } else if (typeof value === "string") {
      out[path] = value;
    }
  }
  if (!prefix && body.errors && typeof body.errors === "object") Object.assign(out, flattenErrors(body.errors));
  return out;
}

// Show errors next to their fields ([data-error-for="name"]); what has no field goes to
// [data-form-error]. The typed values are never touched. Returns true when anything was shown.
export function showErrors(form, error, fallbackMessage) {
  clearErrors(form);
  const fields = error instanceof ApiError ? flattenErrors(error.body) : {};
  let shownAny = false;
  const leftovers = [];
  for (const [path, message] of Object.entries(fields)) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
    if (slot) {
      slot.textContent = message;
      const input = slot.closest("fieldset, form").querySelector(`[name="${CSS.escape(path.split(".").pop())}"]`);
      if (input) input.setAttribute("aria-invalid", "true");
      shownAny = true;
    } else {
      leftovers.push(message);
    }
  }
  const formError = form.querySelector("[data-form-error]");
  if (formError && (leftovers.length || !shownAny)) {
    const message = error instanceof ApiError ? error.body.message : "";
    formError.textContent = leftovers.join(" ") || (message && !shownAny ? message : "") || fallbackMessage || "";
    shownAny = true;
  }
  const firstInvalid = form.querySelector('[aria-invalid="true"]');
  if (firstInvalid) firstInvalid.focus();
  return shownAny;
}

export function clearErrors(form) {
  form.querySelectorAll("[data-error-for], [data-form-error]").forEach((el) => (el.textContent = ""));
  form.querySelectorAll('[aria-invalid="true"]').forEach((el) => el.removeAttribute("aria-invalid"));
}

// Template ids use "__" as a placeholder so that each cloned card or panel gets its own ids.
export function cloneTemplate(id, prefix) {
  const fragment = document.getElementById(id).content.cloneNode(true);
  for (const el of fragment.querySelectorAll("[id], [for], [aria-describedby], [aria-labelledby], [aria-controls]")) {
    for (const attr of ["id", "for", "aria-describedby", "aria-labelledby", "aria-controls"]) {
      const value = el.getAttribute(attr);
      if (value && value.includes("__")) el.setAttribute(attr, value.replaceAll("__", prefix));
    }
  }
  return fragment.firstElementChild;
}

export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? String(values[key]) : `{${key}}`));
}

export function formatMoney(amount, currency) {
  const lang = document.documentElement.lang || "en";
  try {
    return new Intl.NumberFormat(lang, { style: "currency", currency }).format(Number(amount));
  } catch {
    return `${amount} ${currency}`;
  }
}

export function formatDecimal(value, digits = 2) {
  const lang = document.documentElement.lang || "en";
  const number = Number(value);
  if (Number.isNaN(number)) return String(value);
  return number.toLocaleString(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// The time zone of the agent's profile (data-time-zone on <body>); undefined: the browser's own.
export function displayTimeZone() {
  return document.body.dataset.timeZone || undefined;
}

export function formatDateTime(iso, options) {
  if (!iso) return "";
  const lang = document.documentElement.lang || "en";
  try {
    return new Intl.DateTimeFormat(lang, { ...options, timeZone: displayTimeZone() }).format(new Date(iso));
  } catch {
    return new Intl.DateTimeFormat(lang, options).format(new Date(iso)); // a zone this browser does not know
  }
}

export function formatTime(iso) {
  return formatDateTime(iso, { hour: "2-digit", minute: "2-digit" });
}

export function languageName(code) {
  const lang = document.documentElement.lang || "en";
  try {
    return new Intl.DisplayNames([lang], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}
