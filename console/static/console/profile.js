// Profile: payout details saved through the API, the IBAN checked as soon as the field is left
// (checksum in the browser, the full check by the server on save), errors next to their fields and
// the typed values kept.

import { api, clearErrors, showErrors } from "./api.js";

const config = JSON.parse(document.getElementById("profile-config").textContent);
const S = config.strings;
const form = document.getElementById("payout-form");
const iban = form.querySelector("[name=iban]");
const ibanError = form.querySelector("[data-error-for=iban]");
const saved = form.querySelector("[data-saved]");

// ISO 13616: move the first four characters to the end, letters to numbers, remainder mod 97 is 1.
export function ibanProblem(value) {
  const compact = value.replace(/\s+/g, "").toUpperCase();
  if (!compact) return S.required;
  if (compact.length < 15 || !/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact)) return S.iban_short;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const char of rearranged) {
    const digits = /\d/.test(char) ? char : String(char.charCodeAt(0) - 55);
    for (const digit of digits) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1 ? null : S.iban_checksum;
}

function checkIban() {
  const problem = iban.value.trim() ? ibanProblem(iban.value) : null;
  ibanError.textContent = problem || "";
  if (problem) iban.setAttribute("aria-invalid", "true");
  else iban.removeAttribute("aria-invalid");
  return !problem;
}

iban.addEventListener("blur", (event) => {
  // Leaving the field for the save button: the save checks it, and an error appearing now would move
  // the button away from under the pointer before the click lands.
  if (event.relatedTarget && event.relatedTarget.type === "submit" && form.contains(event.relatedTarget)) return;
  checkIban();
});
iban.addEventListener("input", () => {
  if (iban.getAttribute("aria-invalid") === "true") checkIban();
  saved.textContent = "";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  saved.textContent = "";
  clearErrors(form);
  const data = new FormData(form);
  const body = { holder: data.get("holder").trim(), iban: data.get("iban").trim(), bic: data.get("bic").trim() };
  const address = {};
  for (const key of ["street", "postcode", "town", "country"]) {
    const value = (data.get(key) || "").trim();
    if (value) address[key] = key === "country" ? value.toUpperCase() : value;
  }
  if (Object.keys(address).length) body.address = address;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("PUT", config.payoutUrl, body);
    saved.textContent = S.saved;
    document.querySelector("[data-payout-missing]")?.remove();
  } catch (error) {
    showErrors(form, error, S.error_generic);
    // The server's own IBAN message is in English; the browser's check says the same in the page's language.
    if (iban.value.trim() && ibanProblem(iban.value)) {
      ibanError.textContent = ibanProblem(iban.value);
      iban.setAttribute("aria-invalid", "true");
    }
  } finally {
    button.disabled = false;
  }
});

const permission = document.querySelector("[data-notification-permission]");
if (permission && "Notification" in window && Notification.permission === "denied") permission.hidden = false;

// The form's checks are attached: on a slow machine the module runs a moment after the page shows.
form.dataset.ready = "true";
