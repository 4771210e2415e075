// Claim or release a shift place through the API; the page is then reloaded, so what it shows is
// what the server holds. A refusal (full, too late, not eligible) is shown on the shift itself.

import { api, ApiError } from "./api.js";

const S = JSON.parse(document.getElementById("shifts-config").textContent).strings;

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-shift-action]");
  if (!button || button.disabled) return;
  const card = button.closest("[data-shift]");
  const error = card.querySelector("[data-shift-error]");
  button.disabled = true;
  error.textContent = "";
  try {
    await api("POST", `/api/v1/shifts/${card.dataset.shift}/${button.dataset.shiftAction}/`);
    location.reload();
  } catch (failure) {
    error.textContent = failure instanceof ApiError && failure.body.message ? failure.body.message : S.error_generic;
    button.disabled = false;
  }
});
