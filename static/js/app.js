// The web client's entry point: loads the state, opens the live connection, routes
// between conversations and applies every event the server sends.

import { del, forgetEarly, get, getAll, post } from "./api.js";
import { Composer } from "./composer.js";
import {
  applyTheme, browseChannelsDialog, confirmDialog, conversationSettingsDialog, createChannelDialog,
  newDirectDialog, NOTIFY_KEY, quickSwitcher, settingsDialog,
} from "./dialogs.js";
import { drawBar as drawEncryptionBar, openedText, prepare as prepareEncryption } from "./e2ee.js";
import { debounce, el, initials, plainText } from "./format.js";
import { icon } from "./icons.js";
import { isTyping, shortcutsDialog } from "./keyboard.js";
import { reminderDue, scheduledFailed } from "./later.js";
import { TimelineView } from "./messages.js";
import { SidePanel } from "./panel.js";
import { bindSearchHelp, SearchCompletion } from "./search.js";
import { navigationOrder, renderSidebar } from "./sidebar.js";
import { CallManager } from "./calls.js";
import { pwaStart } from "./pwa.js";
import { RealtimeClient } from "./socket.js";
import { viewerOpen } from "./viewer.js";
import {
  conversationName, emit, findMessage, isMutedConversation, mentionsMe, on, putMessage, state, timeline, userName,
} from "./store.js";

// boot.js, run before this module: the first requests and which conversation opens.
const boot = globalThis.teamchatBoot;

class App {
  async start() {
    const bootstrap = JSON.parse(document.getElementById("bootstrap").textContent);
    state.me = bootstrap.me;
    state.organisation = bootstrap.organisation;
    state.limits = bootstrap.limits;
    applyTheme();
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
    document.getElementById("org-name").textContent = state.organisation.name;
    this.drawMe();

    // What the first screen needs, asked at once (boot.js, a script in the page's head,
    // sent it all already).
    const [users, conversations, groups, drafts, present] = await Promise.all([
      getAll("users/?limit=1000"), get("conversations/"), get("usergroups/"), get("me/drafts/"),
      get(boot.presencePath),
    ]);
    for (const draft of drafts.results) state.drafts.set(`${draft.conversation}.${draft.thread_root || 0}`, draft.text);
    for (const user of users) state.users.set(user.id, user);
    state.users.set(state.me.id, { ...state.users.get(state.me.id), ...state.me });
    for (const conversation of conversations.results) state.conversations.set(conversation.id, conversation);
    for (const group of groups.results) {
      state.groupHandles.add(group.handle);
      if (group.members.includes(state.me.id)) state.myGroups.add(group.handle);
    }
    for (const entry of present.results) {
      // This tab is about to connect: you are online unless you set otherwise.
      const status = entry.user === state.me.id && entry.status === "offline" ? "online" : entry.status;
      state.presence.set(entry.user, { type: "presence", ...entry, status });
    }
    this.drawMe();

    this.socket = new RealtimeClient(state.me.id);
    this.calls = new CallManager(this.socket);
    window.teamchat = { socket: this.socket, state, calls: this.calls };
    this.timeline = new TimelineView();
    this.panel = new SidePanel(this.socket);
    this.composer = new Composer(document.getElementById("composer"), {
      target: () => ({ conversation: state.current, threadRoot: null }),
      socket: this.socket,
      onEditLast: () => this.lastOwnMessage(),
    });
    this.bindEvents();
    this.bindKeyboard();
    this.followVisibleHeight();
    this.drawThreadsBadge();
    renderSidebar();
    this.updateTitle();
    this.socket.connect();
    // Every control works from here on (until now the page was inert: a click waited).
    const app = document.getElementById("app");
    app.removeAttribute("inert");
    app.removeAttribute("aria-busy");
    await this.route();
    forgetEarly();
    app.dataset.state = "ready";
    // The badges come after the first screen: they need answers it does not wait for.
    this.countActivity();
    this.countThreads();
    pwaStart(); // the service worker, and this browser's push subscription kept current
  }

