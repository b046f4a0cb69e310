// End-to-end encrypted conversations in the web client: this device's identity key
// (created or restored with the person's passphrase), each conversation's keys (created,
// rotated when someone leaves, shared with newcomers), and sealing and opening messages
// and files. The server only ever sees ciphertext; see docs/security.md.

import { get, patch, post, put } from "./api.js";
import * as box from "./crypto.js";
import { el, fileSize } from "./format.js";
import { loadMarkdown, renderMarkdown } from "./markdown.js";
import { icon } from "./icons.js";
import { emit, on, state, userName } from "./store.js";
import { openViewer } from "./viewer.js";

const KEY_FRAMES = new Set(["e2ee.key_rotated", "e2ee.key_shared", "e2ee.key_requested", "e2ee.identity_key", "member.joined", "member.left"]);
const identity = { value: null, loading: null };
const conversationKeys = new Map(); // "<conversation>:<key id>" -> AES-GCM CryptoKey (memory only)
const keyState = new Map();         // conversation id -> the last answer of conversations/{id}/keys/
const bodies = new Map();           // "<message id>:<nonce>" -> {text, files} or {error}
const opening = new Set();
const queues = new Map();
const requested = new Set();
const warnings = new Map();         // conversation id -> [{user, previous, now}]
let redrawTimer = null;
const redrawPending = new Set();

export const isEncrypted = (conversationId) => Boolean(state.conversations.get(conversationId)?.encrypted);
const seenKey = (userId) => `teamchat.e2ee.seen.${state.me.id}.${userId}`;
const verifiedKey = (userId) => `teamchat.e2ee.verified.${state.me.id}.${userId}`;

// --- This device's identity key ---

export function ensureIdentity() {
  if (identity.value) return Promise.resolve(identity.value);
  if (!identity.loading) identity.loading = loadIdentity().finally(() => { identity.loading = null; });
  return identity.loading;
}

async function loadIdentity() {
  const server = await get("me/keys/");
  const stored = await box.loadIdentity(state.me.id);
  if (stored && server.fingerprint && stored.fingerprint === server.fingerprint) {
    identity.value = stored;
    return stored;
  }
  const created = await passphraseDialog(server.public_key ? server : null);
  await box.storeIdentity(state.me.id, created);
  identity.value = created;
  return created;
}

// Ask for the passphrase: to restore the key from its backup (a new device), or to make
// the first key. Resolves with {privateKey, publicKey, fingerprint}.
function passphraseDialog(server) {
  return new Promise((resolve, reject) => {
    const restoring = Boolean(server);
    const dialog = e2eeDialog();
    const passphrase = el("input", { type: "password", id: "e2ee-passphrase", autocomplete: restoring ? "current-password" : "new-password", required: true, minlength: restoring ? undefined : "10" });
    const confirm = restoring ? null : el("input", { type: "password", id: "e2ee-passphrase-confirm", autocomplete: "new-password", required: true });
    const error = el("p", { class: "form-error", id: "e2ee-error", role: "alert" });
    const submit = el("button", { type: "submit", class: "primary", id: "e2ee-submit" }, restoring ? "Unlock" : "Create my key");
    const finish = (value) => { dialog.close(); resolve(value); };
    const form = el("form", { method: "dialog", class: "dialog-body", onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      if (!restoring && passphrase.value.length < 10) { error.textContent = "Use at least 10 characters."; return; }
      if (!restoring && passphrase.value !== confirm.value) { error.textContent = "The two passphrases differ."; return; }
      submit.disabled = true;
      submit.textContent = restoring ? "Unlocking…" : "Creating your key…";
      try {
        if (restoring) {
          const privateKey = await box.restoreIdentity(state.me.id, server.backup, passphrase.value);
          finish({ privateKey, publicKey: server.public_key, fingerprint: server.fingerprint });
        } else {
          const made = await box.createIdentity(state.me.id, passphrase.value);
          await put("me/keys/", { public_key: made.publicKey, backup: made.backup });
          finish({ privateKey: made.privateKey, publicKey: made.publicKey, fingerprint: made.fingerprint });
        }
      } catch (problem) {
        error.textContent = problem.message;
        submit.disabled = false;
        submit.textContent = restoring ? "Unlock" : "Create my key";
      }
    } },
    el("h2", { id: "e2ee-dialog-title" }, restoring ? "Unlock end-to-end encryption" : "Set up end-to-end encryption"),
    el("p", {}, restoring
      ? "This device does not hold your encryption key yet. Enter your encryption passphrase to restore it from its encrypted backup."
      : "Encrypted conversations are readable only in your browsers. Choose a passphrase: it protects the backup of your key, so you can use another device. teamchat never sees it and cannot reset it."),
    el("label", { for: "e2ee-passphrase" }, "Encryption passphrase"), passphrase,
    confirm ? el("label", { for: "e2ee-passphrase-confirm" }, "Repeat it") : null, confirm,
    error,
    el("div", { class: "actions" },
      restoring ? el("button", { type: "button", class: "link-button", onclick: async () => {
        // A lost passphrase: a new key; earlier messages stay unreadable on this device.
        passphraseDialog(null).then(resolve, reject);
      } }, "I forgot it: make a new key") : null,
      el("button", { type: "button", class: "secondary", onclick: () => { dialog.close(); reject(new Error("Encryption is locked on this device.")); } }, "Not now"),
      submit));
    dialog.replaceChildren(form);
    if (!dialog.open) dialog.showModal();
    passphrase.focus();
  });
}

