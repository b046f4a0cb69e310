// Drawing messages: one message, and the conversation's timeline with day separators,
// author grouping, the "new messages" line, history loading and jump-to-message.

import { del, get, post } from "./api.js";
import { drawBody as drawSealedBody, filesBlock as sealedFilesBlock } from "./e2ee.js";
import { openEmojiPicker } from "./emoji.js";
import { remindDialog } from "./later.js";
import { clock, dayKey, dayLabel, el, fileSize, fullTime, initials } from "./format.js";
import { icon, iconButton } from "./icons.js";
import { MessageKeys } from "./keyboard.js";
import { emit, findMessage, mentionsMe, putMessage, state, timeline, userName } from "./store.js";
import { itemForFile, openViewer, plainClick, viewable } from "./viewer.js";

const GROUP_WITHIN_MS = 5 * 60 * 1000;

export function avatar(userId, small = false) {
  const user = state.users.get(userId);
  const node = el("span", { class: small ? "avatar avatar-small" : "avatar", "aria-hidden": "true" });
  if (user && user.avatar_url) node.append(el("img", { src: user.avatar_url, alt: "" }));
  else node.textContent = initials(user ? user.display_name : "?");
  return node;
}

export function messageLink(message) {
  return `${location.origin}/#/c/${message.conversation}/m/${message.id}`;
}

function canDelete(message) {
  if (message.author === state.me.id) return true;
  const conversation = state.conversations.get(message.conversation);
  if (!conversation || conversation.kind === "direct") return false;
  return ["owner", "admin"].includes(state.me.role) || conversation.membership?.role === "admin";
}

function reactionsBar(message) {
  if (!message.reactions || !message.reactions.length) return null;
  return el("div", { class: "reactions", role: "group", "aria-label": "Reactions" },
    message.reactions.map((reaction) => {
      const mine = reaction.users.includes(state.me.id);
      const who = reaction.users.map(userName).join(", ");
      return el("button", {
        type: "button", class: "reaction", "aria-pressed": mine ? "true" : "false",
        title: `${who} reacted with ${reaction.emoji}`,
        "aria-label": `${reaction.emoji} ${reaction.count}: ${who}. ${mine ? "Remove your reaction" : "Add yours"}`,
        onclick: () => toggleReaction(message, reaction.emoji, mine),
      }, el("span", { "aria-hidden": "true" }, reaction.emoji), el("span", { "aria-hidden": "true" }, String(reaction.count)));
    }));
}

function filesBlock(message) {
  if (!message.files || !message.files.length) return null;
  return el("div", { class: "message-files" }, message.files.map((file) => fileView(file, message)));
}

// The pictures and PDFs the viewer steps through from `message`: those of the messages
// loaded in its conversation (or, for a reply only in its thread, the thread), in order.
function viewerItems(message) {
  const entry = timeline(message.conversation);
  const thread = state.threads.get(message.thread_root || message.id);
  let messages = [message];
  if (entry.byId.has(message.id)) messages = entry.ids.map((id) => entry.byId.get(id));
  else if (thread && (thread.byId.has(message.id) || thread.root?.id === message.id)) {
    messages = [thread.root, ...thread.ids.map((id) => thread.byId.get(id))];
  }
  return messages.filter((item) => item && !item.deleted && !item.encrypted)
    .flatMap((item) => (item.files || []).filter(viewable).map(itemForFile));
}

function openInViewer(event, file, message) {
  if (!plainClick(event)) return; // Ctrl-click and the like open the file in a new tab
  event.preventDefault();
  let items = viewerItems(message);
  let index = items.findIndex((item) => item.id === file.id);
  if (index < 0) { items = [itemForFile(file)]; index = 0; }
  openViewer(items, index, event.currentTarget);
}

export function fileView(file, message) {
  const label = `${file.name} (${fileSize(file.size)})`;
  const opens = (extra) => ({
    href: file.url, target: "_blank", rel: "noopener", "aria-haspopup": "dialog", dataset: { fileId: file.id },
    onclick: (event) => openInViewer(event, file, message), ...extra,
  });
  if (file.kind === "image" && file.url) {
    return el("a", opens({ class: "file-image", title: label }),
      el("img", { src: file.thumbnail_url || file.url, alt: file.name, loading: "lazy",
        width: file.preview_width || undefined, height: file.preview_height || undefined }));
  }
  if (file.kind === "video" && file.url) {
    return el("div", { class: "file-video" }, el("video", { src: file.url, controls: true, preload: "metadata", "aria-label": file.name }));
  }
  if (file.kind === "audio" && file.url) {
    return el("div", { class: "file-audio" }, el("audio", { src: file.url, controls: true, preload: "none", "aria-label": file.name }));
  }
  const caption = el("span", { class: "file-caption" }, el("span", { class: "file-name" }, file.name), el("br"),
    el("span", { class: "file-detail" }, `${fileSize(file.size)} · ${file.kind === "pdf" ? "PDF" : file.content_type}`));
  if (file.kind === "pdf" && file.url && file.thumbnail_url) {
    return el("a", opens({ class: "file-pdf" }),
      el("img", { src: file.thumbnail_url, alt: "", loading: "lazy",
        width: file.preview_width || undefined, height: file.preview_height || undefined }), caption);
  }
  const fileIcon = el("span", { class: "file-icon" }, icon("file"));
  if (file.kind === "pdf" && file.url) return el("a", opens({ class: "file-card" }), fileIcon, caption);
  return el("a", { class: "file-card", href: file.download_url || file.url, download: file.name }, fileIcon, caption);
}

