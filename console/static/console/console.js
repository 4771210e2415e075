// The agent's console: presence switch, live offers, the work view and today's numbers.
// Offers are keyed by offer_id and open tickets by ticket id, so a resent state after a reconnect
// updates what is on screen instead of duplicating it.

import { askNotificationPermission, beep, notify, unlockAudio, vibrate } from "./alerts.js";
import { api, ApiError, cloneTemplate, format, formatDecimal, formatMoney, languageName } from "./api.js";
import { AgentSocket } from "./socket.js";
import { renderMessage, WorkView } from "./work.js";

const config = JSON.parse(document.getElementById("console-config").textContent);
const S = config.strings;
const prefs = config.preferences;
const baseTitle = document.title;

const el = {
  banner: document.getElementById("conn-banner"),
  bannerText: document.querySelector("[data-banner-text]"),
  bannerRetry: document.querySelector("[data-banner-retry]"),
  toast: document.getElementById("toast"),
  switch: document.getElementById("online-switch"),
  switchText: document.querySelector("[data-switch-text]"),
  presenceLabel: document.querySelector("[data-presence-label]"),
  presenceDot: document.querySelector("[data-presence-dot]"),
  presenceReason: document.querySelector("[data-presence-reason]"),
  suspended: document.querySelector("[data-suspended]"),
  statusReason: document.querySelector("[data-status-reason]"),
  waiting: document.querySelector("[data-waiting]"),
  offers: document.getElementById("offers"),
  earnings: document.querySelector("[data-earnings-today]"),
  surge: document.querySelector("[data-surge]"),
  sharePercent: document.querySelector("[data-share-percent]"),
  shareFill: document.querySelector("[data-share-fill]"),
  shareText: document.querySelector("[data-share-text]"),
};

const agent = {
  status: el.switch.disabled ? "suspended" : "active",
  presence: config.presence || (el.switch.getAttribute("aria-checked") === "true" ? "online" : "offline"),
  presenceReason: config.presenceReason || "",
  breakUntil: config.breakUntil ? Date.parse(config.breakUntil) : null,
  connected: false,
};
const pause = {
  banner: document.querySelector("[data-break-banner]"),
  text: document.querySelector("[data-break-text]"),
  back: document.querySelector("[data-back-online]"),
  form: document.querySelector("[data-break-form]"),
  noNewWork: document.querySelector("[data-no-new-work]"),
};
let wantedPresence = null; // a switch flip made while the line was down, sent on reconnect
const offers = new Map(); // offer_id -> {card, frame, deadlineMs, totalMs, state, generation}
let generation = 0;
let retryAt = null;
let bannerTimer = null;

// ------------------------------------------------------------------ connection banner

function showBanner(text, { retry = false, ok = false } = {}) {
  el.banner.hidden = false;
  el.banner.classList.toggle("ok", ok);
  el.bannerText.textContent = text;
  el.bannerRetry.hidden = !retry;
}

function hideBanner() {
  el.banner.hidden = true;
  clearInterval(bannerTimer);
  bannerTimer = null;
}

function showRetryCountdown() {
  clearInterval(bannerTimer);
  const update = () => {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    if (!navigator.onLine) showBanner(S.offline_network, { retry: true });
    else if (seconds > 0) showBanner(format(S.connection_lost, { seconds }), { retry: true });
    else showBanner(S.reconnecting);
  };
  update();
  bannerTimer = setInterval(update, 500);
}

let toastTimer = null;
function toast(text) {
  el.toast.textContent = text;
  el.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.toast.hidden = true), 6000);
}

// ------------------------------------------------------------------ presence