function e2eeDialog() {
  let dialog = document.getElementById("e2ee-dialog");
  if (!dialog) {
    dialog = el("dialog", { class: "dialog", id: "e2ee-dialog", "aria-labelledby": "e2ee-dialog-title" });
    document.body.append(dialog);
  }
  return dialog;
}

// --- Conversation keys ---

// Bring a conversation's keys up to date, one run at a time per conversation.
export function maintain(conversationId) {
  const previous = queues.get(conversationId) || Promise.resolve();
  const next = previous.catch(() => null).then(() => maintainNow(conversationId, 0));
  queues.set(conversationId, next);
  return next;
}

async function maintainNow(conversationId, attempt) {
  const me = await ensureIdentity();
  const known = conversationKeys.size;
  let info = await get(`conversations/${conversationId}/keys/`);
  await unwrapMine(conversationId, info, me);
  try {
    if (info.current_key_id === null || info.rotation_required) {
      await startKey(conversationId, info);
      info = await get(`conversations/${conversationId}/keys/`);
    } else if (conversationKeys.has(`${conversationId}:${info.current_key_id}`)) {
      if (info.missing.length || info.escrow?.missing) {
        await shareKey(conversationId, info);
        info = await get(`conversations/${conversationId}/keys/`);
      }
    } else if (!requested.has(`${conversationId}:${info.current_key_id}`)) {
      requested.add(`${conversationId}:${info.current_key_id}`);
      await post(`conversations/${conversationId}/keys/request/`);
    }
  } catch (error) {
    // Another member's browser did the same a moment before: look again.
    if ((error.status === 409 || error.status === 400) && attempt < 2) return maintainNow(conversationId, attempt + 1);
    throw error;
  }
  await unwrapMine(conversationId, info, me);
  keyState.set(conversationId, info);
  await checkContacts(conversationId, info);
  // New keys may open messages that failed before: try those again (only then, or a
  // message nobody can open would be retried forever).
  if (conversationKeys.size > known) {
    for (const [id, body] of bodies) if (body.error && body.conversation === conversationId) bodies.delete(id);
  }
  emit("e2ee-changed", { conversation: conversationId });
  scheduleRedraw(conversationId);
  return info;
}

async function unwrapMine(conversationId, info, me) {
  for (const entry of info.keys) {
    const id = `${conversationId}:${entry.key_id}`;
    if (conversationKeys.has(id) || entry.fingerprint !== me.fingerprint) continue;
    try {
      conversationKeys.set(id, await box.unwrap(me.privateKey, entry.wrapped_key));
    } catch {
      // Wrapped for an earlier key of mine: it is asked for again when needed.
    }
  }
}

async function wrapForMembers(key, members) {
  const wrapped = [];
  for (const member of members) {
    wrapped.push({ user: member.user, fingerprint: member.fingerprint, wrapped_key: await box.wrapFor(await box.importPublic(member.public_key), key) });
  }
  return wrapped;
}

async function escrowEntry(info, key) {
  if (!info.escrow) return null;
  return { fingerprint: info.escrow.fingerprint, wrapped_key: await box.wrapFor(await box.importPem(info.escrow.public_key), key) };
}

// A new key version: the first one, or a rotation after someone left.
async function startKey(conversationId, info) {
  const keyId = (info.current_key_id || 0) + 1;
  const key = await box.newConversationKey();
  const members = info.members.filter((member) => member.public_key);
  await post(`conversations/${conversationId}/keys/`, {
    key_id: keyId, wrapped: await wrapForMembers(key, members), escrow: await escrowEntry(info, key),
  });
  conversationKeys.set(`${conversationId}:${keyId}`, key);
}

