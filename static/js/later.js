// Later: scheduled messages ("send at" on the composer) and reminders ("remind me about
// this message"). Times the person picks are their profile's time zone, sent without an
// offset so the server reads them in that zone too; a reminder that comes due is shown
// on the page and, where the browser allows it, as a desktop notification.

import { patch, post } from "./api.js";
import { closeDialog, dialogActions, errorLine, showDialog, showError } from "./dialogs.js";
import { el, plainText } from "./format.js";
import { emit, state, userName } from "./store.js";

const zone = () => state.me.timezone || "UTC";

// The wall-clock parts of a moment in the person's time zone.
function parts(date) {
  const found = {};
  for (const { type, value } of new Intl.DateTimeFormat("en-CA", {
    timeZone: zone(), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(date)) found[type] = value;
  return found;
}

// "YYYY-MM-DDTHH:MM" in the person's time zone: what a datetime-local input holds.
export function localValue(date) {
  const p = parts(date);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

// A day from today (1: tomorrow) at a time of day, in the person's time zone.
export function dayAt(daysAhead, hour, minute = 0) {
  const p = parts(new Date());
  const day = new Date(Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day) + daysAhead));
  const pad = (n) => String(n).padStart(2, "0");
  return `${day.getUTCFullYear()}-${pad(day.getUTCMonth() + 1)}-${pad(day.getUTCDate())}T${pad(hour)}:${pad(minute)}`;
}

// The next Monday (never today) at a time of day.
function mondayAt(hour) {
  const p = parts(new Date());
  const weekday = new Date(Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day))).getUTCDay();
  return dayAt(((8 - weekday) % 7) || 7, hour);
}

export function showTime(iso) {
  return new Intl.DateTimeFormat(undefined, { timeZone: zone(), weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })
    .format(new Date(iso));
}

function choice(name, value, label, checked = false) {
  const id = `${name}-${Math.random().toString(36).slice(2, 8)}`;
  return el("div", { class: "later-choice" },
    el("input", { type: "radio", name, value, id, checked }), el("label", { for: id }, label));
}

// A group of presets and "at a chosen time" with a datetime-local input; `read()` gives
// {in_minutes} or {at: "YYYY-MM-DDTHH:MM"}, or null when the chosen time is missing.
function whenPicker(name, presets, legend) {
  const picked = el("input", { type: "datetime-local", id: `${name}-at`, min: localValue(new Date()),
    value: localValue(new Date(Date.now() + 60 * 60 * 1000)).slice(0, 14) + "00", step: "60" });
  const fieldset = el("fieldset", { class: "later-when" }, el("legend", {}, legend),
    presets.map(([value, label], index) => choice(name, value, label, index === 0)),
    choice(name, "at", "At a chosen time"),
    el("label", { for: `${name}-at`, class: "later-at" }, `Date and time (${zone()})`), picked);
  for (const kind of ["focus", "input"]) picked.addEventListener(kind, () => { fieldset.querySelector("input[value=at]").checked = true; });
  return {
    node: fieldset,
    picked,
    read() {
      const value = fieldset.querySelector(`input[name=${name}]:checked`)?.value;
      if (value === "at") return picked.value ? { at: picked.value } : null;
      if (value.startsWith("in:")) return { in_minutes: Number(value.slice(3)) };
      return { at: value };
    },
  };
}

// --- Scheduling a message ---

export function scheduleDialog({ conversation, threadRoot, text, onScheduled }) {
  // Later today only while it is still ahead.
  const today = dayAt(0, 13) > localValue(new Date()) ? [[dayAt(0, 13), "Today at 13:00"]] : [];
  const when = whenPicker("send", [[dayAt(1, 9), "Tomorrow at 9:00"], [mondayAt(9), "Monday at 9:00"], ...today], "Send at");
  const error = errorLine();
  const form = el("form", { method: "dialog", class: "later-form", onsubmit: async (event) => {
    event.preventDefault();
    const chosen = when.read();
    if (!chosen) { showError(error, "Pick a date and time."); return; }
    try {
      const scheduled = await post("me/scheduled/", { conversation, text, send_at: chosen.at, ...(threadRoot ? { thread_root: threadRoot } : {}) });
      closeDialog();
      emit("toast", { text: `Scheduled for ${showTime(scheduled.send_at)}.` });
      onScheduled(scheduled);
    } catch (err) {
      showError(error, err);
    }
  } },
  el("h2", { id: "dialog-title" }, "Schedule message"),
  el("p", { class: "later-preview" }, text.length > 200 ? `${text.slice(0, 200)}…` : text),
  when.node, error, dialogActions(el("button", { type: "submit", class: "primary" }, "Schedule")));
  showDialog([form]);
}