function applyStatus({ status, statusReason, presence, presenceReason, breakUntil }) {
  if (status !== undefined) agent.status = status;
  if (presence !== undefined) agent.presence = presence;
  if (presenceReason !== undefined) agent.presenceReason = presenceReason || "";
  if (breakUntil !== undefined) agent.breakUntil = breakUntil ? Date.parse(breakUntil) : null;
  renderPause();
  const suspended = agent.status === "suspended";
  el.suspended.hidden = !suspended;
  if (statusReason !== undefined) el.statusReason.textContent = statusReason || "";
  el.switch.disabled = agent.status !== "active";
  const online = agent.presence === "online";
  el.switch.setAttribute("aria-checked", String(online));
  el.switchText.textContent = online ? S.go_offline : S.go_online;
  el.presenceLabel.textContent = S[agent.presence] || agent.presence;
  el.presenceDot.className = `dot dot-${agent.presence}`;
  if (presenceReason !== undefined) el.presenceReason.textContent = presenceReason || "";
  updateWaiting();
}

function updateWaiting() {
  let text;
  if (agent.status === "suspended") text = S.suspended;
  else if (!agent.connected && el.waiting.dataset.seen) text = S.reconnecting;
  else if (agent.presence === "online") text = S.waiting_online;
  else if (agent.presence === "away") text = S.waiting_away;
  else if (agent.presence === "break") text = S.waiting_break;
  else if (agent.presence === "no_new_work") text = S.waiting_no_new_work;
  else text = S.waiting_offline;
  el.waiting.textContent = text;
  el.waiting.hidden = [...offers.values()].some((o) => o.state === "open");
}

el.switch.addEventListener("click", () => {
  unlockAudio(); // a click is the moment browsers allow sound to be enabled
  if (prefs.browser_notification) askNotificationPermission();
  const wanted = agent.presence === "online" ? "offline" : "online";
  applyStatus({ presence: wanted, presenceReason: "" });
  if (!socket.send({ type: "presence", status: wanted })) wantedPresence = wanted;
});

// A break (reason and timer) and "no new work": the agent's own pauses, offered nothing meanwhile.
function renderPause() {
  const paused = agent.presence === "break" || agent.presence === "no_new_work";
  pause.banner.hidden = !paused;
  pause.form.hidden = paused || agent.status !== "active";
  if (agent.presence === "break") {
    const left = agent.breakUntil ? Math.max(0, Math.ceil((agent.breakUntil - Date.now()) / 1000)) : 0;
    const time = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    pause.text.textContent = left
      ? format(S.break_left, { reason: agent.presenceReason, time })
      : format(S.break_over, { reason: agent.presenceReason });
  } else if (agent.presence === "no_new_work") {
    pause.text.textContent = S.waiting_no_new_work;
  }
}
setInterval(() => agent.presence === "break" && renderPause(), 1000);

function setPresence(frame) {
  applyStatus({
    presence: frame.status,
    presenceReason: frame.reason || "",
    breakUntil: frame.status === "break" ? new Date(Date.now() + frame.minutes * 60000).toISOString() : null,
  });
  if (!socket.send({ type: "presence", ...frame })) wantedPresence = frame.status;
}

pause.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const minutes = Number(pause.form.elements.minutes.value);
  const slot = pause.form.querySelector("[data-error-for='minutes']");
  slot.textContent = "";
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 120) {
    slot.textContent = S.required;
    pause.form.elements.minutes.focus();
    return;
  }
  setPresence({ status: "break", reason: pause.form.elements.reason.value, minutes });
  pause.back.focus();
});
pause.noNewWork.addEventListener("click", () => {
  setPresence({ status: "no_new_work" });
  pause.back.focus();
});
pause.back.addEventListener("click", () => {
  setPresence({ status: "online" });
  el.switch.focus();
});

// ------------------------------------------------------------------ offers

function remainingMs(offer) {
  return Math.max(0, offer.deadlineMs - performance.now());
}

function setDeadline(offer, frame) {
  // remaining_seconds is measured on the server's clock, so a wrong clock on the phone does not matter.
  const seconds =
    typeof frame.remaining_seconds === "number"
      ? frame.remaining_seconds
      : (Date.parse(frame.expires_at) - Date.now()) / 1000;
  offer.deadlineMs = performance.now() + seconds * 1000;
  offer.totalMs = Math.max(offer.totalMs || 0, seconds * 1000, 1);
}