// The current key, for members who lack it (newcomers, new keys) and the escrow key.
async function shareKey(conversationId, info) {
  const key = conversationKeys.get(`${conversationId}:${info.current_key_id}`);
  const members = info.members.filter((member) => member.public_key && info.missing.includes(member.user));
  await put(`conversations/${conversationId}/keys/${info.current_key_id}/`, {
    wrapped: await wrapForMembers(key, members), escrow: info.escrow?.missing ? await escrowEntry(info, key) : null,
  });
}

// Trust on first use: remember each contact's key, warn when it changes.
async function checkContacts(conversationId, info) {
  const changed = [];
  for (const member of info.members) {
    if (member.user === state.me.id || !member.public_key) continue;
    const fingerprint = await box.fingerprintOf(member.public_key);
    const seen = localStorage.getItem(seenKey(member.user));
    if (!seen) localStorage.setItem(seenKey(member.user), fingerprint);
    else if (seen !== fingerprint) changed.push({ user: member.user, previous: seen, now: fingerprint });
  }
  warnings.set(conversationId, changed);
}

export function prepare(conversationId) {
  return maintain(conversationId).catch((error) => {
    emit("toast", { text: error.message });
    scheduleRedraw(conversationId);
  });
}

// Keys changed somewhere (a rotation, a newcomer, someone's new key): catch up, without
// asking for the passphrase from a background event.
on("frame", (frame) => {
  if (!frame.conversation || !KEY_FRAMES.has(frame.type) || !isEncrypted(frame.conversation) || !identity.value) return;
  if (frame.type === "member.left" && frame.user === state.me.id) return;
  maintain(frame.conversation).catch((error) => console.warn("encryption keys", error));
});

// --- Messages ---

function bodyId(message) {
  return `${message.id}:${message.nonce}`;
}

// The decrypted body {text, files}, {error}, or null while it is being opened.
export function openedBody(message) {
  const id = bodyId(message);
  if (bodies.has(id)) return bodies.get(id);
  if (!opening.has(id)) {
    opening.add(id);
    openBody(message, id);
  }
  return null;
}

async function openBody(message, id) {
  try {
    const name = `${message.conversation}:${message.key_id}`;
    const seen = keyState.get(message.conversation);
    if (!conversationKeys.has(name)) {
      // Wait for the run already under way (the first opening of many messages) rather
      // than start one per message; start one only for a key newer than any seen.
      const running = queues.get(message.conversation);
      if (!seen && running) await running;
      else if (!seen || message.key_id > (seen.current_key_id || 0)) await maintain(message.conversation);
    }
    const key = conversationKeys.get(name);
    if (!key) throw new Error("You do not have the key for this message (it was sent before you joined, or no member has shared it with you yet).");
    const body = await box.openMessage(key, message.conversation, message.key_id, message.ciphertext, message.nonce);
    bodies.set(id, { text: String(body.text || ""), files: Array.isArray(body.files) ? body.files : [], conversation: message.conversation });
  } catch (error) {
    bodies.set(id, { error: error.name === "OperationError" ? "This message could not be decrypted." : error.message, conversation: message.conversation });
  } finally {
    opening.delete(id);
    scheduleRedraw(message.conversation);
  }
}

// Many messages open at once: redraw each affected conversation once, shortly after.
function scheduleRedraw(conversationId) {
  redrawPending.add(conversationId);
  clearTimeout(redrawTimer);
  redrawTimer = setTimeout(() => {
    for (const id of redrawPending) emit("e2ee-decrypted", { conversation: id });
    redrawPending.clear();
    drawBar(state.conversations.get(state.current));
  }, 30);
}

// The text of a decrypted message, for editing and notifications ("" until it is opened).
export function openedText(message) {
  const body = bodies.get(bodyId(message));
  return body && !body.error ? body.text : "";
}

// Draw a message's body: its Markdown rendered in this browser (markdown.js); as plain
// lines for the moment it takes the renderer to load, then drawn again.
export function drawBody(node, message) {
  const body = openedBody(message);
  node.classList.add("e2ee-body");
  if (!body) node.replaceChildren(icon("lock"), " Decrypting…");
  else if (body.error) node.replaceChildren(icon("lock"), ` ${body.error}`);
  else {
    const rendered = renderMarkdown(body.text);
    if (rendered) { node.replaceChildren(rendered); return; }
    node.replaceChildren(...plainLines(body.text));
    loadMarkdown().then(() => scheduleRedraw(message.conversation));
  }
}

