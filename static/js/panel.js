// The side panel: a thread with its own composer, the threads the person follows, a
// person's profile, a conversation's members, its pinned messages, and the messages
// saved for later.

import { del, get, getAll, patch, post, put } from "./api.js";
import { Composer } from "./composer.js";
import { addMembersDialog, confirmDialog } from "./dialogs.js";
import { searchOpened } from "./e2ee.js";
import { debounce, el } from "./format.js";
import { icon, iconButton } from "./icons.js";
import { editScheduledDialog, remindDialog, scheduleDialog, showTime } from "./later.js";
import { MessageKeys } from "./keyboard.js";
import { avatar, continues, renderMessage } from "./messages.js";
import { searchResult, syntaxHelp } from "./search.js";
import { conversationName, emit, putMessage, state, userName } from "./store.js";

const panel = () => document.getElementById("side-panel");
const body = () => document.getElementById("side-panel-body");

export class SidePanel {
  constructor(socket) {
    this.socket = socket;
    this.kind = null;
    this.threadRoot = null;
    this.composer = null;
    document.getElementById("side-panel-close").addEventListener("click", () => this.close());
  }

  showPanel(title) {
    document.getElementById("side-panel-title").textContent = title;
    panel().hidden = false;
  }

  close() {
    panel().hidden = true;
    body().replaceChildren();
    this.kind = null;
    this.threadRoot = null;
    this.composer = null;
    document.getElementById("composer-input").focus();
  }

  // --- Thread ---

  async openThread(rootId, { fromThreads = false } = {}) {
    this.kind = "thread";
    this.threadRoot = rootId;
    this.showPanel("Thread");
    body().replaceChildren(el("p", { class: "empty-state" }, "Loading thread…"));
    const page = await get(`messages/${rootId}/replies/`);
    const thread = { root: page.root, ids: [], byId: new Map() };
    for (const reply of page.results) putMessage(thread, reply);
    state.threads.set(rootId, thread);
    if (this.threadRoot !== rootId) return;
    const list = el("ol", { class: "message-list", id: "thread-list" });
    const log = el("div", { class: "thread-log", role: "log", "aria-label": "Thread" }, list);
    this.threadKeys = new MessageKeys(list);
    const alsoSend = el("input", { type: "checkbox", id: "thread-also" });
    const form = el("form", { class: "composer", id: "thread-composer", autocomplete: "off" },
      el("div", { class: "composer-mode", hidden: true }, el("span", {}, "Editing reply"),
        el("button", { type: "button", class: "link-button", dataset: { role: "cancel" } }, "Cancel (Esc)")),
      el("ul", { class: "upload-list", "aria-label": "Files to send" }),
      el("div", { class: "composer-box" },
        el("label", { class: "sr-only", for: "thread-input" }, "Reply in thread"),
        el("textarea", { id: "thread-input", rows: "1", placeholder: "Reply…" }),
        el("div", { class: "composer-preview", hidden: true }),
        el("ul", { class: "autocomplete", role: "listbox", hidden: true, "aria-label": "Suggestions" })),
      el("div", { class: "composer-tools" },
        el("input", { type: "file", multiple: true, hidden: true }),
        iconButton("Attach files", "paperclip", { dataset: { role: "attach" } }),
        iconButton("Insert emoji", "smile", { dataset: { role: "emoji" } }),
        iconButton("Preview formatting", "eye", { dataset: { role: "preview" }, "aria-pressed": "false" }),
        el("label", { class: "composer-hint", for: "thread-also" }, alsoSend, " Also send to the channel"),
        el("button", { type: "submit", class: "primary" }, "Reply")));
    const back = fromThreads ? el("div", { class: "panel-section" },
      el("button", { type: "button", class: "link-button", onclick: () => this.openThreads() }, icon("arrow-left"), " All threads")) : null;
    body().replaceChildren(...(back ? [back] : []), log, form);
    this.composer = new Composer(form, {
      target: () => ({ conversation: page.root.conversation, threadRoot: rootId, alsoInChannel: () => alsoSend.checked }),
      socket: this.socket,
      onEditLast: () => {
        const mine = thread.ids.map((id) => thread.byId.get(id)).filter((m) => m.author === state.me.id && !m.deleted);
        return mine[mine.length - 1] || null;
      },
    });
    this.composer.loadDraft();
    this.renderThread();
    this.composer.focus();
  }