function renderCountdown(offer) {
  const left = remainingMs(offer);
  const seconds = Math.ceil(left / 1000);
  const text = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  const countdown = offer.card.querySelector("[data-countdown]");
  if (countdown.textContent !== text) countdown.textContent = text;
  offer.card.querySelector("[data-countdown-bar]").style.width = `${(100 * left) / offer.totalMs}%`;
  offer.card.classList.toggle("urgent", left < 5000);
  if (left === 0 && offer.state === "open") {
    setOfferStatus(offer, S.expired);
    disableOffer(offer);
  }
}

setInterval(() => offers.forEach((offer) => offer.state !== "gone" && renderCountdown(offer)), 250);

function fillOffer(card, frame) {
  const ticket = frame.ticket || {};
  const transfer = card.querySelector("[data-transfer]");
  if (ticket.transfer) {
    // A colleague passes this customer on: who and why, before anything else.
    transfer.hidden = false;
    transfer.textContent = ticket.transfer.note
      ? format(S.transfer_from, { name: ticket.transfer.from, note: ticket.transfer.note })
      : format(S.transfer_from_no_note, { name: ticket.transfer.from });
  }
  card.querySelector("[data-summary]").textContent = ticket.summary || "";
  const pay = frame.pay_estimate || {};
  card.querySelector("[data-pay]").textContent = pay.amount ? formatMoney(pay.amount, pay.currency) : "–";
  card.querySelector("[data-surge-note]").textContent =
    pay.surge && Number(pay.surge) !== 1 ? format(S.surge, { surge: formatDecimal(pay.surge) }) : "";
  card.querySelector("[data-language]").textContent = languageName(ticket.language);
  const skills = (ticket.skills || []).map((s) => (typeof s === "string" ? s : s.code));
  card.querySelector("[data-skills]").textContent = skills.length ? skills.join(", ") : S.none;
  card.querySelector("[data-reason]").textContent = S.reasons[ticket.reason] || ticket.reason || "";
  card.querySelector("[data-priority]").textContent = format(S.priority, { priority: ticket.priority ?? "–" });
  const customer = ticket.customer || {};
  const who = [customer.display_name || S.customer];
  if (customer.tier === "vip") who.push(S.vip);
  if (customer.vulnerable) who.push(S.vulnerable);
  card.querySelector("[data-customer]").textContent = who.join(" · ");
  // Escalated before in the same conversation: who served it (and what they noted), so it is no surprise.
  const earlier = ticket.earlier_escalations || [];
  const earlierBox = card.querySelector("[data-offer-earlier]");
  if (earlierBox) {
    earlierBox.hidden = earlier.length === 0;
    card.querySelector("[data-offer-earlier-list]").textContent = earlier
      .map((e) => [e.agent ? e.agent.display_name : "", e.resolution_notes || e.summary].filter(Boolean).join(": "))
      .join(" · ");
  }
  card.querySelector("[data-why]").replaceChildren(
    ...(frame.why || []).map((reason) => {
      const li = document.createElement("li");
      li.textContent = reason;
      return li;
    }),
  );
  const transcript = ticket.transcript || [];
  card.querySelector("[data-transcript-count]").textContent = String(transcript.length);
  card
    .querySelector("[data-transcript]")
    .replaceChildren(...transcript.map((m) => renderMessage({ author_kind: m.role, text: m.text, at: m.at }, S)));
}