  async countThreads() {
    let threads;
    try { threads = await get("me/threads/?limit=100"); } catch { return; }
    for (const thread of threads.results) if (thread.unread_replies) state.unreadThreads.add(thread.root);
    this.drawThreadsBadge();
  }

  drawMe() {
    const me = state.me;
    const avatarNode = document.getElementById("me-avatar");
    avatarNode.replaceChildren();
    if (me.avatar_url) avatarNode.append(el("img", { src: me.avatar_url, alt: "" }));
    else avatarNode.textContent = initials(me.display_name);
    document.getElementById("me-name").textContent = me.display_name;
    // While the connection is lost, nobody sees you online: your own dot says so too.
    const status = state.connectionLost ? "offline" : state.presence.get(me.id)?.status || "online";
    const dot = document.getElementById("me-presence");
    dot.dataset.status = status;
    document.getElementById("me-button").setAttribute("aria-label", `${me.display_name}, ${status}. Status and settings`);
  }

  // --- The connection: a banner with a countdown while it is lost ---

  showConnection({ connected, retryAt, offline, final, reason }) {
    const banner = document.getElementById("connection-banner");
    clearInterval(this.countdown);
    state.connectionLost = !connected;
    this.drawMe();
    if (connected) {
      if (!banner.hidden) {
        banner.dataset.kind = "ok";
        banner.textContent = "Connected again.";
        setTimeout(() => { if (state.connected) banner.hidden = true; }, 1500);
      }
      return;
    }
    banner.hidden = false;
    banner.dataset.kind = "warn";
    banner.dataset.state = final ? "closed" : "reconnecting";
    if (final) {
      banner.textContent = reason;
      return;
    }
    const kept = "Messages you send now are kept and sent when we are back.";
    const draw = () => {
      const seconds = retryAt ? Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) : 0;
      const when = offline ? "You are offline. Reconnecting when the network is back…"
        : seconds ? `Connection lost. Reconnecting in ${seconds} s…` : "Connection lost. Reconnecting…";
      const now = el("button", { type: "button", class: "link-button", onclick: () => this.socket.reconnectNow() }, "Reconnect now");
      banner.replaceChildren(`${when} ${kept} `, ...(offline ? [] : [now]));
    };
    draw();
    if (retryAt) this.countdown = setInterval(draw, 1000);
  }

  // --- Routing: #/c/<conversation>[/m/<message>] ---

  async route() {
    const opening = boot.conversationToOpen();
    let conversationId = opening.conversation;
    const messageId = opening.message;
    if (!conversationId || (!opening.addressed && !state.conversations.has(conversationId))) {
      const first = navigationOrder()[0];
      if (!first) { this.showEmpty(); return; }
      conversationId = first;
    }
    await this.openConversation(conversationId, messageId);
  }

  // Nothing to show yet (a new person in no conversation): say what to do next, and
  // offer no control that needs a conversation.
  showEmpty() {
    state.current = null;
    document.getElementById("conversation-title").textContent = "Welcome to teamchat";
    document.getElementById("conversation").dataset.empty = "true";
    for (const id of ["members-button", "pins-button", "conversation-menu-button"]) document.getElementById(id).disabled = true;
    document.getElementById("composer").hidden = true;
    document.getElementById("message-list").replaceChildren(el("li", { class: "empty-state onboarding" },
      el("p", {}, "You are not in any conversation yet."),
      el("p", {}, "Join a channel to see what your colleagues are talking about, or message someone directly."),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "primary", onclick: browseChannelsDialog }, "Browse channels"),
        el("button", { type: "button", class: "secondary", onclick: newDirectDialog }, "Message someone"))));
  }

  async openConversation(conversationId, messageId = null) {
    let conversation = state.conversations.get(conversationId);
    if (!conversation) {
      try {
        conversation = await get(`conversations/${conversationId}/`);
        state.conversations.set(conversationId, conversation);
      } catch (error) {
        this.toast(error.status === 404 ? "That conversation does not exist or you cannot see it." : error.message);
        return;
      }
    }
    if (document.getElementById("conversation").dataset.empty) {
      delete document.getElementById("conversation").dataset.empty;
      for (const id of ["members-button", "pins-button", "conversation-menu-button"]) document.getElementById(id).disabled = false;
      document.getElementById("composer").hidden = false;
    }
    const switching = state.current !== conversationId;
    if (switching && state.current) this.composer.storeDraft();
    if (switching) this.keptUnread = null;
    state.current = conversationId;
    boot.rememberOpen(conversationId);
    if (!conversation.is_member) this.socket.subscribe(conversationId);
    this.drawHeader();
    renderSidebar();
    document.getElementById("app").classList.remove("sidebar-open");
    if (switching) this.composer.loadDraft();
    this.drawTyping();
    if (conversation.encrypted && conversation.is_member) prepareEncryption(conversationId);
    document.getElementById("seen-by").hidden = true;
    await this.timeline.open(conversationId, { focusMessageId: messageId });
    if (!messageId) this.composer.focus();
    this.markRead();
    this.refreshSeenBy();
  }

  // "Seen by" under my newest message in the open conversation: who has read to it
  // (where the organisation has receipts on and I share mine). Asked again after news.
  refreshSeenBy = debounce(async () => {
    const node = document.getElementById("seen-by");
    const conversationId = state.current;
    const entry = state.timelines.get(conversationId);
    const mine = entry && [...entry.ids].reverse().map((id) => entry.byId.get(id))
      .find((message) => message && message.author === state.me.id && !message.deleted);
    if (!mine || !state.organisation.read_receipts_enabled || state.me.share_read_receipts === false) {
      node.hidden = true;
      return;
    }
    let receipts;
    try { receipts = await get(`messages/${mine.id}/receipts/`); } catch { node.hidden = true; return; }
    if (state.current !== conversationId) return;
    const names = receipts.seen_by.map((id) => userName(id));
    node.hidden = !receipts.enabled || !names.length;
    node.dataset.message = String(mine.id);
    node.textContent = names.length > 3 ? `Seen by ${names.slice(0, 3).join(", ")} and ${names.length - 3} more`
      : `Seen by ${names.join(", ").replace(/, ([^,]*)$/, " and $1")}`;
  }, 300);

  drawHeader() {
    const conversation = state.conversations.get(state.current);
    const name = conversationName(conversation);
    const prefix = { public: ["# "], private: [icon("lock"), " "] }[conversation.kind] || [];
    document.getElementById("conversation-title").replaceChildren(...prefix, name + (conversation.archived ? " (archived)" : ""));
    document.getElementById("conversation-topic").textContent = conversation.topic || "";
    const encryption = document.getElementById("conversation-encryption");
    encryption.hidden = !conversation.encrypted;
    encryption.title = "Only the members' browsers can read this conversation; the server stores it sealed.";
    document.getElementById("conversation").setAttribute("aria-label", `Conversation: ${name}`);
    document.getElementById("composer-input").placeholder = conversation.kind === "direct" ? `Message ${name}` : `Message #${name}`;
    document.getElementById("composer-label").textContent = conversation.kind === "direct" ? `Message ${name}` : `Message #${name}`;
    const joinBar = document.getElementById("join-bar");
    const composer = document.getElementById("composer");
    const canJoin = !conversation.is_member && conversation.kind === "public" && !conversation.archived;
    joinBar.hidden = conversation.is_member && !conversation.archived;
    document.getElementById("join-button").hidden = !canJoin;
    document.getElementById("join-text").textContent = conversation.archived
      ? "This conversation is archived; its history stays readable."
      : "You are viewing a channel you have not joined.";
    composer.hidden = !conversation.is_member || conversation.archived;
    drawEncryptionBar(conversation);
    this.calls.drawButtons(conversation);
    document.title = this.titleFor(name);
  }

  // --- Reading ---

  lastOwnMessage() {
    const entry = timeline(state.current);
    for (let i = entry.ids.length - 1; i >= 0; i -= 1) {
      const message = entry.byId.get(entry.ids[i]);
      if (message.author === state.me.id && !message.deleted) return message;
    }
    return null;
  }

  markRead = debounce(async () => {
    const conversation = state.conversations.get(state.current);
    if (!conversation || !conversation.is_member || document.hidden || !this.timeline.atBottom()) return;
    if (this.keptUnread === conversation.id) return; // marked unread here: read again once left
    const newest = this.timeline.newestMessage();
    if (!newest || (conversation.membership && newest.seq <= conversation.membership.last_read_seq && !conversation.unread_count)) return;
    try {
      const updated = await post(`conversations/${conversation.id}/read/`, { message: newest.id });
      this.applyRead({ conversation: conversation.id, last_read_message: newest.id, last_read_seq: updated.membership.last_read_seq,
        unread_count: updated.unread_count, mention_count: updated.mention_count });
    } catch (error) {
      if (error.status !== 404) console.warn("marking read failed", error);
    }
  }, 400);

  async markUnread(message) {
    try {
      const updated = await post(`messages/${message.id}/unread/`);
      this.keptUnread = message.conversation;
      this.applyRead({ conversation: message.conversation, last_read_message: updated.membership.last_read_message,
        last_read_seq: updated.membership.last_read_seq, unread_count: updated.unread_count,
        mention_count: updated.mention_count, marked_unread: true });
      this.toast("Marked unread.");
    } catch (error) {
      this.toast(error.message);
    }
  }

  applyDraft(frame) {
    // A draft kept or cleared in another browser: shown where it is not being typed
    // over. This tab's own news is old news here (and may arrive after newer typing).
    if (frame.origin === state.tab) return;
    const key = `${frame.conversation}.${frame.thread_root || 0}`;
    if (frame.text) state.drafts.set(key, frame.text);
    else state.drafts.delete(key);
    for (const composer of [this.composer, this.panel.composer]) if (composer) composer.draftArrived(key, frame.text);
  }

  applyRead(frame) {
    this.countActivity();
    const conversation = state.conversations.get(frame.conversation);
    if (!conversation) return;
    if (conversation.membership) {
      // A position only moves back when marked unread; otherwise an older frame is stale.
      conversation.membership.last_read_seq = frame.marked_unread ? frame.last_read_seq
        : Math.max(conversation.membership.last_read_seq, frame.last_read_seq);
      conversation.membership.last_read_message = frame.last_read_message;
    }
    conversation.unread_count = frame.unread_count;
    conversation.mention_count = frame.mention_count;
    renderSidebar();
    this.updateTitle();
  }

  titleFor(name) {
    let count = 0;
    for (const conversation of state.conversations.values()) {
      if (!conversation.is_member || isMutedConversation(conversation)) continue;
      count += conversation.kind === "direct" ? conversation.unread_count || 0 : conversation.mention_count || 0;
    }
    const base = name ? `${name} · ${state.organisation.name}` : state.organisation.name;
    return count ? `(${count}) ${base}` : base;
  }

  updateTitle() {
    const conversation = state.conversations.get(state.current);
    document.title = this.titleFor(conversation ? conversationName(conversation) : "");
  }

  // --- Events from the server ---

  applyFrame(frame) {
    switch (frame.type) {
      case "message.ack": return this.applyAck(frame);
      case "typing": return this.applyTyping(frame);
      case "presence": return this.applyPresence(frame);
      case "read.updated": return this.applyRead(frame);
      case "draft.updated": return this.applyDraft(frame);
      case "saved.updated": return this.panel.savedChanged();
      case "thread.updated": this.countActivity(); return this.applyThreadState(frame);
      case "receipt.updated":
        if (frame.conversation === state.current) this.refreshSeenBy();
        return null;
      case "activity.new": case "activity.seen":
        this.countActivity();
        return this.panel.activityChanged(frame);
      case "scheduled.updated":
        if (frame.scheduled.state === "failed") scheduledFailed(frame);
        return this.panel.laterChanged();
      case "reminder.updated": return this.panel.laterChanged();
      case "reminder.due":
        reminderDue(frame);
        return this.panel.laterChanged();
      case "resync": return this.resync(frame.conversation);
      case "error":
        if (!frame.client_msg_id && frame.code !== "rate_limited") this.toast(frame.detail);
        return null;
      case "resumed": case "subscribed": case "pong": return null;
      default:
        if (frame.conversation && frame.seq) return this.applyConversationEvent(frame);
        return null;
    }
  }

  applyAck(frame) {
    this.placeMessage(frame.message);
    this.refreshViews(frame.message.conversation);
    if (frame.message.conversation === state.current) this.refreshSeenBy();
  }

  // Put a message where it is shown: the timeline (if in the channel) and its thread.
  placeMessage(message) {
    const entry = state.timelines.get(message.conversation);
    if (entry && entry.loaded && !entry.hasNewer && (!message.thread_root || message.also_in_channel)) putMessage(entry, message);
    else if (entry && entry.byId.has(message.id)) entry.byId.set(message.id, message);
    if (message.thread_root) {
      const thread = state.threads.get(message.thread_root);
      if (thread) putMessage(thread, message);
    }
    const thread = state.threads.get(message.id);
    if (thread) thread.root = message;
  }

  async applyConversationEvent(frame) {
    let conversation = state.conversations.get(frame.conversation);
    if (frame.type === "conversation.created" || (frame.type === "member.joined" && frame.user === state.me.id)) {
      conversation = await get(`conversations/${frame.conversation}/`);
      conversation.unread_count = conversation.unread_count || 0;
      state.conversations.set(conversation.id, conversation);
      renderSidebar();
      if (state.current === conversation.id) this.drawHeader();
      return;
    }
    if (!conversation) return;
    if (frame.seq <= (conversation.last_seq || 0)) return; // already applied
    conversation.last_seq = frame.seq;
    switch (frame.type) {
      case "message.created": this.applyNewMessage(conversation, frame); break;
      case "message.edited": case "message.deleted": case "message.previews":
        this.placeMessage(frame.message);
        if (frame.thread) this.applyThreadSummary(frame.thread);
        break;
      case "reaction.added": case "reaction.removed": this.applyReaction(frame); break;
      case "pin.added": case "pin.removed": {
        const message = findMessage(frame.message_id);
        if (message) message.pinned = frame.type === "pin.added";
        break;
      }
      case "conversation.updated":
        Object.assign(conversation, frame.changes);
        if (state.current === conversation.id) this.drawHeader();
        renderSidebar();
        break;
      case "member.left":
        if (frame.user === state.me.id) { this.forget(conversation.id); return; }
        break;
      case "member.role_changed":
        if (frame.user === state.me.id && conversation.membership) conversation.membership.role = frame.role;
        break;
      default: break;
    }
    this.refreshViews(conversation.id);
  }

  applyNewMessage(conversation, frame) {
    const message = frame.message;
    this.placeMessage(message);
    if (frame.thread) this.applyThreadSummary(frame.thread);
    const inChannel = !message.thread_root || message.also_in_channel;
    if (inChannel) conversation.last_message_at = message.created_at;
    this.clearTyping(conversation.id, message.author);
    if (message.author === state.me.id) {
      this.socket.acknowledged(message.client_msg_id);
      return;
    }
    if (state.current === conversation.id) this.refreshSeenBy(); // a reply means they read on
    const reading = state.current === conversation.id && !document.hidden && this.timeline.atBottom();
    if (inChannel && conversation.is_member && !reading) {
      conversation.unread_count = (conversation.unread_count || 0) + 1;
      if (mentionsMe(message)) conversation.mention_count = (conversation.mention_count || 0) + 1;
    }
    if (reading) this.markRead();
    renderSidebar();
    this.updateTitle();
    this.notify(conversation, message);
  }

  // A followed thread's counts (thread.updated): the Threads badge and view follow.
  applyThreadState(frame) {
    if (frame.following && frame.unread_replies) state.unreadThreads.add(frame.root);
    else state.unreadThreads.delete(frame.root);
    this.drawThreadsBadge();
    this.panel.threadChanged(frame);
  }

  // The Activity badge: unread items among the newest (mentions and replies are read
  // where they were written, reactions when the view is seen), asked again after news.
  countActivity = debounce(async () => {
    let page;
    try { page = await get("me/activity/?limit=50"); } catch { return; }
    const count = page.results.filter((item) => item.unread).length;
    const badge = document.getElementById("activity-badge");
    badge.hidden = !count;
    badge.textContent = count >= 50 ? "50+" : String(count);
    document.getElementById("activity-button").setAttribute("aria-label", count ? `Activity, ${badge.textContent} unread` : "Activity");
  }, 250);

  drawThreadsBadge() {
    const badge = document.getElementById("threads-badge");
    const count = state.unreadThreads.size;
    badge.hidden = !count;
    badge.textContent = String(count);
    document.getElementById("threads-button").setAttribute("aria-label",
      count ? `Threads, ${count} with new replies` : "Threads");
  }

  applyThreadSummary(summary) {
    const root = findMessage(summary.root);
    if (root) root.thread = { reply_count: summary.reply_count, last_reply_at: summary.last_reply_at, participants: summary.participants };
  }

  applyReaction(frame) {
    const message = findMessage(frame.message_id);
    if (!message) return;
    const reactions = message.reactions || [];
    let entry = reactions.find((r) => r.emoji === frame.emoji);
    if (frame.type === "reaction.added") {
      if (!entry) { entry = { emoji: frame.emoji, count: 0, users: [] }; reactions.push(entry); }
      if (!entry.users.includes(frame.user)) { entry.users.push(frame.user); entry.count += 1; }
    } else if (entry) {
      entry.users = entry.users.filter((id) => id !== frame.user);
      entry.count = entry.users.length;
      if (!entry.count) reactions.splice(reactions.indexOf(entry), 1);
    }
    message.reactions = reactions;
  }

  refreshViews(conversationId) {
    if (state.current === conversationId) this.timeline.refresh();
    if (this.panel.kind === "thread") this.panel.renderThread();
  }

  forget(conversationId) {
    state.conversations.delete(conversationId);
    state.timelines.delete(conversationId);
    renderSidebar();
    this.updateTitle();
    if (state.current === conversationId) {
      state.current = null;
      location.hash = "";
      this.route();
    }
  }

  async resync(conversationId) {
    state.timelines.delete(conversationId);
    try {
      const conversation = await get(`conversations/${conversationId}/`);
      const known = state.conversations.get(conversationId);
      state.conversations.set(conversationId, { ...known, ...conversation });
    } catch {
      this.forget(conversationId);
      return;
    }
    if (state.current === conversationId) await this.timeline.open(conversationId);
  }

  // --- Typing and presence ---

  applyTyping(frame) {
    const people = state.typing.get(frame.conversation) || new Map();
    people.set(frame.user, Date.now() + frame.expires_in_ms);
    state.typing.set(frame.conversation, people);
    this.drawTyping();
    setTimeout(() => this.drawTyping(), frame.expires_in_ms + 50);
  }

  clearTyping(conversationId, userId) {
    state.typing.get(conversationId)?.delete(userId);
    this.drawTyping();
  }

  drawTyping() {
    const line = document.getElementById("typing-line");
    const people = state.typing.get(state.current);
    const now = Date.now();
    const names = people ? [...people].filter(([, until]) => until > now).map(([id]) => userName(id)) : [];
    if (!names.length) line.textContent = "";
    else if (names.length === 1) line.textContent = `${names[0]} is typing…`;
    else if (names.length === 2) line.textContent = `${names[0]} and ${names[1]} are typing…`;
    else line.textContent = "Several people are typing…";
  }

  applyPresence(frame) {
    state.presence.set(frame.user, frame);
    const user = state.users.get(frame.user);
    if (user) Object.assign(user, { status_text: frame.status_text, status_emoji: frame.status_emoji });
    if (frame.user === state.me.id) this.drawMe();
    renderSidebar();
  }

  // --- Desktop notifications: mentions and direct messages while the tab is hidden ---

  notify(conversation, message) {
    if (!document.hidden || localStorage.getItem(NOTIFY_KEY) !== "on" || !window.Notification || Notification.permission !== "granted") return;
    if (isMutedConversation(conversation)) return;
    let level = conversation.membership?.notification_level || "default";
    if (level === "default") level = state.me.notify_default || "mentions";
    if (level === "nothing") return;
    const mine = state.presence.get(state.me.id);
    if (mine && mine.status === "dnd") return;
    if (this.inQuietHours()) return;
    const direct = conversation.kind === "direct";
    if (!(direct || mentionsMe(message) || level === "all")) return;
    const title = direct ? userName(message.author) : `${userName(message.author)} in #${conversation.name}`;
    // An encrypted message's text is known only here, once decrypted; the server sent none.
    const text = message.encrypted ? openedText(message) || "New encrypted message" : plainText(message.html);
    const notification = new Notification(title, { body: text.slice(0, 200), tag: `teamchat-${message.id}` });
    notification.onclick = () => { window.focus(); location.hash = `#/c/${conversation.id}/m/${message.id}`; notification.close(); };
  }

  inQuietHours() {
    const { quiet_hours_start: start, quiet_hours_end: end, timezone } = state.me;
    if (!start || !end || start === end) return false;
    const now = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: timezone || "UTC" })
      .format(new Date());
    const [from, to] = [start.slice(0, 5), end.slice(0, 5)];
    return from < to ? now >= from && now < to : now >= from || now < to;
  }

  // --- Wiring ---

  toast(text) {
    const node = el("div", {}, text);
    document.getElementById("toast").append(node);
    setTimeout(() => node.remove(), 4000);
  }

  bindEvents() {
    on("frame", (frame) => this.applyFrame(frame));
    on("connection", (change) => this.showConnection(change));
    on("outbox", ({ entry }) => this.refreshViews(entry.conversation));
    on("outbox-retry", ({ id }) => this.socket.retry(id));
    on("outbox-discard", ({ id }) => this.socket.discard(id));
    on("toast", ({ text }) => this.toast(text));
    on("ephemeral", ({ text }) => this.toast(`Only you can see this: ${text}`));
    on("open-thread", ({ rootId }) => this.panel.openThread(rootId));
    on("open-profile", ({ userId }) => this.panel.openProfile(userId));
    on("open-direct", async ({ userId }) => {
      const conversation = await post("conversations/", { kind: "direct", members: [userId] });
      state.conversations.set(conversation.id, { ...conversation, unread_count: 0, mention_count: 0 });
      location.hash = `#/c/${conversation.id}`;
    });
    on("edit-message", ({ message }) => {
      if (message.thread_root && this.panel.composer) this.panel.composer.startEdit(message);
      else this.composer.startEdit(message);
    });
    on("delete-message", async ({ message }) => {
      if (!await confirmDialog({ title: "Delete this message?", text: "It will be removed for everyone in the conversation.", confirm: "Delete" })) return;
      try { await del(`messages/${message.id}/`); } catch (error) { this.toast(error.message); }
    });
    on("conversation-added", ({ conversation }) => {
      if (!state.conversations.has(conversation.id)) state.conversations.set(conversation.id, conversation);
      renderSidebar();
    });
    on("conversation-updated", ({ conversation }) => {
      state.conversations.set(conversation.id, { ...state.conversations.get(conversation.id), ...conversation });
      renderSidebar();
      if (state.current === conversation.id) this.drawHeader();
    });
    on("left-conversation", ({ id }) => { document.getElementById("dialog").close(); this.forget(id); });
    on("me-updated", ({ me }) => { Object.assign(state.me, me); state.users.set(me.id, { ...state.users.get(me.id), ...me }); this.drawMe(); });
    on("presence-frame", (frame) => this.applyPresence({ ...frame, user: state.me.id }));
    on("timeline-bottom", () => this.markRead());
    on("mark-unread", ({ message }) => this.markUnread(message));
    on("e2ee-decrypted", ({ conversation }) => this.refreshViews(conversation));
    on("open-shortcuts", shortcutsDialog);

    window.addEventListener("hashchange", () => this.route());
    document.addEventListener("visibilitychange", () => { if (!document.hidden) this.markRead(); });
    new SearchCompletion(document.getElementById("search-input"), document.getElementById("search-suggestions"));
    bindSearchHelp(document.getElementById("search-help-button"), document.getElementById("search-help"));
    document.getElementById("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const query = document.getElementById("search-input").value.trim();
      if (query) this.panel.openSearch(query);
    });
    document.getElementById("create-channel").addEventListener("click", createChannelDialog);
    document.getElementById("browse-channels").addEventListener("click", browseChannelsDialog);
    document.getElementById("new-direct").addEventListener("click", newDirectDialog);
    document.getElementById("jump-button").addEventListener("click", quickSwitcher);
    document.getElementById("saved-button").addEventListener("click", () => this.panel.openSaved());
    document.getElementById("threads-button").addEventListener("click", () => this.panel.openThreads());
    document.getElementById("activity-button").addEventListener("click", () => this.panel.openActivity());
    document.getElementById("later-button").addEventListener("click", () => this.panel.openLater());
    document.getElementById("me-button").addEventListener("click", () => settingsDialog("status"));
    document.getElementById("join-button").addEventListener("click", async () => {
      try {
        const conversation = await post(`conversations/${state.current}/join/`);
        state.conversations.set(conversation.id, { ...conversation, unread_count: 0, mention_count: 0 });
        this.drawHeader();
        renderSidebar();
        this.composer.focus();
      } catch (error) { this.toast(error.message); }
    });
    document.getElementById("members-button").addEventListener("click", () => this.panel.openMembers(state.conversations.get(state.current)));
    document.getElementById("pins-button").addEventListener("click", () => this.panel.openPins(state.conversations.get(state.current)));
    document.getElementById("conversation-menu-button").addEventListener("click", () => conversationSettingsDialog(state.conversations.get(state.current)));
    const toggle = document.getElementById("sidebar-toggle");
    toggle.addEventListener("click", () => {
      const open = document.getElementById("app").classList.toggle("sidebar-open");
      toggle.setAttribute("aria-expanded", String(open));
      if (open) document.querySelector("#conversation-nav a")?.focus();
    });
  }

  // An on-screen keyboard covers the bottom of the page where the browser does not resize
  // it (iOS Safari): the page follows the visible part, so the composer stays above it.
  followVisibleHeight() {
    const viewport = window.visualViewport;
    if (!viewport) return;
    const follow = () => document.documentElement.style.setProperty("--visible-height", `${Math.round(viewport.height)}px`);
    viewport.addEventListener("resize", follow);
    follow();
  }

  bindKeyboard() {
    document.addEventListener("keydown", (event) => {
      const modifier = event.ctrlKey || event.metaKey;
      if (modifier && event.key.toLowerCase() === "k") {
        event.preventDefault();
        quickSwitcher();
      } else if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
        event.preventDefault();
        this.step(event.key === "ArrowDown" ? 1 : -1, event.shiftKey);
      } else if (event.key === "?" && !modifier && !isTyping(event.target) && !document.getElementById("dialog").open) {
        event.preventDefault();
        shortcutsDialog();
      } else if (event.key === "Escape" && !document.getElementById("dialog").open && !viewerOpen() && !document.getElementById("side-panel").hidden
        && !event.target.closest("textarea")) {
        this.panel.close();
      }
    });
  }

  // Move to the next or previous conversation in the sidebar (only unread ones with Shift).
  step(direction, unreadOnly) {
    const order = navigationOrder().filter((id) => !unreadOnly || id === state.current || (state.conversations.get(id)?.unread_count || 0) > 0);
    if (!order.length) return;
    const index = order.indexOf(state.current);
    const next = order[(index + direction + order.length) % order.length];
    if (next && next !== state.current) location.hash = `#/c/${next}`;
  }
}

new App().start().catch((error) => {
  console.error(error);
  document.getElementById("app").removeAttribute("inert");
  document.getElementById("message-list").replaceChildren(el("li", { class: "empty-state" }, `teamchat could not start: ${error.message}`));
});
