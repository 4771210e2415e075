// The live board: one websocket to /ws/supervisor/. The server sends the whole board on connect and
// whenever it changes; this page only renders it. The longest wait ticks locally between frames.
(function () {
  "use strict";
  var board = null;
  var socket = null;
  var retry = 1000;
  var state = document.querySelector("[data-testid=board-connection]");

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
      tr.appendChild(cell("Nobody waiting.", "muted"));
      body.appendChild(tr);
      return;
    }
    keys.forEach(function (key) {
      var row = document.createElement("tr");
      row.dataset.key = key;
      row.appendChild(cell(key));
      row.appendChild(cell(String(counts[key]), "num"));
      body.appendChild(row);
    });
  }

  function renderAlerts(list, alerts) {
    list.textContent = "";
    if (!alerts || !alerts.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No alerts.";
      list.appendChild(none);
      return;
    }
    alerts.forEach(function (alert) {
      var item = document.createElement("li");
      var when = document.createElement("time");
      when.textContent = new Date(alert.raised_at || Date.now()).toLocaleTimeString();
      item.appendChild(when);
      item.appendChild(document.createTextNode(" "));
      if (alert.ticket_id) {
        var link = document.createElement("a");
        link.href = "/supervisor/tickets/" + alert.ticket_id + "/";
        link.textContent = alert.message;
        item.appendChild(link);
      } else {
        item.appendChild(document.createTextNode(alert.message));
      }
      list.appendChild(item);
    });
  }

  function tick() {
    if (!board) return;
    document.querySelectorAll("[data-board-clock]").forEach(function (node) {
      var since = get(node.dataset.boardClock);
      node.textContent = since ? duration((Date.now() - Date.parse(since)) / 1000) : "–";
    });
  }

  function render() {
    document.querySelectorAll("[data-board]").forEach(function (node) {
      node.textContent = format(get(node.dataset.board), node.dataset.unit);
    });
    document.querySelectorAll("[data-board-table]").forEach(function (body) {
      renderTable(body, get(body.dataset.boardTable));
    });
    document.querySelectorAll("[data-board-alerts]").forEach(function (list) { renderAlerts(list, board.alerts); });
    var sla = document.querySelector("[data-testid=board-sla]");
    if (sla) sla.classList.toggle("sv-bad", board.sla && board.sla.on_target === false);
    var updated = document.querySelector("[data-board-updated]");
    if (updated) updated.textContent = "Updated " + new Date(board.generated_at).toLocaleTimeString() + ".";
    tick();
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/supervisor/");
    socket.onopen = function () { retry = 1000; setState("live", "live"); };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "board") {
        board = frame;
        render();
      } else if ((frame.type === "alert" || frame.type === "appeal") && board) {
        board.alerts = [Object.assign({ raised_at: new Date().toISOString() }, frame)].concat(board.alerts || []).slice(0, 10);
        render();
      }
    };
    socket.onclose = function () {
      setState("offline", "reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  setInterval(tick, 1000);
  setInterval(function () { if (socket && socket.readyState === 1) socket.send('{"type":"ping"}'); }, 25000);
  connect();
})();