  renderThread() {
    if (this.kind !== "thread") return;
    const thread = state.threads.get(this.threadRoot);
    const list = document.getElementById("thread-list");
    if (!thread || !list) return;
    const items = [renderMessage(thread.root, { inThread: true })];
    items[0].classList.add("thread-root");
    const count = thread.ids.length;
    items.push(el("li", { class: "reply-count-line" }, `${count} ${count === 1 ? "reply" : "replies"}`));
    let previous = null;
    for (const id of thread.ids) {
      const message = thread.byId.get(id);
      items.push(renderMessage(message, { inThread: true, grouped: continues(previous, message) }));
      previous = message;
    }
    for (const pending of this.socket.pending(thread.root.conversation, this.threadRoot)) {
      items.push(renderMessage({ ...pending, pending: true, failed: pending.status === "failed", author: state.me.id, created_at: new Date().toISOString() }, { inThread: true }));
    }
    this.threadKeys.draw(items);
    list.lastElementChild?.scrollIntoView({ block: "end" });
    if (!document.hidden) this.markThreadRead();
  }

  // The open thread's replies are seen: read to the newest (if I follow it).
  markThreadRead = debounce(() => {
    const rootId = this.threadRoot;
    if (this.kind !== "thread" || !rootId || !state.unreadThreads.has(rootId)) return;
    post(`messages/${rootId}/thread-read/`, {}).catch(() => {});
  }, 300);

  // --- Threads I follow ---

  async openThreads() {
    this.kind = "threads";
    this.showPanel("Threads");
    let page;
    try {
      page = await get("me/threads/?limit=50");
    } catch (error) {
      body().replaceChildren(el("p", { class: "search-error", role: "alert" }, error.message));
      return;
    }
    if (this.kind !== "threads") return; // moved on meanwhile
    if (!page.results.length) {
      body().replaceChildren(el("p", { class: "empty-state" },
        "No threads yet. Threads you start, reply in or are mentioned in show up here."));
      return;
    }
    body().replaceChildren(el("ol", { class: "thread-items", "aria-label": "Threads you follow" },
      page.results.map((item) => this.threadItem(item))));
  }

  threadItem(item) {
    const conversation = state.conversations.get(item.conversation);
    const unread = item.unread_replies;
    const node = el("li", { class: `thread-item${unread ? " unread" : ""}`, dataset: { root: item.root } },
      el("div", { class: "thread-item-head" },
        el("a", { href: `#/c/${item.conversation}/m/${item.root}`, class: "result-detail" },
          conversation ? conversationName(conversation) : "Conversation"),
        unread ? el("span", { class: "badge thread-unread" }, unread === 1 ? "1 new reply" : `${unread} new replies`) : null),
      el("ol", { class: "message-list" }, renderMessage(item.message, { inThread: true }),
        item.latest_reply ? renderMessage(item.latest_reply, { inThread: true }) : null),
      el("div", { class: "saved-tools" },
        el("span", { class: "result-detail" }, `${item.reply_count} ${item.reply_count === 1 ? "reply" : "replies"}`),
        el("button", { type: "button", class: "secondary", onclick: () => this.openThread(item.root, { fromThreads: true }) }, "Open and reply"),
        el("button", { type: "button", class: "secondary", onclick: () => this.unfollow(item.root) }, "Unfollow")));
    return node;
  }

  async unfollow(rootId) {
    try { await put(`messages/${rootId}/follow/`, { following: false }); } catch (error) { emit("toast", { text: error.message }); }
  }

  // thread.updated: the Threads view follows; an open thread is read as it grows.
  threadChanged(frame) {
    if (this.kind === "threads") this.refreshThreads();
    else if (this.kind === "thread" && this.threadRoot === frame.root && frame.unread_replies && !document.hidden) {
      this.markThreadRead();
    }
  }

  refreshThreads = debounce(() => { if (this.kind === "threads") this.openThreads(); }, 200);

  // --- Profile ---

  async openProfile(userId) {
    this.kind = "profile";
    this.showPanel("Profile");
    const user = state.users.get(userId) || (await get(`users/${userId}/`));
    const presence = state.presence.get(userId);
    const picture = avatar(userId);
    body().replaceChildren(el("div", { class: "profile-card" }, picture,
      el("h3", {}, user.display_name), user.full_name ? el("p", {}, user.full_name) : null,
      user.title ? el("p", {}, user.title) : null,
      el("p", {}, el("span", { class: "presence-dot", dataset: { status: presence?.status || "offline" }, "aria-hidden": "true" }), " ",
        presence?.status || "offline", user.status_text ? ` · ${user.status_emoji || ""} ${user.status_text}` : ""),
      el("p", {}, `Local time: ${new Date().toLocaleTimeString([], { timeZone: user.timezone, hour: "2-digit", minute: "2-digit" })} (${user.timezone})`),
      el("p", {}, el("a", { href: `mailto:${user.email}` }, user.email)),
      user.is_bot ? el("p", {}, "Bot") : null,
      userId !== state.me.id ? el("button", { type: "button", class: "primary", onclick: () => emit("open-direct", { userId }) }, "Message") : null));
    this.socket.watchPresence([userId]);
  }

