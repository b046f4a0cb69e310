// The sidebar: starred, channels and direct conversations with presence dots and
// unread and mention badges.

import { el } from "./format.js";
import { icon } from "./icons.js";
import { conversationName, isMutedConversation, state } from "./store.js";

export function sortedConversations() {
  return [...state.conversations.values()].filter((conversation) => conversation.is_member && !conversation.archived);
}

function directPartner(conversation) {
  const others = (conversation.members || []).filter((id) => id !== state.me.id);
  return others.length === 1 ? others[0] : null;
}

// The entry drawn for each conversation and what it was drawn from: a render redraws only
// the entries whose inputs changed (with hundreds of conversations, drawing them all on
// every event cost more than the rest of the first screen).
const drawn = new Map(); // conversation id -> { key, node }
const collator = new Intl.Collator();

function item(conversation, name) {
  const unread = conversation.unread_count || 0;
  const mentions = conversation.mention_count || 0;
  const muted = isMutedConversation(conversation);
  const partner = conversation.kind === "direct" ? directPartner(conversation) : null;
  const status = partner ? state.presence.get(partner)?.status || "offline" : null;
  const current = conversation.id === state.current;
  const key = JSON.stringify([name, conversation.kind, unread, mentions, muted, partner, status, current]);
  const cached = drawn.get(conversation.id);
  if (cached && cached.key === key) return cached.node;
  let prefix;
  if (partner) prefix = el("span", { class: "presence-dot", dataset: { status }, role: "img", "aria-label": status });
  else if (conversation.kind === "direct") prefix = el("span", { class: "nav-prefix" }, icon("users"));
  else prefix = el("span", { class: "nav-prefix", "aria-hidden": "true" }, conversation.kind === "private" ? icon("lock") : "#");
  const showBadge = mentions > 0 || (unread > 0 && conversation.kind === "direct");
  const badgeCount = conversation.kind === "direct" ? unread : mentions;
  const label = [name, conversation.kind === "private" ? "private channel" : null,
    unread ? `${unread} unread` : null, mentions ? `${mentions} mention${mentions === 1 ? "" : "s"}` : null,
    muted ? "muted" : null].filter(Boolean).join(", ");
  const classes = ["nav-item"];
  if (unread && !muted) classes.push("unread");
  if (muted) classes.push("muted");
  const node = el("li", {},
    el("a", {
      class: classes.join(" "), href: `#/c/${conversation.id}`, "aria-label": label,
      "aria-current": current ? "page" : null, dataset: { conversation: conversation.id },
    }, prefix, el("span", { class: "nav-label" }, name),
    showBadge ? el("span", { class: `badge${muted ? " quiet" : ""}`, "aria-hidden": "true" }, String(badgeCount)) : null));
  drawn.set(conversation.id, { key, node });
  return node;
}

function fill(list, entries) {
  const nodes = entries.map(([conversation, name]) => item(conversation, name));
  const children = list.children;
  if (children.length === nodes.length && nodes.every((node, index) => children[index] === node)) return;
  list.replaceChildren(...nodes);
}

export function renderSidebar() {
  const named = sortedConversations().map((conversation) => [conversation, conversationName(conversation)]);
  const byName = (a, b) => collator.compare(a[1], b[1]);
  const starred = named.filter(([c]) => c.membership?.starred).sort(byName);
  const channels = named.filter(([c]) => c.kind !== "direct" && !c.membership?.starred).sort(byName);
  const directs = named.filter(([c]) => c.kind === "direct" && !c.membership?.starred)
    .sort(([a], [b]) => (b.last_message_at || b.created_at).localeCompare(a.last_message_at || a.created_at));
  document.getElementById("starred-section").hidden = !starred.length;
  fill(document.getElementById("starred-list"), starred);
  fill(document.getElementById("channel-list"), channels);
  fill(document.getElementById("direct-list"), directs);
}

// The conversations in sidebar order, for keyboard navigation.
export function navigationOrder() {
  return [...document.querySelectorAll("#conversation-nav a[data-conversation]")].map((node) => Number(node.dataset.conversation));
}