function plainLines(text) {
  return text.split("\n").flatMap((line, index) => (index ? [el("br"), line] : [line]));
}

// Pictures a browser shows safely from a blob: URL (never SVG), as the server's safelist.
const VIEWABLE_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

export function filesBlock(message) {
  const body = openedBody(message);
  if (!body || body.error || !body.files.length) return null;
  const stored = new Map((message.files || []).map((file) => [file.id, file]));
  const files = body.files.filter((file) => stored.has(file.id));
  // Pictures open in the file viewer, decrypted when shown; the rest download.
  const pictures = files.filter((file) => VIEWABLE_IMAGES.has(file.type));
  const items = pictures.map((file) => ({
    id: `sealed-${file.id}`, name: file.name, size: file.size, kind: "image",
    load: async () => {
      const url = URL.createObjectURL(await decryptFile(stored.get(file.id), file, file.type));
      return { url, revoke: () => URL.revokeObjectURL(url) };
    },
    download: () => downloadFile(stored.get(file.id), file),
  }));
  return el("div", { class: "message-files" }, files.map((file) => {
    const picture = pictures.indexOf(file);
    const card = (label, detail, onclick, extra = {}) => el("button", {
      type: "button", class: "file-card e2ee-file", "aria-label": label, onclick, ...extra,
    }, el("span", { class: "file-icon" }, icon("lock")),
    el("span", {}, el("span", { class: "file-name" }, file.name), el("br"),
      el("span", { class: "file-detail" }, `${fileSize(file.size)} · ${detail}`)));
    if (picture >= 0) {
      return card(`View ${file.name}`, "picture, decrypted in your browser",
        (event) => openViewer(items, picture, event.currentTarget), { "aria-haspopup": "dialog", dataset: { fileId: items[picture].id } });
    }
    return card(`Download ${file.name}`, "decrypted in your browser", () => downloadFile(stored.get(file.id), file));
  }));
}

async function decryptFile(stored, file, type) {
  const response = await fetch(`/api/v1/files/${stored.id}/download?download=1`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`The download failed (${response.status}).`);
  try {
    const plain = await box.openFile(await response.arrayBuffer(), file.key, file.nonce);
    return new Blob([plain], { type: type || "application/octet-stream" });
  } catch (error) {
    throw error.name === "OperationError" ? new Error("This file could not be decrypted.") : error;
  }
}

