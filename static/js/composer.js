// The message box: Markdown with preview, @mention, #channel and :emoji: completion,
// Enter to send, Shift+Enter for a new line, Up to edit your last message, a draft per
// conversation and thread (kept on the server, so it follows the person to their other
// browsers; in this browser only for an end-to-end encrypted conversation), typing
// signals and file attachments with progress.

import { del, get, patch, post, put, upload } from "./api.js";
import { editSealed, isEncrypted, openedText, sealUpload, sendSealed } from "./e2ee.js";
import { loadEmoji, openEmojiPicker, searchEmoji } from "./emoji.js";
import { scheduleDialog } from "./later.js";
import { loadMarkdown, renderMarkdown } from "./markdown.js";
import { debounce, el, fileSize, uuid } from "./format.js";
import { iconButton } from "./icons.js";
import { emit, state } from "./store.js";

const DRAFT_PREFIX = "teamchat.draft.";
let commandList = null;

function loadCommands() {
  if (!commandList) commandList = get("commands/").then((data) => data.results).catch(() => []);
  return commandList;
}
const TYPING_EVERY_MS = 2500;

export class Composer {
  // `form` holds the elements; `target()` says where messages go: {conversation, threadRoot}.
  constructor(form, { target, socket, onEditLast }) {
    this.form = form;
    this.input = form.querySelector("textarea");
    this.preview = form.querySelector(".composer-preview");
    this.previewButton = form.querySelector("[data-role=preview]") || form.querySelector("#preview-button");
    this.menu = form.querySelector(".autocomplete");
    this.modeBar = form.querySelector(".composer-mode");
    this.uploadList = form.querySelector(".upload-list");
    this.fileInput = form.querySelector("input[type=file]");
    this.target = target;
    this.socket = socket;
    this.onEditLast = onEditLast;
    this.editing = null;
    this.uploads = [];
    this.suggestions = [];
    this.selected = 0;
    this.lastTyping = 0;
    this.saveDraft = debounce(() => this.storeDraft(), 300);
    this.bind();
  }

  draftKey() {
    const { conversation, threadRoot } = this.target();
    return `${DRAFT_PREFIX}${state.me.id}.${conversation}${threadRoot ? `.${threadRoot}` : ""}`;
  }

  serverKey() {
    const { conversation, threadRoot } = this.target();
    return `${conversation}.${threadRoot || 0}`;
  }

  storeDraft() {
    if (this.editing) return;
    const value = this.input.value;
    const { conversation, threadRoot } = this.target();
    if (isEncrypted(conversation)) {
      if (value.trim()) localStorage.setItem(this.draftKey(), value);
      else localStorage.removeItem(this.draftKey());
      return;
    }
    const key = this.serverKey();
    if (!value.trim()) return this.forgetDraft();
    if (state.drafts.get(key) === value) return;
    state.drafts.set(key, value);
    this.syncDraft(() => put(`conversations/${conversation}/draft/`, { text: value, thread_root: threadRoot || null, origin: state.tab }));
  }

  syncDraft(request) {
    // One at a time, in order: a clear never overtakes the keep before it.
    this.draftSync = (this.draftSync || Promise.resolve()).then(request)
      .catch((error) => console.warn("syncing the draft failed", error));
  }

  forgetDraft() {
    // Sent or emptied: gone here and from the person's other browsers.
    localStorage.removeItem(this.draftKey());
    const key = this.serverKey();
    if (!state.drafts.has(key)) return;
    state.drafts.delete(key);
    const { conversation, threadRoot } = this.target();
    this.syncDraft(() => del(`conversations/${conversation}/draft/?origin=${state.tab}${threadRoot ? `&thread_root=${threadRoot}` : ""}`));
  }

  savedDraft() {
    const { conversation } = this.target();
    return isEncrypted(conversation) ? localStorage.getItem(this.draftKey()) || "" : state.drafts.get(this.serverKey()) || "";
  }

