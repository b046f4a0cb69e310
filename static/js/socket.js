// The live connection: reconnects with backoff, resumes from the last seq of every
// conversation, and keeps an outbox so nothing typed while offline is lost.

import { emit, state } from "./store.js";

const IDLE_AFTER_MS = 5 * 60 * 1000;

export class RealtimeClient {
  constructor(userId) {
    this.userId = userId;
    this.socket = null;
    this.attempt = 0;
    this.heartbeat = null;
    this.retryTimer = null;
    // A ping every heartbeat; a connection that answered nothing since the last one is
    // taken as lost (a cut network often closes nothing), so it shows within 2 beats.
    this.heartbeatMs = (state.limits?.heartbeat_seconds || 30) * 1000;
    this.lastFrameAt = 0;
    this.lastPingAt = 0;
    this.outboxKey = `teamchat.outbox.${userId}`;
    this.outbox = this.loadOutbox();
    this.idle = false;
    this.lastActivity = Date.now();
    this.watchActivity();
    window.addEventListener("offline", () => this.lost());
    window.addEventListener("online", () => { if (!this.socket && !this.final) this.connect(); });
  }

  connect() {
    clearTimeout(this.retryTimer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/`);
    this.socket = socket;
    socket.addEventListener("message", (event) => { if (this.socket === socket) this.receive(JSON.parse(event.data)); });
    socket.addEventListener("close", (event) => { if (this.socket === socket) this.closed(event); });
    socket.addEventListener("error", () => socket.close());
    // Counted from here: a socket that opens and never says `ready` is lost as well.
    this.lastFrameAt = 0;
    this.lastPingAt = Date.now();
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
  }

  // The connection is gone though the socket may not know it yet: drop it and reconnect.
  lost() {
    const socket = this.socket;
    if (!socket) return;
    this.closed({ code: 1006 });
    try { socket.close(); } catch { /* already closing */ }
  }

  beat() {
    if (this.lastFrameAt < this.lastPingAt) {
      this.lost();  // nothing since the last ping, not even its pong
      return;
    }
    if (!state.connected) return;  // still waiting for `ready`
    this.lastPingAt = Date.now();
    this.send({ type: "ping", state: this.idle ? "idle" : "active" });
  }

  receive(frame) {
    this.lastFrameAt = Date.now();
    if (frame.type === "ready") {
      this.attempt = 0;
      state.connected = true;
      this.resume();
      this.flushOutbox();
      if (this.idle) this.send({ type: "presence.set", status: "idle" });
      emit("connection", { connected: true });
      // Presence as it is now: whatever changed while this socket was away.
      for (const entry of frame.presence || []) emit("frame", entry);
      return;
    }
    if (frame.type === "message.ack") this.acknowledged(frame.client_msg_id);
    if (frame.type === "error" && frame.client_msg_id) this.failed(frame.client_msg_id, frame);
    emit("frame", frame);
  }

  closed(event) {
    this.socket = null;
    state.connected = false;
    clearInterval(this.heartbeat);
    clearTimeout(this.retryTimer);
    if (event.code === 4003) {
      this.final = true;
      emit("connection", { connected: false, final: true, reason: "Your account was deactivated." });
      return;
    }
    if (event.code === 4001 || event.code === 4002) {
      // The session ended, or the two-factor policy holds it back: reconnecting would be
      // refused again, and reloading takes the person to sign in or to set up two factors.
      this.final = true;
      emit("connection", { connected: false, final: true, reason: event.code === 4001
        ? "You were signed out." : "Your organisation requires two-factor authentication." });
      location.reload();
      return;
    }
    if (event.code === 4004) {
      // The role changed: a new socket follows what the new one allows.
      this.attempt = 0;
      this.connect();
      return;
    }
    if (!navigator.onLine) {
      // The browser says it has no network: try again as soon as it has.
      emit("connection", { connected: false, offline: true });
      return;
    }
    const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    emit("connection", { connected: false, retryAt: Date.now() + delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (!this.socket) this.connect();
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN && state.connected) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // Ask for everything missed in the conversations we hold, from the seq we hold.
  resume() {
    const since = {};
    for (const conversation of state.conversations.values()) {
      if (conversation.is_member || conversation.id === state.current) since[conversation.id] = conversation.last_seq || 0;
    }
    this.send({ type: "resume", since });
  }

  subscribe(conversationId) {
    this.send({ type: "subscribe", conversation: conversationId });
  }

  typing(conversationId, threadRoot) {
    this.send({ type: "typing", conversation: conversationId, ...(threadRoot ? { thread_root: threadRoot } : {}) });
  }

  watchPresence(userIds) {
    if (userIds.length) this.send({ type: "presence.subscribe", users: userIds.slice(0, 500) });
  }

  // --- Outbox: a message is kept until the server acknowledges it. ---

  loadOutbox() {
    try {
      return JSON.parse(localStorage.getItem(this.outboxKey) || "[]");
    } catch {
      return [];
    }
  }

  // An end-to-end encrypted message (one with `deliver`) is kept in memory only: its
  // text never goes to the browser's storage.
  saveOutbox() {
    localStorage.setItem(this.outboxKey, JSON.stringify(this.outbox.filter((entry) => !entry.deliver)));
  }

  queue(entry) {
    const kept = { ...entry, status: "pending" };
    this.outbox.push(kept);
    this.saveOutbox();
    emit("outbox", { entry: kept });
    this.sendEntry(kept);
  }

  sendEntry(entry) {
    if (entry.deliver) {
      this.deliver(entry);
      return;
    }
    this.send({
      type: "message.send", conversation: entry.conversation, text: entry.text, client_msg_id: entry.client_msg_id,
      ...(entry.thread_root ? { thread_root: entry.thread_root } : {}),
      ...(entry.also_in_channel ? { also_in_channel: true } : {}),
      ...(entry.files && entry.files.length ? { files: entry.files.map((file) => file.id) } : {}),
    });
  }

  // Sent over REST by its own function (sealed first); the same client_msg_id makes a
  // second try safe. The server busy or gone for a moment: tried again with backoff
  // (and after each reconnect); anything else (a refusal, no key yet) fails the entry,
  // which then offers Retry and Discard.
  async deliver(entry) {
    if (!state.connected || entry.inFlight || !this.outbox.includes(entry)) return;  // discarded meanwhile
    entry.inFlight = true;
    clearTimeout(entry.retryTimer);
    try {
      await entry.deliver();
      this.acknowledged(entry.client_msg_id);
    } catch (error) {
      // fetch rejects with a TypeError when the network failed under it.
      const passing = error.status >= 500 || error.status === 408 || error.status === 429
        || error instanceof TypeError || !navigator.onLine;
      if (passing) {
        entry.attempts = (entry.attempts || 0) + 1;
        entry.retryTimer = setTimeout(() => this.deliver(entry), Math.min(30000, 1000 * 2 ** entry.attempts));
      } else {
        this.failed(entry.client_msg_id, { detail: error.message });
      }
    } finally {
      entry.inFlight = false;
    }
  }

  flushOutbox() {
    for (const entry of this.outbox) if (entry.status === "pending") this.sendEntry(entry);
  }

  acknowledged(clientMsgId) {
    this.outbox = this.outbox.filter((entry) => entry.client_msg_id !== clientMsgId);
    this.saveOutbox();
  }

  failed(clientMsgId, error) {
    const entry = this.outbox.find((item) => item.client_msg_id === clientMsgId);
    if (!entry) return;
    entry.status = "failed";
    entry.error = error.detail;
    this.saveOutbox();
    emit("outbox", { entry });
  }

  retry(clientMsgId) {
    const entry = this.outbox.find((item) => item.client_msg_id === clientMsgId);
    if (!entry) return;
    entry.status = "pending";
    this.saveOutbox();
    emit("outbox", { entry });
    this.sendEntry(entry);
  }

  discard(clientMsgId) {
    const entry = this.outbox.find((item) => item.client_msg_id === clientMsgId);
    this.acknowledged(clientMsgId);
    if (entry) emit("outbox", { entry: { ...entry, status: "discarded" } });
  }

  pending(conversationId, threadRoot = null) {
    return this.outbox.filter((entry) => entry.conversation === conversationId
      && (entry.thread_root || null) === threadRoot);
  }

  // --- Idleness: tell the server when this tab is not being used. ---

  watchActivity() {
    const active = () => {
      this.lastActivity = Date.now();
      if (this.idle && !document.hidden) this.setIdle(false);
    };
    for (const name of ["pointerdown", "keydown", "mousemove", "focus"]) window.addEventListener(name, active, { passive: true });
    document.addEventListener("visibilitychange", () => (document.hidden ? null : active()));
    setInterval(() => {
      if (!this.idle && Date.now() - this.lastActivity > IDLE_AFTER_MS) this.setIdle(true);
    }, 30000);
  }

  setIdle(idle) {
    this.idle = idle;
    this.send({ type: "presence.set", status: idle ? "idle" : "active" });
  }
}
