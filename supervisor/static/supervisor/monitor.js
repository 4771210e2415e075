// The supervisor's monitor of a live conversation (supervisor/ticket.html): polls
// /supervisor/tickets/<id>/monitor/?after=<last message number> every two seconds and appends the new
// messages; the notes (whispers among them) are redrawn when they change. Read-only: nothing here
// writes to the ticket; the whisper is an ordinary form post. Why polling and not the supervisors'
// socket: see supervisor.pages.ticket_monitor_page.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var panel = document.querySelector("[data-testid=monitor]");
  if (!panel) return;
  var list = panel.querySelector("[data-testid=monitor-messages]");
  var notes = panel.querySelector("[data-testid=monitor-notes]");
  var state = panel.querySelector("[data-testid=monitor-connection]");
  var ended = panel.querySelector("[data-testid=monitor-ended]");
  var after = parseInt(panel.getAttribute("data-after"), 10) || 0;
  var notesSeen = notes.querySelectorAll("li:not(.muted)").length;
  var lang = document.documentElement.lang || undefined;
  var S = { live: "live", reconnecting: "reconnecting…", ended: "The conversation is no longer live ({status}).", no_notes: "No whispers or notes yet." };
  try {
    Object.assign(S, JSON.parse(document.getElementById("monitor-strings").textContent));
  } catch (error) { /* the English defaults stay */ }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hour12: false });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function headed(author, at) {
    var head = element("span", "sv-msg-head");
    head.appendChild(element("strong", "", author));
    head.appendChild(document.createTextNode(" "));
    var time = element("time", "", clock(at));
    time.setAttribute("datetime", at);
    head.appendChild(time);
    return head;
  }

  function addMessage(message) {
    if (message.seq <= after) return;
    after = message.seq;
    var item = element("li", "sv-msg " + message.author_kind);
    item.setAttribute("data-testid", "monitor-message");
    item.setAttribute("data-seq", message.seq);
    item.setAttribute("data-author-kind", message.author_kind);
    item.appendChild(headed(message.author, message.at));
    item.appendChild(element("span", "sv-msg-text", message.text));
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  function drawNotes(rows) {
    if (rows.length === notesSeen) return;
    notesSeen = rows.length;
    notes.textContent = "";
    if (!rows.length) notes.appendChild(element("li", "muted", S.no_notes));
    rows.forEach(function (note) {
      var item = element("li");
      item.appendChild(headed(note.author.display_name, note.at));
      item.appendChild(document.createTextNode(": " + note.text));
      notes.appendChild(item);
    });
  }

  function setState(name, text) {
    state.setAttribute("data-state", name);
    state.textContent = text;
  }

  function poll() {
    fetch(panel.getAttribute("data-url") + "?after=" + after, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        data.messages.forEach(addMessage);
        drawNotes(data.notes);
        if (!data.live) {
          setState("offline", data.status_label);
          ended.textContent = S.ended.replace("{status}", data.status_label);
          ended.hidden = false;
          return; // nothing more will be said in this conversation
        }
        setState("live", S.live);
        window.setTimeout(poll, POLL_MS);
      })
      .catch(function () {
        setState("reconnecting", S.reconnecting);
        window.setTimeout(poll, POLL_MS * 2);
      });
  }

  list.scrollTop = list.scrollHeight;
  window.setTimeout(poll, POLL_MS);
})();
