// The keyboard: a message list is one Tab stop with roving focus (the arrows move between
// messages, ←/→ through the focused message's controls, letters act on it), and the
// dialog listing every shortcut (? or Settings → Keyboard shortcuts).

import { closeDialog, showDialog } from "./dialogs.js";
import { el } from "./format.js";

// Keys on a focused message, each pressing the toolbar button with that data-action
// (so a key can do only what the toolbar offers this person on this message).
export const MESSAGE_KEYS = [
  [["r", "Enter"], "reply", "Reply in thread"],
  [["e"], "edit", "Edit your message"],
  [["+"], "react", "Add a reaction"],
  [["p"], "pin", "Pin or unpin"],
  [["s"], "save", "Save for later"],
  [["t"], "remind", "Remind me about it"],
  [["m"], "unread", "Mark unread from here"],
  [["c"], "link", "Copy a link to it"],
  [["Delete", "Backspace"], "delete", "Delete it (asks first)"],
];
const ACTION_FOR = new Map(MESSAGE_KEYS.flatMap(([keys, action]) => keys.map((key) => [key, action])));
const CONTROLS = "a[href], button, input, select, textarea, video[controls], audio[controls], [tabindex]";
const PAGE = 10;

export function isTyping(target) {
  return Boolean(target.closest?.("input, textarea, select, [contenteditable]"));
}

// Roving focus over the `.message` items of one list (the timeline, a thread). Exactly
// one message is in the Tab order: the last one focused, else the newest; nothing
// inside a message is, so Tab crosses the whole list in one stop.
export class MessageKeys {
  constructor(list, { older = null } = {}) {
    this.list = list;
    this.older = older;     // loads earlier messages when ↑ passes the top (or null)
    this.activeId = null;
    list.addEventListener("focusin", (event) => {
      const message = event.target.closest(".message");
      if (message && this.list.contains(message)) this.activate(message);
    });
    list.addEventListener("keydown", (event) => this.keydown(event));
  }

  messages() {
    return [...this.list.querySelectorAll(":scope > .message")];
  }

  // Replace the list's items, keeping the keyboard focus on the same message, and on the
  // same control in it (known by its file or its name) when one had it.
  draw(items) {
    const active = document.activeElement;
    const message = this.list.contains(active) ? active.closest(".message") : null;
    let control = null;
    if (message && active !== message) {
      if (active.dataset.fileId) control = `[data-file-id="${CSS.escape(active.dataset.fileId)}"]`;
      else if (active.getAttribute("aria-label")) control = `[aria-label="${CSS.escape(active.getAttribute("aria-label"))}"]`;
    }
    this.list.replaceChildren(...items);
    this.sync();
    const again = message && message.id && document.getElementById(message.id);
    const target = again && control ? again.querySelector(control) || again : again;
    if (target) target.focus({ preventScroll: true });
  }

  sync() {
    const messages = this.messages();
    const active = messages.find((message) => message.id === this.activeId) || messages[messages.length - 1];
    for (const message of messages) {
      message.tabIndex = message === active ? 0 : -1;
      for (const control of message.querySelectorAll(CONTROLS)) control.tabIndex = -1;
    }
  }

  activate(message) {
    if (this.activeId === message.id) return;
    this.activeId = message.id;
    this.sync();
  }

  focus(message, options = {}) {
    if (!message) return;
    this.activate(message);
    message.focus(options);
  }

  async keydown(event) {
    const message = event.target.closest(".message");
    if (!message || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    const onMessage = event.target === message;
    const messages = this.messages();
    const index = messages.indexOf(message);
    const go = (target) => { event.preventDefault(); event.stopPropagation(); this.focus(target); };
    switch (event.key) {
      case "ArrowDown": go(messages[index + 1] || message); return;
      case "ArrowUp":
        if (index > 0 || !this.older) { go(messages[Math.max(0, index - 1)]); return; }
        event.preventDefault();
        await this.older();
        this.focus(this.messages()[Math.max(0, this.messages().findIndex((node) => node.id === message.id) - 1)]);
        return;
      case "PageDown": go(messages[Math.min(messages.length - 1, index + PAGE)]); return;
      case "PageUp": go(messages[Math.max(0, index - PAGE)]); return;
      case "Home": if (onMessage) go(messages[0]); return;
      case "End": if (onMessage) go(messages[messages.length - 1]); return;
      case "ArrowRight": case "ArrowLeft": {
        const controls = [...message.querySelectorAll(CONTROLS)].filter((node) => node.checkVisibility());
        const at = onMessage ? (event.key === "ArrowRight" ? -1 : controls.length) : controls.indexOf(event.target);
        const next = at + (event.key === "ArrowRight" ? 1 : -1);
        if (next >= 0 && next < controls.length) { event.preventDefault(); controls[next].focus(); }
        else if (next < 0 && !onMessage) go(message);
        return;
      }
      case "Escape": if (!onMessage) go(message); return;
      default: break;
    }
    const action = onMessage && ACTION_FOR.get(event.key);
    const button = action && message.querySelector(`.message-actions [data-action="${action}"]`);
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    button.click();
  }
}

// --- The shortcuts dialog ---

// Each row: its key combinations (any one of them), and what they do.
const SHORTCUTS = [
  ["Anywhere", [
    [[["Ctrl", "K"]], "Jump to a conversation"],
    [[["Alt", "↑"], ["Alt", "↓"]], "Previous or next conversation"],
    [[["Alt", "Shift", "↑"], ["Alt", "Shift", "↓"]], "Previous or next unread conversation"],
    [[["?"]], "Show these shortcuts (when not typing)"],
    [[["Esc"]], "Close the dialog, menu or side panel"],
  ]],
  ["Messages (the list is one Tab stop)", [
    [[["↑"], ["↓"]], "Previous or next message (↑ at the top loads older ones)"],
    [[["Home"], ["End"]], "First or last loaded message"],
    [[["Page Up"], ["Page Down"]], "Ten messages up or down"],
    [[["→"], ["←"]], "Through the focused message's buttons and links"],
    [[["Esc"]], "From a button back to its message"],
    ...MESSAGE_KEYS.map(([keys, , label]) => [keys.map((key) => [key]), label]),
  ]],
  ["Writing", [
    [[["Enter"]], "Send"],
    [[["Shift", "Enter"]], "New line"],
    [[["↑"]], "Edit your last message (in an empty message box)"],
    [[["Esc"]], "Cancel editing"],
    [[["↑"], ["↓"]], "Choose among suggestions (Enter or Tab takes one, Esc closes them)"],
  ]],
];

function combination(keys) {
  return keys.flatMap((key, index) => (index ? ["+", el("kbd", {}, key)] : [el("kbd", {}, key)]));
}

export function shortcutsDialog() {
  showDialog([el("div", { class: "dialog-body shortcuts" },
    el("h2", { id: "dialog-title" }, "Keyboard shortcuts"),
    ...SHORTCUTS.map(([title, rows]) => el("section", {},
      el("h3", {}, title),
      el("dl", {}, rows.flatMap(([combinations, label]) => [
        el("dt", {}, combinations.flatMap((keys, index) => (index ? [" or ", ...combination(keys)] : combination(keys)))),
        el("dd", {}, label)])))),
    el("div", { class: "actions" }, el("button", { type: "button", class: "primary", onclick: closeDialog }, "Close")))]);
}