async function downloadFile(stored, file) {
  try {
    const url = URL.createObjectURL(await decryptFile(stored, file, file.type));
    const link = el("a", { href: url, download: file.name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    emit("toast", { text: error.message });
  }
}

async function currentKey(conversationId, fresh) {
  let info = keyState.get(conversationId);
  if (fresh || !info || info.rotation_required || !conversationKeys.has(`${conversationId}:${info.current_key_id}`)) info = await maintain(conversationId);
  const key = conversationKeys.get(`${conversationId}:${info.current_key_id}`);
  if (!key) throw new Error("You do not have this conversation's key yet; a member's browser shares it when one is online.");
  return { key, keyId: info.current_key_id };
}

// Seal and send (over REST, with the file ids). A stale key (someone left, a rotation
// elsewhere) is refreshed and the send tried again with the same client_msg_id.
export async function sendSealed({ conversation, threadRoot, alsoInChannel, text, files, clientMsgId }) {
  for (let attempt = 0; ; attempt += 1) {
    const { key, keyId } = await currentKey(conversation, attempt > 0);
    const sealed = await box.sealMessage(key, conversation, keyId, { text, files: files.map((file) => file.meta) });
    try {
      return await post(`conversations/${conversation}/messages/`, {
        ...sealed, client_msg_id: clientMsgId, files: files.map((file) => file.id),
        ...(threadRoot ? { thread_root: threadRoot } : {}), also_in_channel: Boolean(alsoInChannel),
      });
    } catch (error) {
      if (error.status !== 409 || attempt >= 2) throw error;
    }
  }
}

export async function editSealed(message, text) {
  const previous = bodies.get(bodyId(message));
  for (let attempt = 0; ; attempt += 1) {
    const { key, keyId } = await currentKey(message.conversation, attempt > 0);
    const sealed = await box.sealMessage(key, message.conversation, keyId, { text, files: previous && !previous.error ? previous.files : [] });
    try {
      return await patch(`messages/${message.id}/`, sealed);
    } catch (error) {
      if (error.status !== 409 || attempt >= 2) throw error;
    }
  }
}

// A file is encrypted before upload under its own key, named in the message it goes with.
export async function sealUpload(file) {
  const sealed = await box.sealFile(await file.arrayBuffer());
  return {
    blob: new Blob([sealed.data], { type: "application/octet-stream" }),
    meta: { name: file.name, type: file.type || "application/octet-stream", size: file.size, key: sealed.key, nonce: sealed.nonce },
  };
}

// Search what this browser has decrypted: the server cannot search ciphertext.
export function searchOpened(query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const hits = [];
  const seen = new Set();
  const lists = [...state.timelines.values(), ...state.threads.values()];
  for (const list of lists) {
    for (const message of list.byId.values()) {
      if (!message.encrypted || seen.has(message.id)) continue;
      const body = bodies.get(bodyId(message));
      if (!body || body.error) continue;
      const text = body.text.toLowerCase();
      if (words.every((word) => text.includes(word))) { hits.push({ message, text: body.text }); seen.add(message.id); }
    }
  }
  return hits.sort((a, b) => b.message.id - a.message.id);
}

// --- The conversation's header: what the server cannot do, safety numbers, key changes ---

export function drawBar(conversation) {
  let bar = document.getElementById("e2ee-bar");
  if (!bar) {
    bar = el("div", { class: "banner e2ee-bar", id: "e2ee-bar", role: "status" });
    document.getElementById("connection-banner").before(bar);
  }
  if (!conversation || !conversation.encrypted) { bar.hidden = true; return; }
  bar.hidden = false;
  const changed = warnings.get(conversation.id) || [];
  bar.replaceChildren(
    el("span", {}, icon("lock"), " End-to-end encrypted: only the members' browsers can read it. The server cannot search it (search here covers the messages loaded in this browser), notifications carry no text, and previews are made in your browser. "),
    el("button", { type: "button", class: "link-button", id: "e2ee-safety-button", onclick: () => safetyDialog(conversation) }, "Compare safety numbers"),
    ...changed.map((entry) => el("p", { class: "e2ee-warning", role: "alert" },
      icon("alert"), ` ${userName(entry.user)}'s encryption key changed since you last talked. Compare safety numbers before you trust new messages. `,
      el("button", { type: "button", class: "link-button", onclick: () => safetyDialog(conversation) }, "Compare"))));
}

async function safetyDialog(conversation) {
  const dialog = e2eeDialog();
  let me;
  let info;
  try {
    me = await ensureIdentity();
    info = keyState.get(conversation.id) || await maintain(conversation.id);
  } catch (error) {
    emit("toast", { text: error.message });
    return;
  }
  const rows = [];
  for (const member of info.members) {
    if (member.user === state.me.id) continue;
    if (!member.public_key) { rows.push(el("li", {}, `${userName(member.user)} has no encryption key yet.`)); continue; }
    const fingerprint = await box.fingerprintOf(member.public_key);
    const number = await box.safetyNumber(state.me.id, me.publicKey, member.user, member.public_key);
    const verified = localStorage.getItem(verifiedKey(member.user)) === fingerprint;
    rows.push(el("li", { class: "e2ee-safety", dataset: { user: member.user } },
      el("strong", {}, userName(member.user)), el("br"),
      el("code", { class: "e2ee-safety-number" }, number), el("br"),
      el("span", { class: "result-detail" }, verified ? [icon("check"), " Verified by you."] : "Compare this number with theirs, in person or on a call; it must be the same on both screens."),
      verified ? null : el("button", { type: "button", class: "secondary", onclick: () => {
        localStorage.setItem(verifiedKey(member.user), fingerprint);
        localStorage.setItem(seenKey(member.user), fingerprint);
        warnings.set(conversation.id, (warnings.get(conversation.id) || []).filter((entry) => entry.user !== member.user));
        dialog.close();
        drawBar(state.conversations.get(state.current));
      } }, "They match: mark as verified")));
  }
  dialog.replaceChildren(el("div", { class: "dialog-body" },
    el("h2", { id: "e2ee-dialog-title" }, "Safety numbers"),
    el("p", {}, "Each number is made from your key and theirs. If someone's differs from what they see, a key was swapped: do not trust the conversation."),
    el("ul", { class: "e2ee-safety-list" }, rows),
    el("p", { class: "result-detail" }, `Your key fingerprint: ${me.fingerprint.slice(0, 32).replace(/(.{4})/g, "$1 ").trim()}`),
    el("div", { class: "actions" }, el("button", { type: "button", class: "primary", onclick: () => dialog.close() }, "Close"))));
  if (!dialog.open) dialog.showModal();
}
