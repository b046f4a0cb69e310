// Dialogs: create a channel, start a conversation, browse channels, jump to, settings,
// conversation settings, and confirmations.

import { ApiError, del, get, patch, post, put } from "./api.js";
import { el } from "./format.js";
import { icon, iconButton } from "./icons.js";
import { pushDisable, pushEnable, pushOn, pushSupported } from "./pwa.js";
import { conversationName, emit, state } from "./store.js";

const dialog = () => document.getElementById("dialog");
let opener = null;

function show(children, { onClose } = {}) {
  const node = dialog();
  // A dialog opened from a dialog takes its place, and gives focus back where the first was opened.
  if (!node.open) opener = document.activeElement;
  node.replaceChildren(...children);
  node.onclose = () => { node.replaceChildren(); if (onClose) onClose(); if (opener && opener.focus) opener.focus(); };
  if (!node.open) node.showModal();
  const first = node.querySelector("[autofocus], input, select, textarea, button");
  if (first) first.focus();
}

export function closeDialog() {
  if (dialog().open) dialog().close();
}

function errorLine() {
  return el("p", { class: "error", role: "alert", hidden: true });
}

function showError(line, error) {
  line.hidden = false;
  line.textContent = error instanceof ApiError ? error.message : String(error);
}

function actions(...buttons) {
  return el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: closeDialog }, "Cancel"), ...buttons);
}

// --- Create a channel ---

const e2eeAllowed = () => ["allowed", "required"].includes(state.organisation.e2ee_policy);

// What a new conversation's dialog says of end-to-end encryption, by the organisation's
// policy: nothing where the choice is offered, a line where it is off or decided already.
function encryptionHint(kind) {
  const policy = state.organisation.e2ee_policy;
  if (policy === "off") {
    return el("p", { class: "result-detail encryption-hint" }, "End-to-end encryption is off in this organisation. ",
      ["owner", "admin"].includes(state.me.role)
        ? el("a", { href: "/console/settings/" }, "Turn it on in the console")
        : "An admin can turn it on in the console.");
  }
  if (policy === "required" && kind === "direct") {
    return el("p", { class: "result-detail encryption-hint" }, "This conversation will be end-to-end encrypted: your organisation requires it.");
  }
  return null;
}

export function createChannelDialog() {
  const name = el("input", { type: "text", name: "name", required: true, maxlength: "80", autofocus: true, placeholder: "e.g. product-launch", pattern: "[a-z0-9][a-z0-9_-]*" });
  const topic = el("input", { type: "text", name: "topic", maxlength: "250" });
  const kind = el("input", { type: "checkbox", name: "private" });
  const encrypted = el("input", { type: "checkbox", name: "encrypted", id: "channel-encrypted" });
  const error = errorLine();
  const form = el("form", { method: "dialog", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const conversation = await post("conversations/", { kind: kind.checked || encrypted.checked ? "private" : "public", name: name.value.trim().toLowerCase(), topic: topic.value,
        ...(encrypted.checked ? { encrypted: true } : {}) });
      emit("conversation-added", { conversation });
      closeDialog();
      location.hash = `#/c/${conversation.id}`;
    } catch (err) {
      showError(error, err);
    }
  } },
  el("h2", { id: "dialog-title" }, "Create a channel"),
  el("label", {}, "Name", name),
  el("label", {}, "Topic (optional)", topic),
  el("label", { class: "inline" }, kind, "Make it private: only invited people can see it"),
  e2eeAllowed() ? el("label", { class: "inline" }, encrypted, "End-to-end encrypted (private; the server cannot read or search it)") : encryptionHint("channel"),
  error, actions(el("button", { type: "submit", class: "primary" }, "Create")));
  show([form]);
}

// --- Start a direct conversation ---

