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

function item(conversation) {
  const unread = conversation.unread_count || 0;
  const mentions = conversation.mention_count || 0;
  const muted = isMutedConversation(conversation);
  const name = conversationName(conversation);
  let prefix;
  if (conversation.kind === "direct") {
    const partner = directPartner(conversation);
    const status = partner ? state.presence.get(partner)?.status || "offline" : "group";
    prefix = partner
      ? el("span", { class: "presence-dot", dataset: { status }, role: "img", "aria-label": status })
      : el("span", { class: "nav-prefix" }, icon("users"));
  } else {
    prefix = el("span", { class: "nav-prefix", "aria-hidden": "true" }, conversation.kind === "private" ? icon("lock") : "#");
  }
  const showBadge = mentions > 0 || (unread > 0 && conversation.kind === "direct");
  const badgeCount = conversation.kind === "direct" ? unread : mentions;
  const label = [name, conversation.kind === "private" ? "private channel" : null,
    unread ? `${unread} unread` : null, mentions ? `${mentions} mention${mentions === 1 ? "" : "s"}` : null,
    muted ? "muted" : null].filter(Boolean).join(", ");
  const classes = ["nav-item"];
  if (unread && !muted) classes.push("unread");
  if (muted) classes.push("muted");
  return el("li", {},
    el("a", {
      class: classes.join(" "), href: `#/c/${conversation.id}`, "aria-label": label,
      "aria-current": conversation.id === state.current ? "page" : null, dataset: { conversation: conversation.id },
    }, prefix, el("span", { class: "nav-label" }, name),
    showBadge ? el("span", { class: `badge${muted ? " quiet" : ""}`, "aria-hidden": "true" }, String(badgeCount)) : null));
}

export function renderSidebar() {
  const conversations = sortedConversations();
  const starred = conversations.filter((c) => c.membership?.starred);
  const byName = (a, b) => conversationName(a).localeCompare(conversationName(b));
  const channels = conversations.filter((c) => c.kind !== "direct" && !c.membership?.starred).sort(byName);
  const directs = conversations.filter((c) => c.kind === "direct" && !c.membership?.starred)
    .sort((a, b) => (b.last_message_at || b.created_at).localeCompare(a.last_message_at || a.created_at));
  document.getElementById("starred-section").hidden = !starred.length;
  document.getElementById("starred-list").replaceChildren(...starred.sort(byName).map(item));
  document.getElementById("channel-list").replaceChildren(...channels.map(item));
  document.getElementById("direct-list").replaceChildren(...directs.map(item));
}

// The conversations in sidebar order, for keyboard navigation.
export function navigationOrder() {
  return [...document.querySelectorAll("#conversation-nav a[data-conversation]")].map((node) => Number(node.dataset.conversation));
}