function previewCards(message) {
  if (!message.previews || !message.previews.length) return null;
  return el("div", { class: "link-previews" }, message.previews.map((card) => el("div", { class: "link-preview" },
    card.image_url ? el("img", { src: card.image_url, alt: "", loading: "lazy" }) : null,
    el("div", { class: "link-preview-text" },
      card.site_name ? el("span", { class: "link-preview-site" }, card.site_name) : null,
      el("a", { href: card.url, target: "_blank", rel: "noopener noreferrer nofollow", class: "link-preview-title" }, card.title),
      card.description ? el("p", {}, card.description) : null))));
}

// `action` names the button for the keys on a focused message (keyboard.js).
function actionButton(action, label, name, handler) {
  return iconButton(label, name, { onclick: handler, dataset: { action } });
}

function messageActions(message, { inThread }) {
  if (message.deleted || message.pending) return null;
  const conversation = state.conversations.get(message.conversation);
  const member = conversation && conversation.is_member && !conversation.archived;
  const actions = [];
  if (member) {
    actions.push(actionButton("react", "Add reaction", "smile", (event) => openEmojiPicker(event.currentTarget, (emoji) => toggleReaction(message, emoji, false))));
    if (!inThread && !message.thread_root) actions.push(actionButton("reply", "Reply in thread", "reply", () => emit("open-thread", { rootId: message.id })));
    if (message.author === state.me.id) actions.push(actionButton("edit", "Edit message", "pencil", () => emit("edit-message", { message })));
    actions.push(actionButton("pin", message.pinned ? "Unpin message" : "Pin message", "pin", () => togglePin(message)));
    if (!inThread && (!message.thread_root || message.also_in_channel)) {
      actions.push(actionButton("unread", "Mark unread", "unread", () => emit("mark-unread", { message })));
    }
  }
  actions.push(actionButton("remind", "Remind me", "alarm", () => remindDialog(message)));
  actions.push(actionButton("save", "Save for later", "bookmark", () => post(`messages/${message.id}/save/`).then(() => emit("toast", { text: "Saved for later." }))));
  actions.push(actionButton("link", "Copy link to message", "link", () => navigator.clipboard.writeText(messageLink(message)).then(
    () => emit("toast", { text: "Link copied." }), () => emit("toast", { text: messageLink(message) }))));
  if (member && canDelete(message)) actions.push(actionButton("delete", "Delete message", "trash", () => emit("delete-message", { message })));
  return el("div", { class: "message-actions", role: "toolbar", "aria-label": "Message actions" }, actions);
}