export function editScheduledDialog(item) {
  const text = el("textarea", { id: "scheduled-text", rows: "4", required: true }, item.text);
  const at = el("input", { type: "datetime-local", id: "scheduled-at", step: "60", value: localValue(new Date(item.send_at)), min: localValue(new Date()) });
  const error = errorLine();
  const form = el("form", { method: "dialog", class: "later-form", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await patch(`me/scheduled/${item.id}/`, { text: text.value, send_at: at.value });
      closeDialog();
    } catch (err) {
      showError(error, err);
    }
  } },
  el("h2", { id: "dialog-title" }, "Edit scheduled message"),
  el("label", { for: "scheduled-text" }, "Message"), text,
  el("label", { for: "scheduled-at" }, `Send at (${zone()})`), at,
  error, dialogActions(el("button", { type: "submit", class: "primary" }, "Save")));
  showDialog([form]);
}

// --- Reminders ---

export function remindDialog(message) {
  const when = whenPicker("remind", [["in:20", "In 20 minutes"], ["in:60", "In 1 hour"], [dayAt(1, 9), "Tomorrow at 9:00"]], "Remind me");
  const error = errorLine();
  const form = el("form", { method: "dialog", class: "later-form", onsubmit: async (event) => {
    event.preventDefault();
    const chosen = when.read();
    if (!chosen) { showError(error, "Pick a date and time."); return; }
    try {
      const reminder = await post("me/reminders/", { message: message.id, ...(chosen.at ? { remind_at: chosen.at } : chosen) });
      closeDialog();
      emit("toast", { text: `I will remind you ${showTime(reminder.remind_at)}.` });
    } catch (err) {
      showError(error, err);
    }
  } },
  el("h2", { id: "dialog-title" }, "Remind me about this message"),
  el("p", { class: "later-preview" }, `${userName(message.author)}: ${plainText(message.html || "").slice(0, 200)}`),
  when.node, error, dialogActions(el("button", { type: "submit", class: "primary" }, "Set reminder")));
  showDialog([form]);
}

// --- Notices: what came due, on the page until dismissed, and on the desktop ---

export function notice({ title, text, href, tag }) {
  const region = document.getElementById("notices");
  const close = () => item.remove();
  const item = el("div", { class: "notice", role: "alert" },
    el("strong", { class: "notice-title" }, title), el("p", { class: "notice-text" }, text),
    el("div", { class: "notice-tools" },
      href ? el("a", { href, class: "secondary", onclick: close }, "Open") : null,
      el("button", { type: "button", class: "secondary", onclick: close }, "Dismiss")));
  region.append(item);
  if (window.Notification && Notification.permission === "granted") {
    const desktop = new Notification(title, { body: text.slice(0, 200), tag });
    desktop.onclick = () => { window.focus(); if (href) location.hash = href; desktop.close(); };
  }
  return item;
}

export function reminderDue(frame) {
  const { reminder } = frame;
  const message = reminder.message;
  const text = message.encrypted ? "An encrypted message" : plainText(message.html);
  notice({ title: `⏰ Reminder: ${userName(message.author)} in ${frame.conversation_name}`, text,
    href: `#/c/${message.conversation}/m/${message.id}`, tag: `teamchat-reminder-${reminder.id}` });
}

export function scheduledFailed(frame) {
  const { scheduled } = frame;
  notice({ title: "Your scheduled message was not sent", text: `${scheduled.failure_reason} “${scheduled.text.slice(0, 120)}”`,
    href: null, tag: `teamchat-scheduled-${scheduled.id}` });
}