export function newDirectDialog() {
  const chosen = new Map();
  const search = el("input", { type: "search", autofocus: true, placeholder: "Find people by name", "aria-label": "Find people" });
  const chips = el("div", { class: "chips", "aria-live": "polite" });
  const results = el("ul", { class: "results", role: "listbox", "aria-label": "People" });
  const error = errorLine();
  const encrypted = el("input", { type: "checkbox", name: "encrypted", id: "direct-encrypted" });
  const draw = () => {
    chips.replaceChildren(...[...chosen.values()].map((user) => el("span", { class: "chip" }, user.display_name,
      iconButton(`Remove ${user.display_name}`, "x", { onclick: () => { chosen.delete(user.id); draw(); } }))));
    const needle = search.value.trim().toLowerCase();
    const people = [...state.users.values()].filter((user) => user.id !== state.me.id && user.is_active && !chosen.has(user.id)
      && (!needle || user.display_name.toLowerCase().includes(needle) || user.email.toLowerCase().includes(needle))).slice(0, 30);
    results.replaceChildren(...people.map((user) => el("li", {}, el("button", { type: "button", role: "option", onclick: () => {
      if (chosen.size >= 8) { showError(error, "A direct conversation has at most 9 people."); return; }
      chosen.set(user.id, user); search.value = ""; draw(); search.focus();
    } }, user.display_name, el("span", { class: "result-detail" }, user.title || user.email)))));
  };
  search.addEventListener("input", draw);
  const form = el("form", { method: "dialog", onsubmit: async (event) => {
    event.preventDefault();
    if (!chosen.size) { showError(error, "Choose at least one person."); return; }
    try {
      const conversation = await post("conversations/", { kind: "direct", members: [...chosen.keys()], ...(encrypted.checked ? { encrypted: true } : {}) });
      emit("conversation-added", { conversation });
      closeDialog();
      location.hash = `#/c/${conversation.id}`;
    } catch (err) {
      showError(error, err);
    }
  } },
  el("h2", { id: "dialog-title" }, "Start a conversation"), search, chips, results,
  // Under the "required" policy every direct conversation is encrypted anyway.
  state.organisation.e2ee_policy === "allowed" ? el("label", { class: "inline" }, encrypted, "End-to-end encrypted") : encryptionHint("direct"), error,
  actions(el("button", { type: "submit", class: "primary" }, "Start")));
  show([form]);
  draw();
}

// --- Whom a call in a large channel rings ---

// Calls connect everyone to everyone, so a channel with more members than a call holds
// rings only the people chosen here (the others can join it from the header). Resolves
// with their ids, or null when cancelled.
export function callInviteDialog({ conversation, members, max, media }) {
  return new Promise((resolve) => {
    let answer = null;
    const chosen = new Set();
    const search = el("input", { type: "search", autofocus: true, placeholder: "Find people", "aria-label": "Find people to ring" });
    const count = el("p", { class: "hint", id: "call-invite-count", "aria-live": "polite" });
    const list = el("ul", { class: "results call-invite-list" });
    const error = errorLine();
    const draw = () => {
      const needle = search.value.trim().toLowerCase();
      count.textContent = `${chosen.size} of at most ${max} chosen. Everyone else in #${conversation.name} can join the call once it is going on.`;
      list.replaceChildren(...members.filter((member) => chosen.has(member.user) || !needle
        || member.display_name.toLowerCase().includes(needle)).slice(0, 50).map((member) => {
        const box = el("input", { type: "checkbox", value: String(member.user), checked: chosen.has(member.user),
          disabled: !chosen.has(member.user) && chosen.size >= max,
          onchange: () => { if (box.checked) chosen.add(member.user); else chosen.delete(member.user); draw(); } });
        return el("li", {}, el("label", { class: "inline" }, box, member.display_name));
      }));
    };
    search.addEventListener("input", draw);
    const kind = media === "video" ? "video call" : "audio call";
    const form = el("form", { method: "dialog", onsubmit: (event) => {
      event.preventDefault();
      if (!chosen.size) { showError(error, "Choose at least one person to ring."); return; }
      answer = [...chosen];
      closeDialog();
    } },
    el("h2", { id: "dialog-title" }, `Whom should the ${kind} ring?`), search, count, list, error,
    actions(el("button", { type: "submit", class: "primary" }, "Ring")));
    show([form], { onClose: () => resolve(answer) });
    draw();
  });
}

// --- Browse channels ---