  loadDraft() {
    this.cancelEdit(false);
    this.input.value = this.savedDraft();
    this.resize();
    this.clearUploads();
  }

  draftArrived(key, text) {
    // Another browser of this person kept (or cleared) a draft: show it here unless
    // this box is being typed in.
    if (this.editing || key !== this.serverKey() || this.input.value === (text || "")) return;
    if (document.activeElement === this.input && this.input.value.trim()) return;
    this.input.value = text || "";
    this.resize();
  }

  bind() {
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.input.addEventListener("keydown", (event) => this.keydown(event));
    this.input.addEventListener("input", () => {
      this.resize();
      this.saveDraft();
      this.complete();
      this.signalTyping();
      if (!this.preview.hidden) this.renderPreview();
    });
    this.input.addEventListener("blur", () => setTimeout(() => this.closeMenu(), 150));
    const cancel = this.form.querySelector("[data-role=cancel]") || this.form.querySelector("#composer-cancel");
    if (cancel) cancel.addEventListener("click", () => this.cancelEdit(true));
    if (this.previewButton) this.previewButton.addEventListener("click", () => this.togglePreview());
    const emojiButton = this.form.querySelector("[data-role=emoji]") || this.form.querySelector("#emoji-button");
    if (emojiButton) emojiButton.addEventListener("click", () => openEmojiPicker(emojiButton, (emoji) => this.insert(emoji)));
    const schedule = this.form.querySelector("[data-role=schedule]") || this.form.querySelector("#schedule-button");
    if (schedule) schedule.addEventListener("click", () => this.schedule());
    const attach = this.form.querySelector("[data-role=attach]") || this.form.querySelector("#attach-button");
    if (attach && this.fileInput) {
      attach.addEventListener("click", () => this.fileInput.click());
      this.fileInput.addEventListener("change", () => { this.addFiles([...this.fileInput.files]); this.fileInput.value = ""; });
    }
    this.form.addEventListener("dragover", (event) => { if (event.dataTransfer?.types.includes("Files")) { event.preventDefault(); this.form.classList.add("dragging"); } });
    this.form.addEventListener("dragleave", () => this.form.classList.remove("dragging"));
    this.form.addEventListener("drop", (event) => {
      this.form.classList.remove("dragging");
      if (event.dataTransfer?.files.length) { event.preventDefault(); this.addFiles([...event.dataTransfer.files]); }
    });
    this.input.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (files.length) { event.preventDefault(); this.addFiles(files); }
    });
  }

  resize() {
    // Empty, the box is its natural one line: no measuring (which makes the browser lay
    // the whole page out there and then, on every conversation opened).
    if (!this.input.value) { this.input.style.height = ""; return; }
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, innerHeight * 0.4)}px`;
  }

  focus() {
    this.input.focus();
  }

  insert(text) {
    const { selectionStart: start, selectionEnd: end, value } = this.input;
    this.input.value = value.slice(0, start) + text + value.slice(end);
    this.input.selectionStart = this.input.selectionEnd = start + text.length;
    this.input.focus();
    this.input.dispatchEvent(new Event("input"));
  }

  keydown(event) {
    if (!this.menu.hidden && this.suggestions.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        this.selected = (this.selected + step + this.suggestions.length) % this.suggestions.length;
        this.drawMenu();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        this.accept(this.suggestions[this.selected]);
        return;
      }
      if (event.key === "Escape") { event.preventDefault(); this.closeMenu(); return; }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.submit();
    } else if (event.key === "Escape" && this.editing) {
      event.preventDefault();
      this.cancelEdit(true);
    } else if (event.key === "ArrowUp" && !this.input.value && !this.editing) {
      const message = this.onEditLast();
      if (message) { event.preventDefault(); this.startEdit(message); }
    }
  }

  signalTyping() {
    const now = Date.now();
    if (this.editing || !this.input.value.trim() || now - this.lastTyping < TYPING_EVERY_MS) return;
    this.lastTyping = now;
    const { conversation, threadRoot } = this.target();
    this.socket.typing(conversation, threadRoot);
  }

  // --- Sending and editing ---

  async submit() {
    const text = this.input.value;
    if (this.editing) return this.saveEdit(text);
    const { conversation, threadRoot, alsoInChannel } = this.target();
    if (this.uploads.some((item) => item.state === "uploading")) {
      emit("toast", { text: "Wait for the uploads to finish." });
      return;
    }
    const files = this.uploads.filter((item) => item.state === "done").map((item) => item.file.id);
    if (!text.trim() && !files.length) return;
    // Slash commands run on the server, which must never see an encrypted conversation's text.
    const command = !files.length && !isEncrypted(conversation) && text.match(/^\/([a-z0-9][a-z0-9_-]{0,31})(?:\s+([\s\S]*))?$/i);
    if (command) {
      this.input.value = "";
      this.resize();
      this.forgetDraft();
      try {
        const result = await post(`conversations/${conversation}/commands/`, {
          command: command[1].toLowerCase(), text: command[2] || "", ...(threadRoot ? { thread_root: threadRoot } : {}),
        });
        if (result.text && result.response_type === "ephemeral") emit("ephemeral", { conversation, text: result.text });
      } catch (error) {
        emit("toast", { text: error.message });
        this.input.value = text;
      }
      return;
    }
    this.input.value = "";
    this.resize();
    this.forgetDraft();
    this.closeMenu();
    if (!this.preview.hidden) this.togglePreview();
    const clientMsgId = uuid();
    const alsoIn = Boolean(alsoInChannel && alsoInChannel());
    if (isEncrypted(conversation)) {
      // End-to-end encrypted: sealed when sent, over REST with the encrypted files' ids;
      // through the outbox like any message, but kept in memory only (deliver).
      const sealedFiles = this.uploads.filter((item) => item.state === "done").map((item) => ({ id: item.file.id, meta: { id: item.file.id, ...item.sealedMeta } }));
      this.clearUploads();
      this.socket.queue({ client_msg_id: clientMsgId, conversation, text, thread_root: threadRoot || null, also_in_channel: alsoIn,
        files: sealedFiles.map((file) => ({ id: file.id, name: file.meta.name || "file" })),
        deliver: () => sendSealed({ conversation, threadRoot, alsoInChannel: alsoIn, text, files: sealedFiles, clientMsgId }) });
      return;
    }
    // Through the outbox, files (uploaded already: their ids travel) and replies alike:
    // kept until the server acknowledges, sent again after a reconnect.
    const uploaded = this.uploads.filter((item) => item.state === "done")
      .map((item) => ({ id: item.file.id, name: item.file.name || item.local.name }));
    this.clearUploads();
    this.socket.queue({ client_msg_id: clientMsgId, conversation, text, thread_root: threadRoot || null,
      also_in_channel: alsoIn, files: uploaded });
  }

  // "Send at": the text goes to the server to be sent at the chosen minute; the box
  // empties (and the draft with it) once it is scheduled.
  schedule() {
    const text = this.input.value;
    const { conversation, threadRoot } = this.target();
    if (this.editing) return;
    if (!text.trim()) { emit("toast", { text: "Write the message first, then schedule it." }); return; }
    if (this.uploads.length) { emit("toast", { text: "Messages with files cannot be scheduled; send them now." }); return; }
    scheduleDialog({ conversation, threadRoot, text, onScheduled: () => {
      if (this.input.value !== text) return;
      this.input.value = "";
      this.resize();
      this.forgetDraft();
    } });
  }

  startEdit(message) {
    this.storeDraft();
    this.editing = message;
    this.input.value = message.encrypted ? openedText(message) : message.text;
    this.modeBar.hidden = false;
    this.resize();
    this.input.focus();
  }

  cancelEdit(restoreDraft) {
    if (!this.editing) return;
    this.editing = null;
    this.modeBar.hidden = true;
    this.input.value = restoreDraft ? this.savedDraft() : "";
    this.resize();
  }

  async saveEdit(text) {
    const message = this.editing;
    if (!text.trim()) {
      emit("delete-message", { message });
      this.cancelEdit(true);
      return;
    }
    try {
      if (message.encrypted) await editSealed(message, text);
      else await patch(`messages/${message.id}/`, { text });
      this.cancelEdit(true);
    } catch (error) {
      emit("toast", { text: error.message });
    }
  }

  // --- Preview ---

  async togglePreview() {
    this.preview.hidden = !this.preview.hidden;
    if (this.previewButton) this.previewButton.setAttribute("aria-pressed", String(!this.preview.hidden));
    if (!this.preview.hidden) await this.renderPreview();
  }

  renderPreview = debounce(async () => {
    const text = this.input.value;
    if (!text.trim()) { this.preview.textContent = "Nothing to preview."; return; }
    if (isEncrypted(this.target().conversation)) {
      // Never sent to the server: rendered here, as the people who open it will see it.
      await loadMarkdown();
      this.preview.classList.add("message-body");
      this.preview.replaceChildren(el("p", { class: "result-detail" }, "Previewed in your browser; the server never sees this text."),
        renderMarkdown(text));
      return;
    }
    try {
      const { html } = await post("messages/preview/", { text, conversation: this.target().conversation });
      this.preview.innerHTML = html; // sanitised by the server, like every message
      this.preview.classList.add("message-body");
    } catch (error) {
      this.preview.textContent = error.message;
    }
  }, 200);

  // --- Autocomplete: @people, #channels, :emoji: ---

  complete() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const slash = before.match(/^\/([a-z0-9_-]{0,32})$/i);
    if (slash) {
      this.trigger = { sigil: "/", start: 0 };
      loadCommands().then((commands) => {
        this.suggestions = commands.filter((c) => c.command.startsWith(slash[1].toLowerCase())).slice(0, 8)
          .map((c) => ({ label: `/${c.command} ${c.usage}`.trim(), detail: c.description, insert: `/${c.command} ` }));
        this.selected = 0;
        this.drawMenu();
      });
      return;
    }
    const match = before.match(/(^|\s)([@#:])([^\s@#:]{0,40})$/);
    if (!match) { this.closeMenu(); return; }
    const [, , sigil, query] = match;
    this.trigger = { sigil, start: this.input.selectionStart - query.length - 1 };
    const needle = query.toLowerCase();
    if (sigil === "@") this.suggestions = this.people(needle);
    else if (sigil === "#") this.suggestions = this.channels(needle);
    else if (query.length >= 2) {
      loadEmoji().then(() => {
        this.suggestions = searchEmoji(needle).map((entry) => ({ label: `:${entry.names[0]}:`, symbol: entry.character, insert: entry.character }));
        this.selected = 0;
        this.drawMenu();
      });
      return;
    } else this.suggestions = [];
    this.selected = 0;
    this.drawMenu();
  }

  people(needle) {
    const conversation = state.conversations.get(this.target().conversation);
    const members = new Set(conversation?.members || []);
    const specials = ["here", "channel"].filter((word) => word.startsWith(needle) && conversation?.kind !== "direct")
      .map((word) => ({ label: `@${word}`, detail: word === "here" ? "Notify everyone active" : "Notify everyone in this channel", insert: `@${word} ` }));
    const people = [...state.users.values()]
      .filter((user) => user.is_active && (user.display_name.toLowerCase().includes(needle) || user.email.toLowerCase().startsWith(needle)))
      .sort((a, b) => (members.has(b.id) - members.has(a.id)) || a.display_name.localeCompare(b.display_name))
      .slice(0, 8)
      .map((user) => ({ label: user.display_name, detail: user.title || user.email, insert: `@**${user.display_name}** ` }));
    return [...people, ...specials];
  }

  channels(needle) {
    return [...state.conversations.values()]
      .filter((conversation) => conversation.kind !== "direct" && conversation.name.includes(needle))
      .slice(0, 8)
      .map((conversation) => ({ label: `#${conversation.name}`, detail: conversation.topic, insert: `#${conversation.name} ` }));
  }

  drawMenu() {
    if (!this.suggestions.length) { this.closeMenu(); return; }
    this.menu.hidden = false;
    this.menu.replaceChildren(...this.suggestions.map((item, index) => el("li", {
      role: "option", id: `suggestion-${index}`, "aria-selected": index === this.selected ? "true" : "false",
      onmousedown: (event) => { event.preventDefault(); this.accept(item); },
    }, item.symbol ? el("span", { "aria-hidden": "true" }, item.symbol) : null, el("span", {}, item.label),
    item.detail ? el("span", { class: "detail" }, item.detail) : null)));
    this.input.setAttribute("aria-activedescendant", `suggestion-${this.selected}`);
  }

  accept(item) {
    const { start } = this.trigger;
    const value = this.input.value;
    const end = this.input.selectionStart;
    this.input.value = value.slice(0, start) + item.insert + value.slice(end);
    this.input.selectionStart = this.input.selectionEnd = start + item.insert.length;
    this.closeMenu();
    this.input.focus();
    this.saveDraft();
  }

  closeMenu() {
    this.menu.hidden = true;
    this.suggestions = [];
    this.input.removeAttribute("aria-activedescendant");
  }

  // --- Attachments ---

  addFiles(files) {
    for (const file of files) {
      if (file.size > state.limits.upload_max_bytes) {
        emit("toast", { text: `${file.name} is larger than ${fileSize(state.limits.upload_max_bytes)}.` });
        continue;
      }
      const item = { local: file, state: "uploading", progress: 0, controller: new AbortController() };
      this.uploads.push(item);
      this.startUpload(item);
    }
    this.drawUploads();
  }

  async startUpload(item) {
    const form = new FormData();
    try {
      if (isEncrypted(this.target().conversation)) {
        // Encrypted before it leaves the browser; the server keeps only ciphertext.
        const sealed = await sealUpload(item.local);
        item.sealedMeta = sealed.meta;
        form.append("file", sealed.blob, "encrypted.bin");
      } else {
        form.append("file", item.local, item.local.name);
      }
      item.file = await upload("files/", form, {
        signal: item.controller.signal,
        onProgress: (fraction) => { item.progress = fraction; this.drawUploads(); },
      });
      item.state = "done";
    } catch (error) {
      item.state = error.code === "aborted" ? "cancelled" : "failed";
      item.error = error.message;
    }
    this.uploads = this.uploads.filter((entry) => entry.state !== "cancelled");
    this.drawUploads();
  }

  clearUploads() {
    for (const item of this.uploads) if (item.preview) URL.revokeObjectURL(item.preview);
    this.uploads = [];
    this.drawUploads();
  }

  drawUploads() {
    if (!this.uploadList) return;
    this.uploadList.replaceChildren(...this.uploads.map((item) => {
      const type = item.local.type || "";
      if (!item.preview && (type.startsWith("image/") || type.startsWith("video/"))) item.preview = URL.createObjectURL(item.local);
      const media = item.preview ? (type.startsWith("image/") ? el("img", { src: item.preview, alt: item.local.name })
        : el("video", { src: item.preview, muted: true, "aria-label": item.local.name })) : null;
      return el("li", { class: `upload-item ${item.state === "failed" ? "failed" : ""}` },
        media,
        el("div", { class: "upload-row" },
          el("span", { class: "upload-name", title: item.local.name }, item.local.name),
          el("span", {}, fileSize(item.local.size)),
          iconButton(`Remove ${item.local.name}`, "x", { onclick: () => {
            item.controller.abort();
            this.uploads = this.uploads.filter((entry) => entry !== item);
            this.drawUploads();
          } })),
        item.state === "uploading" ? el("progress", { max: "1", value: String(item.progress), "aria-label": `Uploading ${item.local.name}` }) : null,
        item.state === "failed" ? el("span", {}, item.error) : null);
    }));
  }
}