  // --- Members ---

  async openMembers(conversation) {
    this.kind = "members";
    this.showPanel(`Members of ${conversationName(conversation)}`);
    const members = await getAll(`conversations/${conversation.id}/members/?limit=200`);
    const ids = new Set(members.map((member) => member.user));
    const manage = conversation.kind !== "direct" && (["owner", "admin"].includes(state.me.role) || conversation.membership?.role === "admin");
    const rows = members.map((member) => el("div", { class: "member-row" }, avatar(member.user, true),
      el("button", { type: "button", class: "link-button member-name", onclick: () => this.openProfile(member.user) }, member.display_name),
      member.role === "admin" ? el("span", { class: "result-detail" }, "channel admin") : null,
      member.is_guest ? el("span", { class: "result-detail" }, "guest") : null,
      manage && member.user !== state.me.id ? iconButton(`Remove ${member.display_name}`, "x", { onclick: async () => {
        try { await del(`conversations/${conversation.id}/members/${member.user}/`); this.openMembers(conversation); } catch (error) { emit("toast", { text: error.message }); }
      } }) : null));
    const canAdd = conversation.kind !== "direct" && conversation.is_member && state.me.role !== "guest" && !conversation.archived;
    body().replaceChildren(el("div", { class: "panel-section" },
      canAdd ? el("button", { type: "button", class: "secondary", onclick: () => addMembersDialog(conversation, ids) }, "Add people") : null,
      ...rows));
    this.socket.watchPresence([...ids]);
  }

  // --- Search ---

  async openSearch(query, page = 1) {
    this.kind = "search";
    this.showPanel("Search");
    const section = el("div", { class: "panel-section" }, el("p", { class: "result-detail" }, `Searching for “${query}”…`));
    if (page === 1) body().replaceChildren(section);
    let result;
    try {
      result = await get(`search/messages/?q=${encodeURIComponent(query)}&page=${page}&limit=20`);
    } catch (error) {
      body().replaceChildren(el("div", { class: "panel-section" }, el("p", { class: "search-error", role: "alert" }, error.message),
        el("details", { class: "search-help-details", open: true }, el("summary", {}, "What you can type"), syntaxHelp())));
      return;
    }
    const items = result.results.map(searchResult);
    const list = page === 1 ? el("ol", { class: "search-results", "aria-label": `Results for ${query}` }) : body().querySelector(".search-results");
    body().querySelector(".load-more")?.remove();
    list.append(...items);
    if (page === 1) {
      const summary = el("p", { class: "result-detail", role: "status" },
        result.results.length ? `Results for “${query}”` : `Nothing found for “${query}”.`);
      body().replaceChildren(el("div", { class: "panel-section" }, summary), list);
      const sealed = searchOpened(query);
      if (sealed.length) {
        // The server cannot search end-to-end encrypted conversations: these come from
        // the messages this browser has loaded and decrypted.
        body().append(el("div", { class: "panel-section e2ee-search" },
          el("p", { class: "result-detail" }, icon("lock"), " In encrypted conversations (searched in this browser, loaded messages only)"),
          el("ol", { class: "search-results" }, sealed.map(({ message, text }) => el("li", { class: "search-result" },
            el("a", { href: `#/c/${message.conversation}/m/${message.id}`, class: "search-link" },
              el("span", { class: "result-detail" }, `${userName(message.author)} · ${new Date(message.created_at).toLocaleString()}`),
              el("div", { class: "search-snippet" }, text.slice(0, 200))))))));
      }
    }
    if (result.has_more) {
      body().append(el("div", { class: "panel-section load-more" },
        el("button", { type: "button", class: "secondary", onclick: () => this.openSearch(query, page + 1) }, "More results")));
    }
  }

  // --- Activity: mentions, replies, reactions ---