export async function browseChannelsDialog() {
  const search = el("input", { type: "search", autofocus: true, placeholder: "Search channels", "aria-label": "Search channels" });
  const results = el("ul", { class: "results", "aria-label": "Channels" });
  const draw = async () => {
    const page = await get(`conversations/directory/?limit=100&q=${encodeURIComponent(search.value.trim())}`);
    results.replaceChildren(...page.results.map((channel) => el("li", {}, el("button", { type: "button", onclick: () => {
      emit("conversation-added", { conversation: channel });
      closeDialog();
      location.hash = `#/c/${channel.id}`;
    } }, channel.kind === "private" ? icon("lock") : el("span", { "aria-hidden": "true" }, "#"), channel.name,
    el("span", { class: "result-detail" }, `${channel.member_count} member${channel.member_count === 1 ? "" : "s"}${channel.is_member ? " · joined" : ""}${channel.topic ? ` · ${channel.topic}` : ""}`)))));
    if (!page.results.length) results.replaceChildren(el("li", { class: "empty-state" }, "No channels match."));
  };
  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(draw, 200); });
  show([el("div", { class: "dialog-body" }, el("h2", { id: "dialog-title" }, "Browse channels"), search, results,
    el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: closeDialog }, "Close")))]);
  await draw();
}

// --- Jump to a conversation (Ctrl+K) ---

export function quickSwitcher() {
  const search = el("input", { type: "search", autofocus: true, placeholder: "Jump to a conversation", "aria-label": "Jump to a conversation",
    role: "combobox", "aria-controls": "switcher-results", "aria-expanded": "true" });
  const results = el("ul", { class: "results", id: "switcher-results", role: "listbox", "aria-label": "Conversations" });
  let matches = [];
  let selected = 0;
  const go = (conversation) => { closeDialog(); location.hash = `#/c/${conversation.id}`; };
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    matches = [...state.conversations.values()].filter((c) => c.is_member && conversationName(c).toLowerCase().includes(needle))
      .sort((a, b) => (b.unread_count || 0) - (a.unread_count || 0) || conversationName(a).localeCompare(conversationName(b))).slice(0, 12);
    selected = Math.min(selected, Math.max(0, matches.length - 1));
    results.replaceChildren(...matches.map((conversation, index) => el("li", {}, el("button", {
      type: "button", role: "option", id: `switch-${index}`, "aria-selected": index === selected ? "true" : "false", onclick: () => go(conversation),
    }, conversation.kind === "direct" ? "@" : "#", conversationName(conversation),
    conversation.unread_count ? el("span", { class: "result-detail" }, `${conversation.unread_count} unread`) : null))));
    search.setAttribute("aria-activedescendant", matches.length ? `switch-${selected}` : "");
  };
  search.addEventListener("input", () => { selected = 0; draw(); });
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") { event.preventDefault(); selected = (selected + 1) % Math.max(1, matches.length); draw(); }
    if (event.key === "ArrowUp") { event.preventDefault(); selected = (selected - 1 + matches.length) % Math.max(1, matches.length); draw(); }
    if (event.key === "Enter" && matches[selected]) { event.preventDefault(); go(matches[selected]); }
  });
  show([el("div", { class: "dialog-body" }, el("h2", { id: "dialog-title" }, "Jump to"), search, results)]);
  draw();
}

// --- Confirm ---

export function confirmDialog({ title, text, confirm, danger = true }) {
  return new Promise((resolve) => {
    let answered = false;
    const answer = (value) => { answered = true; resolve(value); closeDialog(); };
    show([el("div", { class: "dialog-body" }, el("h2", { id: "dialog-title" }, title), el("p", {}, text),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "secondary", onclick: () => answer(false) }, "Cancel"),
        el("button", { type: "button", class: danger ? "danger-button" : "primary", autofocus: true, onclick: () => answer(true) }, confirm)))],
    { onClose: () => { if (!answered) resolve(false); } });
  });
}

// --- Conversation settings ---