export function renderMessage(message, { grouped = false, inThread = false } = {}) {
  const author = userName(message.author);
  const classes = ["message"];
  if (grouped) classes.push("grouped");
  if (message.deleted) classes.push("message-deleted");
  if (message.pending) classes.push(message.failed ? "failed" : "pending");
  if (mentionsMe(message)) classes.push("mentions-me");
  const id = message.pending ? `pending-${message.client_msg_id}` : `${inThread ? "thread-" : ""}msg-${message.id}`;
  const body = el("div", { class: "message-body", id: `${id}-body` });
  if (message.deleted) body.textContent = "This message was deleted.";
  else if (message.pending) body.append(message.text || "", ...(message.files || []).flatMap((file) => [" ", icon("paperclip"), ` ${file.name}`]));
  else if (message.encrypted) drawSealedBody(body, message); // decrypted in this browser, shown as text
  else body.innerHTML = message.html; // sanitised on the server (nh3); never built from raw input here
  const meta = el("div", { class: "message-meta" },
    el("button", { type: "button", class: "message-author", onclick: () => emit("open-profile", { userId: message.author }) }, author),
    message.pending
      ? el("span", { class: "message-time" }, message.failed ? "Not sent" : "Sending…")
      : el("a", { class: "message-time", href: `#/c/${message.conversation}/m/${message.id}`, title: fullTime(message.created_at) },
        el("time", { datetime: message.created_at }, clock(message.created_at))));
  const notes = [];
  if (message.edited_at && !message.deleted) notes.push(el("span", { class: "message-note", title: fullTime(message.edited_at) }, "(edited)"));
  if (message.pinned) notes.push(el("span", { class: "message-note" }, icon("pin"), " pinned"));
  if (message.thread_root && !inThread) notes.push(el("span", { class: "message-note" }, "replied to a thread"));
  let threadButton = null;
  if (!inThread && message.thread && message.thread.reply_count) {
    const count = message.thread.reply_count;
    threadButton = el("button", { type: "button", class: "thread-summary", onclick: () => emit("open-thread", { rootId: message.id }) },
      `${count} ${count === 1 ? "reply" : "replies"}`);
  }
  let failedTools = null;
  if (message.pending && message.failed) {
    failedTools = el("div", { class: "message-note" }, `${message.error || "Not sent."} `,
      el("button", { type: "button", class: "link-button", onclick: () => emit("outbox-retry", { id: message.client_msg_id }) }, "Retry"), " · ",
      el("button", { type: "button", class: "link-button", onclick: () => emit("outbox-discard", { id: message.client_msg_id }) }, "Discard"));
  }
  return el("li", {
    class: classes.join(" "), id, dataset: { id: message.id || "", author: message.author },
    // Focused, a message reads as its author and time, then its text.
    "aria-label": `${author}, ${message.pending ? "sending" : clock(message.created_at)}`, "aria-describedby": body.id,
  },
  grouped ? el("span", { class: "message-gutter-time", "aria-hidden": "true" }, message.pending ? "" : clock(message.created_at)) : avatar(message.author),
  el("div", { class: "message-content" }, meta, body, notes.length ? el("div", {}, notes) : null,
    message.encrypted && !message.deleted ? sealedFilesBlock(message) : filesBlock(message),
    previewCards(message), reactionsBar(message), threadButton, failedTools),
  messageActions(message, { inThread }));
}

async function toggleReaction(message, emoji, mine) {
  try {
    if (mine) await del(`messages/${message.id}/reactions/${encodeURIComponent(emoji)}/`);
    else await post(`messages/${message.id}/reactions/`, { emoji });
  } catch (error) {
    emit("toast", { text: error.message });
  }
}

async function togglePin(message) {
  try {
    if (message.pinned) await del(`messages/${message.id}/pin/`);
    else await post(`messages/${message.id}/pin/`);
  } catch (error) {
    emit("toast", { text: error.message });
  }
}

// Whether `message` continues the previous one's group (same author, a few minutes on).
export function continues(previous, message) {
  return Boolean(previous && !previous.deleted && previous.author === message.author
    && dayKey(previous.created_at) === dayKey(message.created_at)
    && new Date(message.created_at) - new Date(previous.created_at) < GROUP_WITHIN_MS
    && !message.thread_root === !previous.thread_root);
}

// How close to the top of the loaded history a reader gets before the page before it loads.
const NEAR_TOP_PX = 300;