  async openActivity(kind = "") {
    this.kind = "activity";
    this.activityKind = kind;
    this.showPanel("Activity");
    let page;
    try {
      page = await get(`me/activity/?limit=50${kind ? `&kind=${kind}` : ""}`);
    } catch (error) {
      body().replaceChildren(el("p", { class: "search-error", role: "alert" }, error.message));
      return;
    }
    if (this.kind !== "activity" || this.activityKind !== kind) return; // moved on meanwhile
    const tabs = el("div", { class: "panel-tabs", role: "tablist", "aria-label": "Activity" },
      [["", "All"], ["mention", "Mentions"], ["reply", "Replies"], ["reaction", "Reactions"]].map(([key, label]) => el("button", {
        type: "button", role: "tab", class: "panel-tab", "aria-selected": String(key === kind),
        onclick: () => this.openActivity(key),
      }, label)));
    const list = page.results.length
      ? el("ol", { class: "thread-items activity-items", "aria-label": "Activity" }, page.results.map((item) => this.activityItem(item)))
      : el("p", { class: "empty-state" }, "Nothing yet. Mentions of you, replies to your threads and reactions to your messages show up here.");
    body().replaceChildren(tabs, list);
    // Looked at: reactions until now are read (mentions and replies, where they were written).
    if (page.results.some((item) => item.kind === "reaction" && item.unread)) post("me/activity/seen/").catch(() => {});
  }

  activityItem(item) {
    const conversation = state.conversations.get(item.conversation);
    const where = conversation ? conversationName(conversation) : "a conversation";
    const who = userName(item.user);
    const what = item.kind === "mention" ? `${who} mentioned ${item.mention_kind === "group" ? "your group" : "you"} in ${where}`
      : item.kind === "reply" ? `${who} replied to your thread in ${where}` : `${who} reacted ${item.emoji} to your message in ${where}`;
    const root = item.message.thread_root;
    const open = () => {
      if (root) this.openThread(root);
      else location.hash = `#/c/${item.conversation}/m/${item.message.id}`;
    };
    return el("li", { class: `thread-item activity-item${item.unread ? " unread" : ""}`, dataset: { kind: item.kind, id: item.id } },
      el("div", { class: "thread-item-head" },
        el("button", { type: "button", class: "link-button activity-what", onclick: open }, what),
        item.unread ? el("span", { class: "badge activity-unread" }, "new") : null),
      el("ol", { class: "message-list" }, renderMessage(item.message, { inThread: true })));
  }

  activityChanged(frame) {
    // Something new: the open view shows it. (Seen: the marks stay until it is reopened.)
    if (frame.type === "activity.new" && this.kind === "activity") this.refreshActivity();
  }

  refreshActivity = debounce(() => { if (this.kind === "activity") this.openActivity(this.activityKind); }, 300);

  // --- Saved for later ---

  async openSaved(which = "open") {
    this.kind = "saved";
    this.savedState = which;
    this.showPanel("Saved for later");
    let items;
    try {
      items = (await get(`me/saved/?state=${which}`)).results;
    } catch (error) {
      body().replaceChildren(el("p", { class: "search-error", role: "alert" }, error.message));
      return;
    }
    if (this.kind !== "saved" || this.savedState !== which) return; // moved on meanwhile
    const tabs = el("div", { class: "panel-tabs", role: "tablist", "aria-label": "Saved for later" },
      [["open", "In progress"], ["done", "Done"]].map(([key, label]) => el("button", {
        type: "button", role: "tab", class: "panel-tab", "aria-selected": String(key === which),
        onclick: () => this.openSaved(key),
      }, label)));
    const list = items.length
      ? el("ol", { class: "message-list saved-list", "aria-label": which === "open" ? "Saved, in progress" : "Saved, done" },
        items.map((item) => {
          const node = renderMessage(item, { inThread: true });
          const conversation = state.conversations.get(item.conversation);
          node.append(el("div", { class: "saved-tools" },
            el("a", { href: `#/c/${item.conversation}/m/${item.id}`, class: "result-detail" },
              conversation ? conversationName(conversation) : "Open"),
            el("button", { type: "button", class: "secondary", onclick: () => this.savedDone(item, which === "open") },
              which === "open" ? "Done" : "Not done"),
            el("button", { type: "button", class: "secondary", onclick: () => remindDialog(item) }, "Remind me"),
            el("button", { type: "button", class: "secondary", onclick: () => this.savedRemove(item) }, "Remove")));
          return node;
        }))
      : el("p", { class: "empty-state" }, which === "open"
        ? "Nothing saved for later. Choose Save for later on a message." : "Nothing marked done yet.");
    body().replaceChildren(tabs, list);
  }

  async savedDone(item, done) {
    try { await patch(`messages/${item.id}/save/`, { done }); } catch (error) { emit("toast", { text: error.message }); }
  }

  async savedRemove(item) {
    try { await del(`messages/${item.id}/save/`); } catch (error) { emit("toast", { text: error.message }); }
  }