export function conversationSettingsDialog(conversation) {
  const error = errorLine();
  const fields = [];
  const isChannel = conversation.kind !== "direct";
  const manage = isChannel && (["owner", "admin"].includes(state.me.role) || conversation.membership?.role === "admin");
  const name = el("input", { type: "text", value: conversation.name, maxlength: "80", disabled: !manage });
  const topic = el("input", { type: "text", value: conversation.topic, maxlength: "250" });
  const purpose = el("input", { type: "text", value: conversation.purpose, maxlength: "250" });
  if (isChannel) fields.push(el("label", {}, "Name", name), el("label", {}, "Topic", topic), el("label", {}, "Purpose", purpose));
  // Owners and admins choose the public channels new people join.
  const orgAdmin = ["owner", "admin"].includes(state.me.role);
  const isDefault = el("input", { type: "checkbox", checked: Boolean(conversation.default) });
  if (orgAdmin && conversation.kind === "public" && !conversation.archived) {
    fields.push(el("label", { class: "inline" }, isDefault, "New people join this channel when they arrive"));
  }
  const level = el("select", {}, ...[["default", "Follow my default"], ["all", "All messages"], ["mentions", "Mentions only"], ["nothing", "Nothing"]]
    .map(([value, label]) => el("option", { value, selected: conversation.membership?.notification_level === value }, label)));
  const muted = el("input", { type: "checkbox", checked: conversation.membership?.muted });
  const starred = el("input", { type: "checkbox", checked: conversation.membership?.starred });
  if (conversation.is_member) {
    fields.push(el("label", {}, "Notify me about", level), el("label", { class: "inline" }, muted, "Mute this conversation"),
      el("label", { class: "inline" }, starred, "Star it in the sidebar"));
  }
  const extra = [];
  if (conversation.is_member && isChannel) {
    extra.push(el("button", { type: "button", class: "danger-button", onclick: async () => {
      if (!await confirmDialog({ title: `Leave #${conversation.name}?`, text: conversation.kind === "private" ? "You will need an invitation to come back." : "You can join again any time.", confirm: "Leave" })) return;
      try { await post(`conversations/${conversation.id}/leave/`); emit("left-conversation", { id: conversation.id }); } catch (err) { emit("toast", { text: err.message }); }
    } }, "Leave channel"));
  }
  if (manage) {
    extra.push(el("button", { type: "button", class: "danger-button", onclick: async () => {
      try { await patch(`conversations/${conversation.id}/`, { archived: !conversation.archived }); closeDialog(); } catch (err) { showError(error, err); }
    } }, conversation.archived ? "Unarchive" : "Archive channel"));
  }
  const form = el("form", { method: "dialog", onsubmit: async (event) => {
    event.preventDefault();
    try {
      if (isChannel) {
        const changes = {};
        if (manage && name.value.trim() !== conversation.name) changes.name = name.value.trim();
        if (topic.value !== conversation.topic) changes.topic = topic.value;
        if (purpose.value !== conversation.purpose) changes.purpose = purpose.value;
        if (orgAdmin && conversation.kind === "public" && isDefault.checked !== Boolean(conversation.default)) changes.default = isDefault.checked;
        if (Object.keys(changes).length) await patch(`conversations/${conversation.id}/`, changes);
      }
      if (conversation.is_member) {
        const updated = await patch(`conversations/${conversation.id}/preferences/`, { notification_level: level.value, muted: muted.checked, starred: starred.checked });
        emit("conversation-updated", { conversation: updated });
      }
      closeDialog();
    } catch (err) {
      showError(error, err);
    }
  } }, el("h2", { id: "dialog-title" }, isChannel ? `#${conversation.name}` : conversationName(conversation)), ...fields, error,
  extra.length ? el("div", { class: "actions" }, ...extra) : null, actions(el("button", { type: "submit", class: "primary" }, "Save")));
  show([form]);
}

// --- Add people to a channel ---

export function addMembersDialog(conversation, memberIds) {
  const search = el("input", { type: "search", autofocus: true, placeholder: "Find people", "aria-label": "Find people to add" });
  const results = el("ul", { class: "results" });
  const error = errorLine();
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const people = [...state.users.values()].filter((user) => user.is_active && !memberIds.has(user.id)
      && (!needle || user.display_name.toLowerCase().includes(needle))).slice(0, 30);
    results.replaceChildren(...people.map((user) => el("li", {}, el("button", { type: "button", onclick: async () => {
      try { await post(`conversations/${conversation.id}/members/`, { user: user.id }); memberIds.add(user.id); emit("toast", { text: `${user.display_name} added.` }); draw(); } catch (err) { showError(error, err); }
    } }, user.display_name, el("span", { class: "result-detail" }, user.title || user.email)))));
  };
  search.addEventListener("input", draw);
  show([el("div", { class: "dialog-body" }, el("h2", { id: "dialog-title" }, `Add people to #${conversation.name}`), search, results, error,
    el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: closeDialog }, "Done")))]);
  draw();
}

// --- Settings: profile, status, notifications, appearance, API tokens ---

const THEME_KEY = "teamchat.theme";
export const NOTIFY_KEY = "teamchat.desktopNotifications";

