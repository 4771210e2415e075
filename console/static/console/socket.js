// The agent's websocket with reconnects: exponential backoff with jitter, a ping every 20 s (the
// server's heartbeat), and a pong deadline so that a half-open connection is noticed too. Every
// (re)connect is answered by the server with the full state, so the page never trusts that it
// missed nothing while it was away.
//
// A server process that is stopping (a deploy) sends {"type": "reconnect"} and closes with 4012
// (core/sockets.py CLOSE_CODE_RECONNECT; uvicorn's own 1012 "service restart" is treated alike): the
// page reconnects at once, after a random 0.1-1.5 s so the process's agents do not all arrive in the
// same instant, and the load balancer sends it to another process.

const PING_EVERY_MS = 20000;
const PONG_DEADLINE_MS = 10000;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30000;
export const CLOSE_RECONNECT = 4012;
const CLOSE_SERVICE_RESTART = 1012;
const RESTART_JITTER_MIN_MS = 100;
const RESTART_JITTER_MAX_MS = 1500;

export class AgentSocket {
  constructor(path, { onFrame, onOpen, onDown, onRetryScheduled, onUnauthorized }) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = `${scheme}//${location.host}${path}`;
    this.handlers = { onFrame, onOpen, onDown, onRetryScheduled, onUnauthorized };
    this.attempt = 0;
    this.ws = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.wasOpen = false;
    this.serverRestarting = false;
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("offline", () => this.drop("network"));
    document.addEventListener("visibilitychange", () => {
      // Phones freeze background tabs: check the line as soon as the agent looks again.
      if (!document.hidden) {
        if (this.isOpen()) this.ping();
        else this.reconnectNow();
      }
    });
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      const reconnected = this.wasOpen;
      this.wasOpen = true;
      this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS);
      this.handlers.onOpen(reconnected);
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "pong") {
        clearTimeout(this.pongTimer);
        this.pongTimer = null;
        return;
      }
      if (frame.type === "reconnect") {
        this.serverRestarting = true; // the close (4012) follows
        return;
      }
      this.handlers.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.cleanup();
      if (event.code === 4401) {
        this.handlers.onUnauthorized();
        return;
      }
      const restarting =
        this.serverRestarting || event.code === CLOSE_RECONNECT || event.code === CLOSE_SERVICE_RESTART;
      this.serverRestarting = false;
      if (restarting) {
        this.handlers.onDown("restart");
        this.attempt = 0; // a deploy is not a failure: no backoff
        const jitter = RESTART_JITTER_MIN_MS + Math.random() * (RESTART_JITTER_MAX_MS - RESTART_JITTER_MIN_MS);
        this.scheduleRetry(jitter, { restart: true });
        return;
      }
      this.handlers.onDown("closed");
      this.scheduleRetry();
    };
    ws.onerror = () => {}; // onclose follows and does the work
  }

  send(frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  ping() {
    if (!this.send({ type: "ping" })) return;
    if (this.pongTimer === null) this.pongTimer = setTimeout(() => this.drop("timeout"), PONG_DEADLINE_MS);
  }

  cleanup() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
    this.ws = null;
  }

  // The line is dead (no pong, or the device went offline): stop waiting for the browser to notice.
  drop(why) {
    const ws = this.ws;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      try {
        ws.close();
      } catch {
        /* already closing */
      }
      this.cleanup();
    }
    this.handlers.onDown(why);
    if (why !== "network" || navigator.onLine) this.scheduleRetry();
  }

  scheduleRetry(delayMs, { restart = false } = {}) {
    if (this.retryTimer !== null) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    // "Equal jitter": at least half the ceiling, so a whole pool of agents does not reconnect at once.
    const delay = delayMs ?? ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.handlers.onRetryScheduled(Date.now() + delay, { restart });
  }

  reconnectNow() {
    if (this.isOpen() || (this.ws && this.ws.readyState === WebSocket.CONNECTING)) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }
}