function showOffer(frame) {
  const existing = offers.get(frame.offer_id);
  if (existing) {
    existing.generation = generation;
    if (existing.state !== "gone") setDeadline(existing, frame);
    return;
  }
  const card = cloneTemplate("offer-template", `o-${frame.offer_id.slice(0, 8)}`);
  card.dataset.offerId = frame.offer_id;
  const offer = { card, frame, state: "open", generation };
  setDeadline(offer, frame);
  fillOffer(card, frame);
  wireOffer(offer);
  offers.set(frame.offer_id, offer);
  el.offers.prepend(card);
  renderCountdown(offer);
  socket.send({ type: "ack", offer_id: frame.offer_id });
  updateWaiting();
  updateTitle();
  alertOffer(frame);
  refreshSummary(); // the surge may have moved since the page loaded
  const active = document.activeElement;
  const typing = active && (active.tagName === "TEXTAREA" || active.tagName === "INPUT" || active.tagName === "SELECT");
  if (!typing) card.focus({ preventScroll: true });
  card.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function alertOffer(frame) {
  if (prefs.sound) beep();
  if (prefs.vibrate) vibrate();
  if (document.hidden && prefs.browser_notification) {
    const ticket = frame.ticket || {};
    const pay = frame.pay_estimate || {};
    notify(
      S.new_offer,
      format(S.new_offer_body, {
        language: languageName(ticket.language),
        pay: pay.amount ? formatMoney(pay.amount, pay.currency) : "",
        summary: ticket.summary || "",
      }),
      frame.offer_id,
    );
  }
}

function wireOffer(offer) {
  const { card } = offer;
  const id = offer.frame.offer_id;
  card.querySelector("[data-accept]").addEventListener("click", () => accept(id));
  const toggle = card.querySelector("[data-decline-toggle]");
  const form = card.querySelector("[data-decline-form]");
  toggle.addEventListener("click", () => {
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) form.querySelector("select").focus();
  });
  card.querySelector("[data-decline-cancel]").addEventListener("click", () => {
    form.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    decline(id, form.querySelector("select").value);
  });
}

function setOfferStatus(offer, text) {
  offer.card.querySelector("[data-offer-status]").textContent = text;
}

function disableOffer(offer) {
  offer.card.querySelectorAll("button, select").forEach((b) => (b.disabled = true));
}

function enableOffer(offer) {
  offer.card.querySelectorAll("button, select").forEach((b) => (b.disabled = false));
}

function removeOffer(offerId, { after = 0 } = {}) {
  const offer = offers.get(offerId);
  if (!offer) return;
  offer.state = "gone";
  const remove = () => {
    if (offers.get(offerId) !== offer) return;
    offers.delete(offerId);
    offer.card.remove();
    updateWaiting();
    updateTitle();
  };
  if (after) {
    offer.card.classList.add("leaving");
    setTimeout(remove, after);
  } else {
    remove();
  }
  updateWaiting();
  updateTitle();
}

async function accept(offerId) {
  const offer = offers.get(offerId);
  // Disabled on the first click, and the state guard catches a second click in the same tick.
  if (!offer || offer.state !== "open") return;
  offer.state = "accepting";
  disableOffer(offer);
  setOfferStatus(offer, S.accepting);
  if (socket.send({ type: "accept", offer_id: offerId })) {
    // The answer is an "assigned" or an "error" frame. If the line drops first, the state frame
    // after the reconnect tells: the ticket is among open_tickets, or the offer is gone.
    offer.acceptTimer = setTimeout(() => socket.send({ type: "sync" }), 8000);
    return;
  }
  try {
    const answer = await api("POST", `/api/v1/offers/${offerId}/accept/`);
    assigned(offerId, String(answer.ticket_id));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 409 || error.status === 404)) lostRace(offerId);
    else {
      offer.state = "open";
      enableOffer(offer);
      setOfferStatus(offer, S.error_generic);
    }
  }
}

async function decline(offerId, reason) {
  const offer = offers.get(offerId);
  if (!offer || offer.state !== "open") return;
  offer.state = "declining";
  disableOffer(offer);
  setOfferStatus(offer, S.declining);
  if (!socket.send({ type: "decline", offer_id: offerId, reason })) {
    try {
      await api("POST", `/api/v1/offers/${offerId}/decline/`, { reason });
    } catch {
      /* gone already: nothing to decline */
    }
  }
  removeOffer(offerId);
}

function assigned(offerId, ticketId) {
  const offer = offers.get(offerId);
  if (offer) clearTimeout(offer.acceptTimer);
  removeOffer(offerId);
  work.open(ticketId, { focus: true, preview: offer ? offer.frame.ticket : null });
}

function lostRace(offerId) {
  const offer = offers.get(offerId);
  if (!offer) return;
  clearTimeout(offer.acceptTimer);
  setOfferStatus(offer, S.offer_unavailable);
  offer.card.classList.add("withdrawn");
  disableOffer(offer);
  removeOffer(offerId, { after: 4000 });
}

