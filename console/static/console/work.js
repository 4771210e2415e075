// The work view: one tab per open ticket with the bot's transcript and hand-off dossier, the
// conversation arriving live, a reply box, Resolve and Hand back.

import { api, ApiError, clearErrors, cloneTemplate, format, formatDateTime, formatTime, languageName, showErrors } from "./api.js";

export class WorkView {
  constructor(root, strings, { onClosed, config = {}, toast = () => {} }) {
    this.root = root;
    this.strings = strings;
    this.onClosed = onClosed;
    this.config = config;
    this.toast = toast;
    this.tablist = root.querySelector("[data-tablist]");
    this.panels = root.querySelector("[data-panels]");
    this.tickets = new Map(); // ticket id -> {tab, panel, messageIds, loaded}
    this.tablist.addEventListener("keydown", (event) => this.onTabKey(event));
  }

  ids() {
    return [...this.tickets.keys()];
  }

  customerName(ticketId) {
    return this.tickets.get(ticketId)?.customerName || this.strings.customer;
  }

  has(ticketId) {
    return this.tickets.has(ticketId);
  }

  // Open tickets as the server lists them: add the missing, close the ones no longer ours.
  reconcile(openIds) {
    for (const id of openIds) this.open(id, { focus: false });
    for (const id of this.ids()) {
      if (!openIds.includes(id)) this.close(id, this.strings.ticket_gone);
    }
  }

  open(ticketId, { focus = true, preview = null } = {}) {
    let entry = this.tickets.get(ticketId);
    if (!entry) {
      entry = this.build(ticketId);
      if (preview) this.fill(entry, preview);
      this.load(entry);
    }
    this.root.hidden = false;
    if (focus || this.tickets.size === 1) this.select(ticketId, focus);
    return entry;
  }

  build(ticketId) {
    const prefix = `t-${ticketId.slice(0, 8)}`;
    const tab = document.createElement("button");
    tab.type = "button";
    tab.className = "tab";
    tab.setAttribute("role", "tab");
    tab.id = `${prefix}-tab`;
    tab.dataset.ticketId = ticketId;
    tab.setAttribute("aria-controls", `${prefix}-panel`);
    tab.innerHTML = '<span class="tab-name"></span><span class="tab-badge" hidden>●</span>';
    tab.querySelector(".tab-name").textContent = "…";
    tab.addEventListener("click", () => this.select(ticketId, true));
    const panel = cloneTemplate("ticket-template", prefix);
    panel.id = `${prefix}-panel`;
    panel.setAttribute("aria-labelledby", tab.id);
    panel.dataset.ticketId = ticketId;
    this.tablist.append(tab);
    this.panels.append(panel);
    const entry = { id: ticketId, tab, panel, messageIds: new Set(), noteIds: new Set(), loaded: false, busy: false };
    this.tickets.set(ticketId, entry);
    this.wire(entry);
    return entry;
  }

  select(ticketId, focusTab) {
    for (const [id, entry] of this.tickets) {
      const selected = id === ticketId;
      entry.tab.setAttribute("aria-selected", String(selected));
      entry.tab.tabIndex = selected ? 0 : -1;
      entry.panel.hidden = !selected;
      if (selected) entry.tab.querySelector(".tab-badge").hidden = true;
    }
    if (focusTab) this.tickets.get(ticketId)?.tab.focus();
  }

  onTabKey(event) {
    const tabs = [...this.tablist.querySelectorAll('[role="tab"]')];
    const index = tabs.indexOf(document.activeElement);
    if (index < 0) return;
    let next = null;
    if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
    else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    if (next) {
      event.preventDefault();
      this.select(next.dataset.ticketId, true);
    }
  }