export class TimelineView {
  constructor() {
    this.scroller = document.getElementById("messages");
    this.list = document.getElementById("message-list");
    this.sentinel = document.getElementById("history-sentinel");
    this.keys = new MessageKeys(this.list, { older: () => this.loadOlder() });
    this.conversationId = null;
    this.newLineAfterSeq = null;
    this.loadingOlder = false;
    // An observation can be older than the page: one made while "Loading…" showed may
    // arrive after the messages were drawn and scrolled to the newest. Measure again.
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting) && this.nearTop()) this.loadOlder();
    }, { root: this.scroller, rootMargin: `${NEAR_TOP_PX}px 0px 0px 0px` });
    this.observer.observe(this.sentinel);
    this.scroller.addEventListener("scroll", () => {
      this.stuckToBottom = this.atBottom();
      if (this.stuckToBottom) emit("timeline-bottom", {});
    }, { passive: true });
    // A reader at the newest message stays there when the list gets shorter (an on-screen
    // keyboard opening, the composer growing): the newest stays in sight above the composer.
    this.stuckToBottom = true;
    new ResizeObserver(() => { if (this.stuckToBottom) this.scrollToBottom(); }).observe(this.scroller);
  }

  nearTop() {
    return this.sentinel.getBoundingClientRect().bottom >= this.scroller.getBoundingClientRect().top - NEAR_TOP_PX;
  }

  atBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 40;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  async open(conversationId, { focusMessageId = null } = {}) {
    const conversation = state.conversations.get(conversationId);
    // Opening the conversation already shown (a link to it, a resync) keeps its line where
    // it was, though the messages under it have been marked read since.
    if (conversationId !== this.conversationId) {
      this.newLineAfterSeq = conversation && conversation.membership ? conversation.membership.last_read_seq : null;
      // Only what was unread when the conversation opened gets the line, not what arrives live.
      this.newLineUntilSeq = conversation ? conversation.last_seq : null;
    }
    this.conversationId = conversationId;
    const entry = timeline(conversationId);
    this.list.replaceChildren(el("li", { class: "empty-state" }, "Loading messages…"));
    if (focusMessageId && !entry.byId.has(focusMessageId)) {
      entry.ids = []; entry.byId = new Map(); entry.loaded = false;
      await this.fetchPage(conversationId, `around=${focusMessageId}`);
    } else if (!entry.loaded || entry.hasNewer) {
      entry.ids = []; entry.byId = new Map();
      await this.fetchPage(conversationId, "");
    }
    if (this.conversationId !== conversationId) return;
    this.render();
    if (focusMessageId) this.focusMessage(focusMessageId);
    else {
      const line = this.list.querySelector(".new-line");
      if (line) line.scrollIntoView({ block: "center" });
      else this.scrollToBottom();
    }
  }

  async fetchPage(conversationId, query) {
    const page = await get(`conversations/${conversationId}/messages/?limit=50${query ? `&${query}` : ""}`);
    const entry = timeline(conversationId);
    for (const message of page.results) putMessage(entry, message);
    if (!query || query.startsWith("before") || query.startsWith("around")) entry.hasOlder = page.has_older;
    if (!query || query.startsWith("around") || query.startsWith("after")) entry.hasNewer = page.has_newer;
    entry.loaded = true;
    return page;
  }

  async loadOlder() {
    const conversationId = this.conversationId;
    const entry = conversationId && timeline(conversationId);
    if (!entry || !entry.loaded || !entry.hasOlder || this.loadingOlder || !entry.ids.length) return;
    this.loadingOlder = true;
    const before = this.scroller.scrollHeight - this.scroller.scrollTop;
    try {
      await this.fetchPage(conversationId, `before=${entry.ids[0]}`);
      if (this.conversationId === conversationId) {
        this.render();
        this.scroller.scrollTop = this.scroller.scrollHeight - before; // keep the reader's place
      }
    } finally {
      this.loadingOlder = false;
    }
  }

  async loadNewer() {
    const entry = timeline(this.conversationId);
    if (!entry.hasNewer || !entry.ids.length) return;
    await this.fetchPage(this.conversationId, `after=${entry.ids[entry.ids.length - 1]}`);
    this.render();
  }

  focusMessage(messageId) {
    const node = document.getElementById(`msg-${messageId}`);
    if (!node) return;
    node.scrollIntoView({ block: "center" });
    node.classList.add("highlight");
    this.keys.focus(node, { preventScroll: true });
    setTimeout(() => node.classList.remove("highlight"), 4000);
  }

  render() {
    const conversation = state.conversations.get(this.conversationId);
    const entry = timeline(this.conversationId);
    const items = [];
    if (!entry.hasOlder && conversation) {
      items.push(el("li", { class: "history-start" },
        el("h3", {}, conversation.kind === "direct" ? "This is the start of your conversation" : `This is the start of #${conversation.name}`),
        conversation.purpose ? el("p", {}, conversation.purpose) : null));
    }
    let previous = null;
    let lineShown = false;
    const messages = entry.ids.map((id) => entry.byId.get(id));
    for (const message of messages) {
      if (!previous || dayKey(previous.created_at) !== dayKey(message.created_at)) {
        items.push(el("li", { class: "day-separator" }, dayLabel(message.created_at)));
        previous = null;
      }
      if (!lineShown && this.newLineAfterSeq !== null && message.seq > this.newLineAfterSeq
        && message.seq <= this.newLineUntilSeq && message.author !== state.me.id) {
        items.push(el("li", { class: "new-line" }, "New messages"));
        lineShown = true;
        previous = null;
      }
      items.push(renderMessage(message, { grouped: continues(previous, message) }));
      previous = message;
    }
    for (const pending of (window.teamchat?.socket?.pending(this.conversationId) || [])) {
      items.push(renderMessage({ ...pending, pending: true, failed: pending.status === "failed", author: state.me.id, created_at: new Date().toISOString() }));
    }
    if (!items.length) items.push(el("li", { class: "empty-state" }, "No messages yet. Say hello!"));
    this.keys.draw(items);
  }

  // A message arrived or changed: redraw keeping the reader's place (or the bottom).
  refresh() {
    const stick = this.atBottom();
    const offset = this.scroller.scrollHeight - this.scroller.scrollTop;
    this.render();
    if (stick) this.scrollToBottom();
    else this.scroller.scrollTop = this.scroller.scrollHeight - offset;
  }

  newestMessage() {
    const entry = timeline(this.conversationId);
    for (let i = entry.ids.length - 1; i >= 0; i -= 1) {
      const message = entry.byId.get(entry.ids[i]);
      if (message) return message;
    }
    return null;
  }
}

export { findMessage };