function withdrawn(offerId, reason) {
  const offer = offers.get(offerId);
  if (!offer || offer.state === "gone") return;
  clearTimeout(offer.acceptTimer);
  setOfferStatus(offer, S[`withdrawn_${reason}`] || S.withdrawn_gone);
  offer.card.classList.add("withdrawn");
  disableOffer(offer);
  removeOffer(offerId, { after: 4000 });
}

function updateTitle() {
  const open = [...offers.values()].filter((o) => o.state === "open" || o.state === "accepting").length;
  document.title = open ? `(${open}) ${S.new_offer} · ${baseTitle}` : baseTitle;
}

// ------------------------------------------------------------------ today's numbers

async function refreshSummary() {
  try {
    const summary = await api("GET", config.summaryUrl);
    el.earnings.textContent = summary.earnings_today.map((row) => formatMoney(row.amount, row.currency)).join(" · ");
    el.surge.textContent = `×${formatDecimal(summary.surge)}`;
    // The words come from the server: the window, and "too few to say" below the sample floor.
    const share = summary.offer_share;
    el.sharePercent.textContent = share.percent === null ? "–" : `${share.percent} %`;
    el.shareText.textContent = summary.offer_share_text;
    el.shareFill.style.width = share.percent === null ? "0%" : `${Math.min(100, share.percent / 2)}%`;
  } catch {
    /* numbers stay as they were; the next refresh tries again */
  }
}
setInterval(refreshSummary, 60000);

// ------------------------------------------------------------------ the socket

// ------------------------------------------------------------------ wrap-up

// After a resolve or hand-back the slot stays taken for the policy's wrap-up time; the agent can end it
// sooner. The server decides when it ends (wrap_up_ended, or the next state frame).
const wrapUp = {
  root: document.getElementById("wrap-up"),
  until: new Map(), // ticket id -> deadline (ms)
  timer: null,
};
wrapUp.text = wrapUp.root.querySelector("[data-wrap-up-text]");
wrapUp.button = wrapUp.root.querySelector("[data-wrap-up-done]");

function renderWrapUp() {
  if (wrapUp.until.size === 0) {
    wrapUp.root.hidden = true;
    clearInterval(wrapUp.timer);
    wrapUp.timer = null;
    return;
  }
  const deadline = Math.max(...wrapUp.until.values());
  const seconds = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
  wrapUp.text.textContent = format(wrapUp.root.dataset.text, { seconds });
  wrapUp.root.hidden = false;
  if (!wrapUp.timer) wrapUp.timer = setInterval(renderWrapUp, 1000);
}

function wrapUpStarted(ticketId, until) {
  wrapUp.until.set(ticketId, Date.parse(until));
  renderWrapUp();
}

function wrapUpEnded(ticketId) {
  wrapUp.until.delete(ticketId);
  renderWrapUp();
}

wrapUp.button.addEventListener("click", async () => {
  wrapUp.button.disabled = true;
  try {
    for (const ticketId of [...wrapUp.until.keys()]) {
      if (!socket.send({ type: "wrap_up_done", ticket_id: ticketId })) {
        await api("POST", `/api/v1/tickets/${ticketId}/wrap-up-done/`).catch(() => null);
        wrapUpEnded(ticketId);
      }
    }
  } finally {
    wrapUp.button.disabled = false;
  }
});

const work = new WorkView(document.getElementById("work"), S, {
  config,
  toast: (text) => toast(text),
  onClosed(ticketId, message, done) {
    if (message) toast(message);
    if (done) [3000, 10000, 30000].forEach((ms) => setTimeout(refreshSummary, ms));
  },
});