  async load(entry, attempt = 0) {
    try {
      const ticket = await api("GET", `/api/v1/tickets/${entry.id}/`);
      if (!this.tickets.has(entry.id)) return;
      if (!["assigned"].includes(ticket.status)) {
        this.close(entry.id, this.strings.ticket_gone);
        return;
      }
      this.fill(entry, ticket);
      entry.loaded = true;
    } catch (error) {
      if (error instanceof ApiError && (error.status === 403 || error.status === 404)) {
        this.close(entry.id, this.strings.ticket_gone);
        return;
      }
      const slot = entry.panel.querySelector("[data-reply-form] [data-error-for='text']");
      slot.textContent = this.strings.load_failed;
      setTimeout(() => this.tickets.has(entry.id) && this.load(entry, attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
    }
  }

  fill(entry, ticket) {
    const { panel, tab } = entry;
    const customer = ticket.customer || {};
    const name = customer.display_name || this.strings.customer;
    tab.querySelector(".tab-name").textContent = name;
    panel.querySelector("[data-customer-name]").textContent = name;
    const meta = [languageName(ticket.language), this.strings.reasons[ticket.reason] || ticket.reason];
    meta.push(format(this.strings.priority, { priority: ticket.priority }));
    if (customer.tier === "vip") meta.push(this.strings.vip);
    if (customer.vulnerable) meta.push(this.strings.vulnerable);
    const skills = (ticket.skills || []).map((s) => (typeof s === "string" ? s : s.code));
    if (skills.length) meta.push(skills.join(", "));
    panel.querySelector("[data-ticket-meta]").textContent = meta.join(" · ");
    panel.querySelector("[data-summary]").textContent = ticket.summary || "";
    const handoff = ticket.handoff || {};
    panel.querySelector("[data-suggested]").textContent = handoff.suggested_next_step || this.strings.none;
    panel.querySelector("[data-confidence]").textContent =
      handoff.bot_confidence === undefined || handoff.bot_confidence === null
        ? this.strings.none
        : `${Math.round(Number(handoff.bot_confidence) * 100)} %`;
    const attempted = panel.querySelector("[data-attempted]");
    attempted.replaceChildren(
      ...(handoff.attempted || []).map((item) => {
        const li = document.createElement("li");
        li.textContent = typeof item === "string" ? item : JSON.stringify(item);
        return li;
      }),
    );
    if (!attempted.children.length) attempted.textContent = this.strings.none;
    const verified = panel.querySelector("[data-verified]");
    verified.replaceChildren();
    for (const [key, value] of Object.entries(handoff.verified_facts || {})) {
      const dt = document.createElement("dt");
      dt.textContent = key.replaceAll("_", " ");
      const dd = document.createElement("dd");
      dd.textContent = value === true ? this.strings.yes : value === false ? this.strings.no : typeof value === "object" ? JSON.stringify(value) : String(value);
      verified.append(dt, dd);
    }
    if (!verified.children.length) verified.textContent = this.strings.none;
    // The conversation's earlier escalations (e.g. before a hand-back to the bot): when, who, what they noted.
    const earlier = ticket.earlier_escalations || [];
    const earlierList = panel.querySelector("[data-earlier]");
    if (earlierList) {
      earlierList.replaceChildren(
        ...earlier.map((escalation) => {
          const li = document.createElement("li");
          const when = formatDateTime(escalation.created_at, { dateStyle: "medium", timeStyle: "short" });
          const who = escalation.agent ? escalation.agent.display_name : "";
          li.textContent = [when, who, escalation.resolution_notes || escalation.summary].filter(Boolean).join(" · ");
          return li;
        }),
      );
      panel.querySelector("[data-earlier-section]").hidden = earlier.length === 0;
    }
    const messages = ticket.messages || (ticket.transcript || []).map((m) => ({ author_kind: m.role, text: m.text, at: m.at }));
    for (const message of messages) this.addMessage(entry, message, { quiet: true });
    if (ticket.language) entry.language = ticket.language;
    if (ticket.customer) entry.customerName = name;
    if (ticket.notes) for (const note of ticket.notes) this.addNote(entry, note);
    this.renderNotesEmpty(entry);
    if (ticket.history) this.renderHistory(entry, ticket.history);
  }

  // ---------------------------------------------------------------- internal notes

  addNote(entry, note) {
    if (!note || entry.noteIds.has(note.id)) return false;
    entry.noteIds.add(note.id);
    const list = entry.panel.querySelector("[data-notes]");
    list.querySelector("[data-empty]")?.remove();
    const li = document.createElement("li");
    li.dataset.noteId = note.id;
    const who = document.createElement("span");
    who.className = "note-who";
    who.textContent = note.author ? note.author.display_name : "";
    const time = document.createElement("time");
    time.className = "message-time";
    time.dateTime = note.at;
    time.textContent = formatTime(note.at);
    const text = document.createElement("p");
    text.className = "message-text";
    text.textContent = note.text;
    li.append(who, time, text);
    list.append(li);
    list.scrollTop = list.scrollHeight;
    return true;
  }

  renderNotesEmpty(entry) {
    const list = entry.panel.querySelector("[data-notes]");
    if (!list.children.length) {
      const li = document.createElement("li");
      li.dataset.empty = "1";
      li.className = "muted";
      li.textContent = this.strings.no_notes;
      list.append(li);
    }
  }

  noteArrived(ticketId, note) {
    const entry = this.tickets.get(ticketId);
    if (!entry) return false;
    return this.addNote(entry, note);
  }

  renderHistory(entry, history) {
    const list = entry.panel.querySelector("[data-history]");
    list.replaceChildren();
    for (const item of history) {
      const li = document.createElement("li");
      li.dataset.testid = "history-item";
      const head = document.createElement("strong");
      const when = formatDateTime(item.created_at, { dateStyle: "medium" });
      const outcome = item.status === "resolved" ? this.strings.outcomes[item.outcome || ""] : this.strings.statuses[item.status];
      head.textContent = `${when} · ${outcome || item.status}`;
      const who = document.createElement("p");
      who.className = "muted small";
      who.textContent = [item.agent ? item.agent.display_name : "", item.summary || ""].filter(Boolean).join(" · ");
      li.append(head, who);
      for (const text of [item.resolution_notes, ...(item.notes || []).map((n) => `${n.author.display_name}: ${n.text}`)]) {
        if (!text) continue;
        const p = document.createElement("p");
        p.className = "message-text";
        p.textContent = text;
        li.append(p);
      }
      list.append(li);
    }
    if (!history.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = this.strings.no_history;
      list.append(li);
    }
  }

  // ---------------------------------------------------------------- transfer

  transferState(entry, pending) {
    const form = entry.panel.querySelector("[data-transfer-form]");
    const status = form.querySelector("[data-transfer-pending]");
    status.hidden = !pending;
    status.textContent = pending ? this.strings.transfer_pending : "";
    form.querySelector("[data-transfer-submit]").hidden = pending;
    form.querySelector("[data-transfer-withdraw]").hidden = !pending;
    entry.transferPending = pending;
  }

  transferEnded(ticketId, reason) {
    const entry = this.tickets.get(ticketId);
    if (!entry) return;
    this.transferState(entry, false);
    if (reason) this.toast(reason);
  }

  wireTransfer(entry) {
    const form = entry.panel.querySelector("[data-transfer-form]");
    const language = form.querySelector("select[name=language]");
    const own = document.createElement("option");
    own.value = "";
    own.textContent = this.strings.transfer_any_language;
    language.append(own);
    for (const code of this.config.transferLanguages || []) {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = languageName(code);
      language.append(option);
    }
    const skills = form.querySelector("[data-transfer-skills]");
    for (const code of this.config.transferSkills || []) {
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "skills";
      box.value = code;
      label.append(box, ` ${code}`);
      skills.append(label);
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const data = new FormData(form);
      const to = { skills: data.getAll("skills") };
      if (data.get("language")) to.language = data.get("language");
      if (!to.language && !to.skills.length) to.language = entry.language;
      const button = form.querySelector("[data-transfer-submit]");
      button.disabled = true;
      try {
        await api("POST", `/api/v1/tickets/${entry.id}/transfer/`, { to, note: data.get("note") || "" });
        this.transferState(entry, true);
      } catch (error) {
        showErrors(form, error, this.strings.error_generic);
      } finally {
        button.disabled = false;
      }
    });
    form.querySelector("[data-transfer-withdraw]").addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/v1/tickets/${entry.id}/transfer/`);
      } catch {
        /* ended already: the transfer_ended frame says how */
      }
      this.transferState(entry, false);
      this.toast(this.strings.transfer_withdrawn);
    });
  }

  // ---------------------------------------------------------------- canned responses

  async cannedFor(entry) {
    if (!entry.canned) {
      const query = new URLSearchParams({ ticket: entry.id });
      if (entry.language) query.set("language", entry.language);
      entry.canned = await api("GET", `/api/v1/canned-responses/?${query}`);
    }
    return entry.canned;
  }

  wireCanned(entry) {
    const reply = entry.panel.querySelector("[data-reply-form] textarea");
    const search = entry.panel.querySelector("[data-canned-search]");
    const list = entry.panel.querySelector("[data-canned-list]");
    const picker = { items: [], index: 0, source: null };
    const close = () => {
      list.hidden = true;
      search.setAttribute("aria-expanded", "false");
      picker.source = null;
    };
    const render = () => {
      list.replaceChildren(
        ...picker.items.map((item, i) => {
          const li = document.createElement("li");
          li.setAttribute("role", "option");
          li.id = `${list.id}-${i}`;
          li.setAttribute("aria-selected", String(i === picker.index));
          li.dataset.testid = "canned-option";
          const title = document.createElement("strong");
          title.textContent = item.title;
          const text = document.createElement("span");
          text.className = "muted small";
          text.textContent = ` ${item.filled || item.text}`;
          li.append(title, text);
          li.addEventListener("mousedown", (event) => {
            event.preventDefault();
            picker.index = i;
            insert();
          });
          return li;
        }),
      );
      if (!picker.items.length) {
        const li = document.createElement("li");
        li.className = "muted";
        li.textContent = this.strings.no_canned;
        list.append(li);
      }
      search.setAttribute("aria-activedescendant", picker.items.length ? `${list.id}-${picker.index}` : "");
    };
    const open = async (query, source) => {
      const all = await this.cannedFor(entry);
      const q = query.trim().toLowerCase();
      picker.items = all.filter((item) => !q || `${item.title} ${item.text}`.toLowerCase().includes(q));
      picker.index = 0;
      picker.source = source;
      list.hidden = false;
      search.setAttribute("aria-expanded", "true");
      render();
    };
    const insert = () => {
      const item = picker.items[picker.index];
      if (!item) return;
      // Inserted for editing, never sent as it is: the agent reads it over and presses Send.
      reply.value = item.filled || item.text;
      search.value = "";
      close();
      reply.focus();
      reply.setSelectionRange(reply.value.length, reply.value.length);
    };
    const keys = (event) => {
      if (list.hidden) return false;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        picker.index = (picker.index + step + picker.items.length) % Math.max(1, picker.items.length);
        render();
        return true;
      }
      if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        insert();
        return true;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        close();
        return true;
      }
      return false;
    };
    search.addEventListener("input", () => open(search.value, "search"));
    search.addEventListener("focus", () => open(search.value, "search"));
    search.addEventListener("keydown", keys);
    search.addEventListener("blur", () => setTimeout(() => picker.source === "search" && close(), 150));
    reply.addEventListener("input", () => {
      if (reply.value.startsWith("/")) open(reply.value.slice(1), "slash");
      else if (picker.source === "slash") close();
    });
    reply.addEventListener("keydown", (event) => {
      if (picker.source === "slash") keys(event);
    });
  }

  addMessage(entry, message, { quiet = false } = {}) {
    const key = message.id || `${message.author_kind}|${message.at}|${message.text}`;
    if (entry.messageIds.has(key)) return false;
    // A preview from the offer has no ids; drop it once the real messages arrive.
    if (message.id) {
      for (const li of entry.panel.querySelectorAll("[data-messages] li[data-preview]")) li.remove();
    }
    entry.messageIds.add(key);
    const list = entry.panel.querySelector("[data-messages]");
    const li = renderMessage(message, this.strings);
    if (!message.id) li.dataset.preview = "1";
    const seq = message.seq ?? null;
    if (seq !== null) {
      li.dataset.seq = seq;
      const later = [...list.children].find((el) => el.dataset.seq && Number(el.dataset.seq) > seq);
      list.insertBefore(li, later || null);
    } else {
      list.append(li);
    }
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
    if (nearBottom || !quiet) list.scrollTop = list.scrollHeight;
    if (!quiet && entry.tab.getAttribute("aria-selected") !== "true") entry.tab.querySelector(".tab-badge").hidden = false;
    return true;
  }

  incoming(ticketId, message) {
    const entry = this.tickets.get(ticketId);
    if (!entry) return false;
    return this.addMessage(entry, message) && message.author_kind === "customer";
  }

  wire(entry) {
    const { panel } = entry;
    this.wireTransfer(entry);
    this.wireCanned(entry);
    const noteForm = panel.querySelector("[data-note-form]");
    noteForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      // Its own error slot: the reply form's [data-error-for="text"] is the one the rest of the page uses.
      const slot = noteForm.querySelector("[data-note-error]");
      slot.textContent = "";
      const textarea = noteForm.querySelector("textarea");
      const text = textarea.value.trim();
      if (!text) {
        slot.textContent = this.strings.required;
        textarea.focus();
        return;
      }
      try {
        const note = await api("POST", `/api/v1/tickets/${entry.id}/notes/`, { text });
        this.addNote(entry, note);
        textarea.value = "";
      } catch (error) {
        const fields = error instanceof ApiError ? error.body.text : null;
        slot.textContent = (Array.isArray(fields) ? fields.join(" ") : error.body?.message) || this.strings.error_generic;
        textarea.focus();
      }
    });
    const reply = panel.querySelector("[data-reply-form]");
    const textarea = reply.querySelector("textarea");
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        reply.requestSubmit();
      }
    });
    reply.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = textarea.value.trim();
      clearErrors(reply);
      if (!text) {
        reply.querySelector("[data-error-for='text']").textContent = this.strings.required;
        textarea.setAttribute("aria-invalid", "true");
        textarea.focus();
        return;
      }
      const button = reply.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const message = await api("POST", `/api/v1/tickets/${entry.id}/messages/`, { text });
        this.addMessage(entry, message);
        textarea.value = "";
        textarea.focus();
      } catch (error) {
        showErrors(reply, error, this.strings.send_failed) ||
          (reply.querySelector("[data-error-for='text']").textContent = this.strings.send_failed);
        if (error instanceof ApiError && error.status === 409) this.load(entry);
      } finally {
        button.disabled = false;
      }
    });

    const resolve = panel.querySelector("[data-resolve-form]");
    resolve.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(resolve);
      const body = {
        outcome: data.get("outcome") || "",
        notes: data.get("notes") || "",
        bot_feedback: { escalation_avoidable: data.get("escalation_avoidable") === "on", comment: data.get("comment") || "" },
      };
      clearErrors(resolve);
      if (!body.outcome) {
        resolve.querySelector("[data-error-for='outcome']").textContent = this.strings.required;
        resolve.querySelector("input[name=outcome]").focus();
        return;
      }
      await this.finish(entry, resolve, `/api/v1/tickets/${entry.id}/resolve/`, body, this.strings.resolved);
    });

    const handBack = panel.querySelector("[data-handback-form]");
    handBack.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { notes: new FormData(handBack).get("notes") || "" };
      await this.finish(entry, handBack, `/api/v1/tickets/${entry.id}/hand-back/`, body, this.strings.handed_back);
    });
  }

  async finish(entry, form, url, body, doneMessage) {
    if (entry.busy) return;
    entry.busy = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api("POST", url, body);
      this.close(entry.id, doneMessage, { done: true });
    } catch (error) {
      showErrors(form, error, this.strings.error_generic);
    } finally {
      entry.busy = false;
      button.disabled = false;
    }
  }

  close(ticketId, message, { done = false } = {}) {
    const entry = this.tickets.get(ticketId);
    if (!entry) return;
    const wasSelected = entry.tab.getAttribute("aria-selected") === "true";
    entry.tab.remove();
    entry.panel.remove();
    this.tickets.delete(ticketId);
    if (this.tickets.size === 0) this.root.hidden = true;
    else if (wasSelected) this.select(this.ids()[0], false);
    this.onClosed(ticketId, message, done);
  }
}

export function renderMessage(message, strings) {
  const li = document.createElement("li");
  const kind = message.author_kind || message.role || "system";
  li.className = `message-item from-${kind}`;
  const who = document.createElement("span");
  who.className = "message-who";
  who.textContent = strings[kind] || kind;
  const time = document.createElement("time");
  time.className = "message-time";
  if (message.at) {
    time.dateTime = message.at;
    time.textContent = formatTime(message.at);
  }
  const text = document.createElement("p");
  text.className = "message-text";
  text.textContent = message.text;
  li.append(who, time, text);
  return li;
}