  savedChanged() {
    // saved.updated, from this browser or another of the person's: the list follows.
    if (this.kind === "saved") this.openSaved(this.savedState);
  }

  // --- Later: scheduled messages and reminders ---

  async openLater(which = "pending") {
    this.kind = "later";
    this.laterState = which;
    this.showPanel("Scheduled and reminders");
    let items;
    try {
      items = which === "reminders" ? (await get("me/reminders/")).results : (await get(`me/scheduled/?state=${which}`)).results;
    } catch (error) {
      body().replaceChildren(el("p", { class: "search-error", role: "alert" }, error.message));
      return;
    }
    if (this.kind !== "later" || this.laterState !== which) return; // moved on meanwhile
    const tabs = el("div", { class: "panel-tabs", role: "tablist", "aria-label": "Scheduled and reminders" },
      [["pending", "Scheduled"], ["failed", "Not sent"], ["sent", "Sent"], ["reminders", "Reminders"]].map(([key, label]) => el("button", {
        type: "button", role: "tab", class: "panel-tab", "aria-selected": String(key === which), onclick: () => this.openLater(key),
      }, label)));
    const where = (id) => { const conversation = state.conversations.get(id); return conversation ? conversationName(conversation) : "a conversation"; };
    let list;
    if (!items.length) {
      list = el("p", { class: "empty-state" }, {
        pending: "Nothing scheduled. Write a message, then choose Schedule message beside Send.",
        failed: "Every scheduled message went out.", sent: "No scheduled message was sent yet.",
        reminders: "No reminders. Choose Remind me on a message.",
      }[which]);
    } else if (which === "reminders") {
      list = el("ol", { class: "message-list later-list", "aria-label": "Reminders" }, items.map((item) => {
        const node = renderMessage(item.message, { inThread: true });
        node.append(el("div", { class: "saved-tools" },
          el("a", { href: `#/c/${item.conversation}/m/${item.message_id}`, class: "result-detail" }, `${where(item.conversation)} · `, icon("alarm"), ` ${showTime(item.remind_at)}`),
          el("button", { type: "button", class: "secondary", onclick: () => remindDialog(item.message) }, "Change"),
          el("button", { type: "button", class: "secondary", onclick: () => this.laterAct(() => del(`me/reminders/${item.id}/`)) }, "Cancel reminder")));
        return node;
      }));
    } else {
      list = el("ol", { class: "later-list", "aria-label": { pending: "Scheduled messages", failed: "Not sent", sent: "Sent" }[which] },
        items.map((item) => el("li", { class: "later-item", dataset: { scheduled: item.id } },
          el("p", { class: "result-detail" }, `${where(item.conversation)} · ${which === "pending" ? "sends" : "was due"} ${showTime(item.send_at)}`),
          el("p", { class: "later-text" }, item.text),
          item.failure_reason ? el("p", { class: "search-error" }, item.failure_reason) : null,
          el("div", { class: "saved-tools" },
            which === "pending" ? el("button", { type: "button", class: "secondary", onclick: () => editScheduledDialog(item) }, "Edit") : null,
            which === "pending" ? el("button", { type: "button", class: "secondary", onclick: async () => {
              if (await confirmDialog({ title: "Cancel this scheduled message?", text: "It will not be sent.", confirm: "Cancel it" })) this.laterAct(() => del(`me/scheduled/${item.id}/`));
            } }, "Cancel") : null,
            which === "failed" ? el("button", { type: "button", class: "secondary", onclick: () => scheduleDialog({
              conversation: item.conversation, threadRoot: item.thread_root, text: item.text, onScheduled: () => this.openLater("pending") }) }, "Schedule again") : null,
            which === "sent" && item.message ? el("a", { href: `#/c/${item.conversation}/m/${item.message}` }, "Open") : null))));
    }
    body().replaceChildren(tabs, list);
  }

  async laterAct(request) {
    try { await request(); } catch (error) { emit("toast", { text: error.message }); }
  }

  laterChanged() {
    // scheduled.updated or reminder.updated, from this browser or another: the list follows.
    if (this.kind === "later") this.openLater(this.laterState);
  }

  // --- Pins ---

  async openPins(conversation) {
    this.kind = "pins";
    this.showPanel("Pinned messages");
    const pins = (await get(`conversations/${conversation.id}/pins/`)).results;
    body().replaceChildren(pins.length ? el("ol", { class: "message-list" }, pins.map((message) => renderMessage(message, { inThread: true })))
      : el("p", { class: "empty-state" }, "Nothing is pinned here yet."));
  }
}