function onFrame(frame) {
  switch (frame.type) {
    case "state": {
      generation += 1;
      const syncedGeneration = generation;
      applyStatus({
        status: frame.status,
        statusReason: frame.status_reason,
        presence: frame.presence,
        presenceReason: frame.presence_reason,
        breakUntil: frame.break_until,
      });
      work.reconcile((frame.open_tickets || []).map(String));
      wrapUp.until.clear();
      for (const entry of frame.wrap_ups || []) wrapUp.until.set(String(entry.ticket_id), Date.parse(entry.until));
      renderWrapUp();
      // Pending offers follow the state frame; whatever is not resent by then is no longer ours.
      setTimeout(() => {
        for (const [id, offer] of offers) {
          if (offer.generation < syncedGeneration && offer.state !== "gone") withdrawn(id, "gone");
        }
      }, 3000);
      break;
    }
    case "agent_status":
      applyStatus({
        status: frame.status,
        statusReason: frame.reason,
        presence: frame.presence,
        presenceReason: frame.presence_reason,
        breakUntil: frame.break_until,
      });
      break;
    case "note":
      if (work.noteArrived(String(frame.ticket_id), frame.note) && frame.note.author.role === "supervisor") {
        if (prefs.sound) beep();
        toast(format(S.supervisor_note, { customer: work.customerName(String(frame.ticket_id)), text: frame.note.text }));
      }
      break;
    case "transferred":
      work.close(String(frame.ticket_id), S.transferred, { done: true });
      break;
    case "transfer_ended":
      work.transferEnded(String(frame.ticket_id), frame.reason);
      break;
    case "offer":
      showOffer(frame);
      break;
    case "offer_withdrawn":
      withdrawn(frame.offer_id, frame.reason);
      break;
    case "assigned":
      assigned(frame.offer_id, String(frame.ticket_id));
      break;
    case "error":
      if (frame.offer_id && frame.code === "offer_unavailable") lostRace(frame.offer_id);
      else if (frame.offer_id && offers.has(frame.offer_id)) {
        const offer = offers.get(frame.offer_id);
        offer.state = "open";
        enableOffer(offer);
        setOfferStatus(offer, frame.message || S.error_generic);
      } else if (frame.message) toast(frame.message);
      break;
    case "wrap_up":
      wrapUpStarted(String(frame.ticket_id), frame.until);
      break;
    case "wrap_up_ended":
      wrapUpEnded(String(frame.ticket_id));
      break;
    case "ticket_requeued":
    case "ticket_reassigned":
      work.close(String(frame.ticket_id), frame.reason || S.ticket_gone);
      break;
    case "ticket_cancelled":
      work.close(String(frame.ticket_id), S.ticket_gone);
      break;
    case "ticket_message":
      if (work.incoming(String(frame.ticket_id), frame.message)) {
        if (prefs.sound) beep();
        if (document.hidden && prefs.browser_notification) notify(S.new_message, frame.message.text, `m-${frame.ticket_id}`);
      }
      break;
    default:
      break;
  }
}

const socket = new AgentSocket(config.wsPath, {
  onFrame,
  onOpen(reconnected) {
    agent.connected = true;
    el.waiting.dataset.seen = "1";
    if (reconnected) {
      clearInterval(bannerTimer);
      bannerTimer = null;
      showBanner(S.reconnected, { ok: true });
      setTimeout(() => agent.connected && hideBanner(), 3000);
      refreshSummary();
    } else {
      hideBanner();
    }
    if (wantedPresence) {
      socket.send({ type: "presence", status: wantedPresence, reason: agent.presenceReason, minutes: 15 });
      wantedPresence = null;
    }
    updateWaiting();
  },
  onDown(why) {
    agent.connected = false;
    showBanner(why === "network" ? S.offline_network : S.reconnecting);
    updateWaiting();
  },
  onRetryScheduled(at, { restart = false } = {}) {
    retryAt = at;
    if (restart) {
      // A deploy, not a failure: no "connection lost" countdown for the second it takes.
      clearInterval(bannerTimer);
      showBanner(S.reconnecting);
      return;
    }
    showRetryCountdown();
  },
  onUnauthorized() {
    location.href = `${config.loginUrl}?next=${encodeURIComponent(location.pathname)}`;
  },
});
el.bannerRetry.addEventListener("click", () => socket.reconnectNow());
document.addEventListener("visibilitychange", () => !document.hidden && updateTitle());
socket.connect();
updateWaiting();
refreshSummary(); // the same number format as every later refresh

// For people debugging in the browser's console; the tests drive the page through its UI.
window.agentConsole = { socket, offers, work };