export function applyTheme() {
  const choice = localStorage.getItem(THEME_KEY) || "system";
  const dark = choice === "dark" || (choice === "system" && matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

function profileTab(error) {
  const me = state.me;
  const inputs = {
    display_name: el("input", { type: "text", value: me.display_name, maxlength: "80", required: true }),
    full_name: el("input", { type: "text", value: me.full_name, maxlength: "150" }),
    title: el("input", { type: "text", value: me.title, maxlength: "100" }),
    timezone: el("input", { type: "text", value: me.timezone, maxlength: "64" }),
  };
  const receipts = el("input", { type: "checkbox", checked: me.share_read_receipts !== false });
  const avatarInput = el("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp" });
  avatarInput.addEventListener("change", async () => {
    if (!avatarInput.files.length) return;
    const form = new FormData();
    form.append("avatar", avatarInput.files[0]);
    try { const updated = await put("me/avatar/", form); emit("me-updated", { me: updated }); emit("toast", { text: "Avatar updated." }); } catch (err) { showError(error, err); }
  });
  return el("form", { onsubmit: async (event) => {
    event.preventDefault();
    try {
      const body = Object.fromEntries(Object.entries(inputs).map(([key, input]) => [key, input.value]));
      body.share_read_receipts = receipts.checked;
      const updated = await patch("me/", body);
      emit("me-updated", { me: updated });
      emit("toast", { text: "Profile saved." });
    } catch (err) { showError(error, err); }
  } },
  el("label", {}, "Display name", inputs.display_name), el("label", {}, "Full name", inputs.full_name),
  el("label", {}, "Title", inputs.title), el("label", {}, "Time zone (e.g. Europe/Paris)", inputs.timezone),
  el("label", {}, "Avatar", avatarInput),
  el("label", { class: "inline" }, receipts, "Share read receipts (others see when you have read their messages; off, you see no one's)"),
  el("p", {}, el("a", { href: "/accounts/password/change/" }, "Change your password")),
  el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Save profile")));
}

function statusTab(error) {
  const me = state.me;
  const text = el("input", { type: "text", value: me.status_text, maxlength: "100", placeholder: "What's your status?" });
  const emoji = el("input", { type: "text", value: me.status_emoji, maxlength: "32", placeholder: "📅" });
  const mode = el("select", {}, el("option", { value: "auto" }, "Automatic"), el("option", { value: "away" }, "Away"),
    el("option", { value: "dnd" }, "Do not disturb"));
  const until = el("select", {}, ...[["30", "30 minutes"], ["60", "1 hour"], ["120", "2 hours"], ["tomorrow", "Until tomorrow 9:00"], ["custom", "Until…"]]
    .map(([value, label]) => el("option", { value }, label)));
  const clearAfter = el("select", {}, ...[["never", "Don't clear"], ["30", "30 minutes"], ["60", "1 hour"], ["240", "4 hours"],
    ["today", "Today"], ["week", "This week"]].map(([value, label]) => el("option", { value }, label)));
  const custom = el("input", { type: "datetime-local", hidden: true, "aria-label": "Do not disturb until" });
  until.addEventListener("change", () => { custom.hidden = until.value !== "custom"; });
  const untilRow = el("label", { hidden: true }, "For", until, custom);
  mode.addEventListener("change", () => { untilRow.hidden = mode.value !== "dnd"; });
  return el("form", { onsubmit: async (event) => {
    event.preventDefault();
    let dndUntil = null;
    if (mode.value === "dnd") {
      if (until.value === "custom") dndUntil = custom.value ? new Date(custom.value) : null;
      else if (until.value === "tomorrow") { dndUntil = new Date(); dndUntil.setDate(dndUntil.getDate() + 1); dndUntil.setHours(9, 0, 0, 0); }
      else dndUntil = new Date(Date.now() + Number(until.value) * 60000);
    }
    let expires = null;
    if (clearAfter.value === "today") { expires = new Date(); expires.setHours(23, 59, 0, 0); }
    else if (clearAfter.value === "week") { expires = new Date(); expires.setDate(expires.getDate() + ((7 - expires.getDay()) % 7)); expires.setHours(23, 59, 0, 0); }
    else if (clearAfter.value !== "never") expires = new Date(Date.now() + Number(clearAfter.value) * 60000);
    if (expires && expires <= new Date()) expires = new Date(Date.now() + 60000);
    try {
      const presence = await put("me/presence/", { status: mode.value, status_text: text.value, status_emoji: emoji.value,
        ...(dndUntil ? { dnd_until: dndUntil.toISOString() } : {}),
        ...(expires && (text.value || emoji.value) ? { status_expires_at: expires.toISOString() } : {}) });
      Object.assign(state.me, { status_text: presence.status_text, status_emoji: presence.status_emoji });
      emit("presence-frame", { type: "presence", ...presence });
      emit("toast", { text: "Status saved." });
    } catch (err) { showError(error, err); }
  } },
  el("label", {}, "Status", text), el("label", {}, "Status emoji", emoji), el("label", {}, "Clear status after", clearAfter),
  el("label", {}, "Presence", mode), untilRow,
  el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Save status")));
}

function notificationsTab(error) {
  const me = state.me;
  const level = el("select", {}, ...[["all", "All messages"], ["mentions", "Mentions and direct messages"], ["nothing", "Nothing"]]
    .map(([value, label]) => el("option", { value, selected: me.notify_default === value }, label)));
  const emailOn = el("input", { type: "checkbox", checked: me.email_notifications });
  const digest = el("input", { type: "checkbox", checked: me.daily_digest });
  const quietFrom = el("input", { type: "time", value: (me.quiet_hours_start || "").slice(0, 5), "aria-label": "Quiet hours start" });
  const quietTo = el("input", { type: "time", value: (me.quiet_hours_end || "").slice(0, 5), "aria-label": "Quiet hours end" });
  const desktop = el("input", { type: "checkbox", checked: localStorage.getItem(NOTIFY_KEY) === "on" && window.Notification?.permission === "granted" });
  const note = el("p", { class: "result-detail" });
  const describe = () => {
    if (!("Notification" in window)) note.textContent = "This browser cannot show desktop notifications.";
    else if (Notification.permission === "denied") note.textContent = "Desktop notifications are blocked for this site in your browser settings.";
    else note.textContent = "Shown while this tab is in the background, following the choices above, never for muted conversations or during do-not-disturb and quiet hours.";
  };
  desktop.addEventListener("change", async () => {
    if (desktop.checked && window.Notification && Notification.permission !== "granted") {
      if (await Notification.requestPermission() !== "granted") desktop.checked = false;
    }
    localStorage.setItem(NOTIFY_KEY, desktop.checked ? "on" : "off");
    describe();
  });
  describe();
  // Push: notifications on this device also while teamchat is closed (docs/notifications.md).
  const pushBox = el("input", { type: "checkbox", id: "push-notifications", checked: pushOn(), disabled: !pushSupported() });
  const pushNote = el("p", { class: "result-detail", id: "push-note" },
    pushSupported() ? "Also when teamchat is closed, on this device: mentions, direct messages and what you follow, as for email." : "This browser cannot receive push notifications.");
  pushBox.addEventListener("change", async () => {
    pushBox.disabled = true;
    try {
      if (pushBox.checked) { await pushEnable(); pushNote.textContent = "Push notifications are on for this device."; }
      else { await pushDisable(); pushNote.textContent = "Push notifications are off for this device."; }
    } catch (err) {
      pushBox.checked = false;
      pushNote.textContent = err.message;
    } finally { pushBox.disabled = false; }
  });
  const preview = el("select", { id: "notification-preview" }, ...[["full", "Sender and text"], ["sender", "Sender only"], ["none", "Nothing, only that a message came"]]
    .map(([value, label]) => el("option", { value, selected: (me.notification_preview || "full") === value }, label)));
  return el("form", { onsubmit: async (event) => {
    event.preventDefault();
    try {
      const saved = await patch("me/notifications/", {
        notify_default: level.value, email_notifications: emailOn.checked, daily_digest: digest.checked,
        quiet_hours_start: quietFrom.value || null, quiet_hours_end: quietTo.value || null,
        notification_preview: preview.value,
      });
      Object.assign(state.me, saved);
      emit("toast", { text: "Notification settings saved." });
    } catch (err) { showError(error, err); }
  } },
  el("label", {}, "Notify me about", level),
  el("label", { class: "inline" }, emailOn, "Email me about mentions and direct messages I have not read"),
  el("label", { class: "inline" }, digest, "Send me a daily digest of busy channels"),
  el("fieldset", {}, el("legend", {}, "Quiet hours (no email, no desktop or push notifications)"), el("label", { class: "inline" }, "From", quietFrom, "to", quietTo)),
  el("label", { class: "inline" }, desktop, "Desktop notifications in this browser"), note,
  el("label", { class: "inline" }, pushBox, "Push notifications on this device"), pushNote,
  el("label", {}, "Push notifications show", preview),
  el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Save")));
}

function appearanceTab() {
  const current = localStorage.getItem(THEME_KEY) || "system";
  const radios = ["system", "light", "dark"].map((value) => el("label", { class: "inline" },
    el("input", { type: "radio", name: "theme", value, checked: value === current, onchange: () => { localStorage.setItem(THEME_KEY, value); applyTheme(); } }),
    value === "system" ? "Match my system" : value === "light" ? "Light" : "Dark"));
  return el("fieldset", {}, el("legend", {}, "Theme"), ...radios);
}

function tokensTab(error) {
  const list = el("ul", { class: "results", "aria-label": "Your API tokens" });
  const secret = el("div", { hidden: true, role: "status" });
  const name = el("input", { type: "text", placeholder: "What is it for?", maxlength: "100", "aria-label": "Token name" });
  const draw = async () => {
    const tokens = (await get("me/tokens/")).results;
    list.replaceChildren(...tokens.map((token) => el("li", {}, el("div", { class: "result" }, el("span", {}, token.name),
      el("span", { class: "result-detail" }, `${token.prefix}… · last used ${token.last_used_at ? new Date(token.last_used_at).toLocaleString() : "never"}`),
      el("button", { type: "button", class: "danger-button", "aria-label": `Revoke ${token.name}`, onclick: async () => { await del(`me/tokens/${token.id}/`); draw(); } }, "Revoke")))));
    if (!tokens.length) list.replaceChildren(el("li", { class: "empty-state" }, "No tokens yet."));
  };
  draw();
  return el("form", { onsubmit: async (event) => {
    event.preventDefault();
    try {
      const token = await post("me/tokens/", { name: name.value });
      secret.hidden = false;
      secret.replaceChildren(el("p", {}, "Copy your new token now; it will not be shown again:"), el("div", { class: "token-secret" }, token.token));
      name.value = "";
      draw();
    } catch (err) { showError(error, err); }
  } }, el("p", {}, "Programs use a token as Authorization: Bearer <token>. See the API reference at ", el("a", { href: "/api/docs/" }, "/api/docs/"), "."),
  list, secret, el("label", {}, "New token", name), el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Create token")));
}

export function settingsDialog(initialTab = "profile") {
  const error = errorLine();
  const tabs = { profile: ["Profile", profileTab], status: ["Status", statusTab], notifications: ["Notifications", notificationsTab],
    appearance: ["Appearance", appearanceTab], tokens: ["API tokens", tokensTab] };
  const body = el("div", { class: "dialog-body", role: "tabpanel", id: "settings-panel" });
  const bar = el("div", { class: "tabs", role: "tablist", "aria-label": "Settings" });
  const select = (key) => {
    for (const button of bar.children) button.setAttribute("aria-selected", String(button.dataset.tab === key));
    error.hidden = true;
    body.replaceChildren(tabs[key][1](error), error);
    body.setAttribute("aria-labelledby", `tab-${key}`);
  };
  for (const [key, [label]] of Object.entries(tabs)) {
    bar.append(el("button", { type: "button", role: "tab", id: `tab-${key}`, dataset: { tab: key }, "aria-controls": "settings-panel", onclick: () => select(key) }, label));
  }
  const console = ["owner", "admin", "compliance"].includes(state.me.role)
    ? el("a", { href: "/console/", class: "secondary" }, "Compliance console") : null;
  show([el("div", { class: "dialog-body" }, el("h2", { id: "dialog-title" }, "Settings")), bar, body,
    el("div", { class: "dialog-body" }, el("div", { class: "actions" }, console,
      el("form", { method: "post", action: "/accounts/logout/", class: "inline-form" }, el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || "" }),
        el("button", { type: "submit", class: "secondary" }, "Sign out")),
      el("button", { type: "button", class: "secondary", onclick: () => emit("open-shortcuts") },
        icon("keyboard"), " Keyboard shortcuts"),
      el("button", { type: "button", class: "primary", onclick: closeDialog }, "Close")))]);
  select(initialTab);
}


// For the dialogs of other modules (later.js): the same dialog element and habits.
export { actions as dialogActions, errorLine, show as showDialog, showError };
