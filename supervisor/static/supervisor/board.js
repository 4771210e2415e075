// The live board: one websocket to /ws/supervisor/. The server sends the whole board on connect and
// whenever it changes; this page renders it. The longest wait ticks locally between frames.
//
// Alerts: each open alert has an Acknowledge button (POST /api/v1/alerts/<id>/acknowledge/). The answer,
// or an `alert_acknowledged` frame when another supervisor was first, moves it to the acknowledged ones
// at once; a board frame computed just before the acknowledgement may still list it as open, so what
// this page learnt is kept until the board agrees.
(function () {
  "use strict";
  var board = null;
  var socket = null;
  var retry = 1000;
  var state = document.querySelector("[data-testid=board-connection]");
  var acknowledged = {}; // alert id -> its payload once acknowledged, until the board says so too
  var failures = {}; // alert id -> why the last acknowledgement failed
  var pending = {}; // alert ids being acknowledged now
  var S = Object.assign(
    {
      live: "live",
      reconnecting: "reconnecting…",
      updated: "Updated {time}.",
      nobody_waiting: "Nobody waiting.",
      no_alerts: "No alerts.",
      acknowledge: "Acknowledge",
      acknowledging: "Acknowledging…",
      acknowledged_by: "Acknowledged by {who} at {time}.",
      acknowledge_failed: "Could not acknowledge: {reason}",
    },
    readStrings()
  );

  function readStrings() {
    var node = document.getElementById("board-strings");
    try {
      return node ? JSON.parse(node.textContent) : {};
    } catch (error) {
      return {};
    }
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, key) {
      return key in values ? String(values[key]) : match;
    });
  }

  function get(path) {
    return path.split(".").reduce(function (value, key) { return value == null ? null : value[key]; }, board);
  }

  function format(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "%") return Math.round(value * 1000) / 10 + "%";
    if (unit === "s") return duration(value);
    return String(value);
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min" + (seconds % 60 ? " " + (seconds % 60) + " s" : "");
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function clock(iso) {
    return new Date(iso || Date.now()).toLocaleTimeString(document.documentElement.lang || undefined);
  }

  function setState(name, text) {
    state.dataset.state = name;
    state.textContent = text;
  }

  function cell(text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function renderTable(body, counts) {
    body.textContent = "";
    var keys = Object.keys(counts || {});
    if (!keys.length) {
      var tr = document.createElement("tr");
      tr.appendChild(cell(S.nobody_waiting, "muted"));
      body.appendChild(tr);
      return;
    }
    keys.forEach(function (key) {
      var row = document.createElement("tr");
      row.dataset.key = key;
      row.appendChild(cell(label(key)));
      row.appendChild(cell(String(counts[key]), "num"));
      body.appendChild(row);
    });
  }

  function label(code) {
    return (S.labels && S.labels[code]) || code;
  }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  // ------------------------------------------------------------------ waiting tickets and agents

  function whyWaiting(why) {
    if (!why) return "";
    if (why.kind === "on_offer") return S.why_on_offer;
    if (why.kind === "nobody_online") return S.why_nobody_online;
    if (why.kind === "eligible") return fill(S.why_eligible, why);
    var parts = Object.keys(why.excluded || {}).map(function (code) {
      return fill(S.excluded_part, { count: why.excluded[code], label: (S.exclusions || {})[code] || code });
    });
    return fill(S.why_nobody_eligible, { online: why.online, parts: parts.join("; ") });
  }

  function renderWaiting(body) {
    var tickets = board.waiting_list || [];
    body.textContent = "";
    if (!tickets.length) {
      var none = document.createElement("tr");
      var td = cell(S.nobody_waiting, "muted");
      td.colSpan = 5;
      none.appendChild(td);
      body.appendChild(none);
      return;
    }
    tickets.forEach(function (ticket) {
      var row = document.createElement("tr");
      row.dataset.ticket = ticket.id;
      var name = document.createElement("td");
      name.appendChild(link("/supervisor/tickets/" + ticket.id + "/", ticket.external_id));
      name.appendChild(document.createElement("br"));
      var status = document.createElement("small");
      status.className = "muted";
      status.textContent = label(ticket.status);
      name.appendChild(status);
      row.appendChild(name);
      var waited = cell("–", "num");
      waited.dataset.since = ticket.queued_at;
      row.appendChild(waited);
      row.appendChild(cell(label(ticket.language)));
      row.appendChild(cell(ticket.skills.map(label).join(", ") || label("(none)")));
      var why = cell(whyWaiting(ticket.why_waiting));
      why.dataset.testid = "why-waiting";
      row.appendChild(why);
      body.appendChild(row);
    });
  }

  function agentFilters() {
    var filters = {};
    document.querySelectorAll("[data-board-agent-filters] [data-filter]").forEach(function (select) {
      filters[select.dataset.filter] = select.value;
    });
    return filters;
  }

  function renderAgents(body) {
    var filters = agentFilters();
    var agents = (board.agents_list || []).filter(function (agent) {
      if (filters.language && agent.languages.indexOf(filters.language) < 0) return false;
      if (filters.skill && !(filters.skill in agent.skills)) return false;
      return true;
    });
    body.textContent = "";
    if (!agents.length) {
      var none = document.createElement("tr");
      var td = cell(S.no_agents, "muted");
      td.colSpan = 8;
      none.appendChild(td);
      body.appendChild(none);
      return;
    }
    agents.forEach(function (agent) {
      var row = document.createElement("tr");
      row.dataset.agent = agent.id;
      row.dataset.state = agent.state;
      var name = document.createElement("td");
      name.appendChild(link("/supervisor/pool/" + agent.id + "/", agent.name));
      row.appendChild(name);
      var state = document.createElement("td");
      var badge = document.createElement("span");
      badge.className = "sv-badge " + ({ available: "online", busy: "online", offer_pending: "pending", away: "away" }[agent.state] || "");
      badge.dataset.testid = "agent-state";
      var stateText = (S.states || {})[agent.state] || agent.state;
      badge.textContent = stateText.charAt(0).toUpperCase() + stateText.slice(1);
      state.appendChild(badge);
      row.appendChild(state);
      row.appendChild(cell(label(agent.presence)));
      var since = cell("–", "num");
      if (agent.in_state_since) since.dataset.since = agent.in_state_since;
      row.appendChild(since);
      row.appendChild(cell(fill(S.held_of, { held: agent.tickets_held, capacity: agent.capacity }), "num"));
      row.appendChild(cell(String(agent.offers_today), "num"));
      row.appendChild(cell(agent.languages.map(label).join(", ")));
      row.appendChild(cell(Object.keys(agent.skills).sort().map(function (code) { return code + " " + agent.skills[code]; }).join(", ")));
      body.appendChild(row);
    });
  }

  document.querySelectorAll("[data-board-agent-filters] [data-filter]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (board) render();
    });
  });

  // ------------------------------------------------------------------ alerts

  // Apply what this page knows about acknowledgements to the board it was sent.
  function reconcileAlerts() {
    var open = board.alerts || [];
    var done = board.alerts_acknowledged || [];
    Object.keys(acknowledged).forEach(function (id) {
      var stillOpen = open.some(function (alert) { return alert.id === id; });
      if (!stillOpen) {
        delete acknowledged[id]; // the board knows now
        return;
      }
      open = open.filter(function (alert) { return alert.id !== id; });
      if (typeof board.alerts_open === "number") board.alerts_open = Math.max(0, board.alerts_open - 1);
      done = [acknowledged[id]].concat(done.filter(function (alert) { return alert.id !== id; }));
    });
    board.alerts = open;
    board.alerts_acknowledged = done;
  }

  function markAcknowledged(alert) {
    if (!alert || !alert.id || !alert.acknowledged_at) return;
    acknowledged[alert.id] = alert;
    delete failures[alert.id];
    delete pending[alert.id];
    if (board) {
      reconcileAlerts();
      render();
    }
  }

  function acknowledge(alert, button) {
    pending[alert.id] = true;
    delete failures[alert.id];
    button.disabled = true;
    button.textContent = S.acknowledging;
    var token = document.querySelector('meta[name="csrf-token"]');
    fetch("/api/v1/alerts/" + encodeURIComponent(alert.id) + "/acknowledge/", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": token ? token.content : "",
      },
      body: "{}",
    })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.ok) {
            markAcknowledged(body);
          } else if (response.status === 409 && body.acknowledged_by) {
            // Another supervisor was first: show theirs.
            markAcknowledged(
              Object.assign({}, alert, { acknowledged_by: body.acknowledged_by, acknowledged_at: body.acknowledged_at, note: "" })
            );
          } else {
            throw new Error(body.message || "HTTP " + response.status);
          }
        });
      })
      .catch(function (error) {
        delete pending[alert.id];
        failures[alert.id] = fill(S.acknowledge_failed, { reason: error.message });
        render();
      });
  }

  function alertText(item, alert) {
    if (alert.ticket_id) {
      var link = document.createElement("a");
      link.href = "/supervisor/tickets/" + alert.ticket_id + "/";
      link.textContent = alert.message;
      item.appendChild(link);
    } else if (alert.type === "appeal") {
      var appeal = document.createElement("a");
      appeal.href = "/supervisor/appeals/";
      appeal.textContent = alert.message;
      item.appendChild(appeal);
    } else {
      item.appendChild(document.createTextNode(alert.message));
    }
  }

  function alertItem(alert, isOpen) {
    var item = document.createElement("li");
    item.dataset.alert = alert.id;
    item.dataset.state = isOpen ? "open" : "acknowledged";
    var when = document.createElement("time");
    when.dateTime = alert.raised_at || "";
    when.textContent = clock(alert.raised_at);
    item.appendChild(when);
    item.appendChild(document.createTextNode(" "));
    alertText(item, alert);
    if (isOpen && alert.type !== "appeal") {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sv-ack";
      button.dataset.testid = "alert-acknowledge";
      button.textContent = pending[alert.id] ? S.acknowledging : S.acknowledge;
      button.disabled = !!pending[alert.id];
      button.addEventListener("click", function () { acknowledge(alert, button); });
      item.appendChild(document.createTextNode(" "));
      item.appendChild(button);
      if (failures[alert.id]) {
        var failure = document.createElement("span");
        failure.className = "sv-ack-error";
        failure.setAttribute("role", "alert");
        failure.textContent = failures[alert.id];
        item.appendChild(failure);
      }
    } else if (!isOpen) {
      item.className = "muted";
      var who = document.createElement("small");
      who.className = "sv-ack-by";
      who.textContent = fill(S.acknowledged_by, { who: alert.acknowledged_by, time: clock(alert.acknowledged_at) });
      item.appendChild(document.createTextNode(" "));
      item.appendChild(who);
      if (alert.note) {
        var note = document.createElement("small");
        note.className = "sv-ack-note";
        note.textContent = " " + alert.note;
        item.appendChild(note);
      }
    }
    return item;
  }

  function renderAlerts(list) {
    var open = board.alerts || [];
    var done = board.alerts_acknowledged || [];
    list.textContent = "";
    if (!open.length && !done.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = S.no_alerts;
      list.appendChild(none);
      return;
    }
    open.forEach(function (alert) { list.appendChild(alertItem(alert, true)); });
    done.forEach(function (alert) { list.appendChild(alertItem(alert, false)); });
  }

  // ------------------------------------------------------------------ the board

  function tick() {
    if (!board) return;
    document.querySelectorAll("[data-board-clock]").forEach(function (node) {
      var since = get(node.dataset.boardClock);
      node.textContent = since ? duration((Date.now() - Date.parse(since)) / 1000) : "–";
    });
    document.querySelectorAll("[data-since]").forEach(function (node) {
      node.textContent = duration((Date.now() - Date.parse(node.dataset.since)) / 1000);
    });
  }

  function render() {
    document.querySelectorAll("[data-board]").forEach(function (node) {
      node.textContent = format(get(node.dataset.board), node.dataset.unit);
    });
    document.querySelectorAll("[data-board-table]").forEach(function (body) {
      renderTable(body, get(body.dataset.boardTable));
    });
    document.querySelectorAll("[data-board-alerts]").forEach(renderAlerts);
    document.querySelectorAll("[data-board-waiting]").forEach(renderWaiting);
    document.querySelectorAll("[data-board-agent-list]").forEach(renderAgents);
    var sla = document.querySelector("[data-testid=board-sla]");
    if (sla) sla.classList.toggle("sv-bad", board.sla && board.sla.on_target === false);
    var updated = document.querySelector("[data-board-updated]");
    if (updated) updated.textContent = fill(S.updated, { time: clock(board.generated_at) });
    tick();
  }

  function onFrame(frame) {
    if (frame.type === "board") {
      board = frame;
      reconcileAlerts();
      render();
    } else if (frame.type === "alert_acknowledged") {
      markAcknowledged(frame);
    } else if ((frame.type === "alert" || frame.type === "appeal") && board) {
      var known = (board.alerts || []).some(function (alert) { return alert.id === frame.id; });
      if (known) return;
      board.alerts = [Object.assign({ raised_at: new Date().toISOString() }, frame)].concat(board.alerts || []).slice(0, 10);
      if (frame.type === "alert" && typeof board.alerts_open === "number") board.alerts_open += 1;
      render();
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/supervisor/");
    socket.onopen = function () { retry = 1000; setState("live", S.live); };
    socket.onmessage = function (event) { onFrame(JSON.parse(event.data)); };
    socket.onclose = function () {
      setState("offline", S.reconnecting);
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  setInterval(tick, 1000);
  setInterval(function () { if (socket && socket.readyState === 1) socket.send('{"type":"ping"}'); }, 25000);
  connect();
})();
