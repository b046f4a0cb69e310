// Markdown for what the server never reads: end-to-end encrypted messages and their
// preview. The same parser as the server's (markdown-it, the CommonMark preset with the
// same options and rules, see messaging/markdown.py), mentions resolved against the people
// and groups this browser knows, emoji shortcodes from the server's catalogue, and the
// result cleaned by DOMPurify to the server's allow-list before it touches the page.
// Loaded on first use only: most people never open an encrypted conversation.

import { loadEmoji } from "./emoji.js";
import { state } from "./store.js";

const ID = /^<@(\d{1,18})>/;
const NAME = /^@\*\*([^*\n]{1,80})\*\*/;
const WORD = /^@([a-z0-9][a-z0-9_-]{0,39})(?![\w@-])/i;
const SHORTCODE = /:[a-z0-9_+-]{1,50}:/gi;
const SPECIAL = new Set(["channel", "everyone", "here"]);

const TAGS = ["p", "br", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
  "span", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td"];
const ATTRIBUTES = ["href", "title", "class", "data-user-id", "data-group", "data-mention", "start", "align"];

let parser = null;
let shortcodes = new Map();
let loading = null;

// Resolves once the parser, the cleaner and the emoji catalogue are here.
export function loadMarkdown() {
  loading ||= (async () => {
    const [, , emoji] = await Promise.all([
      import("../vendor/markdown-it.min.js"), import("../vendor/purify.min.js"), loadEmoji().catch(() => []),
    ]);
    shortcodes = new Map(emoji.flatMap((entry) => entry.names.map((name) => [`:${name}:`, entry.character])));
    parser = globalThis.markdownit("commonmark", { html: false, linkify: true, breaks: true, typographer: false })
      .enable(["linkify", "strikethrough", "table"]);
    parser.inline.ruler.before("emphasis", "mention", mentionRule);
    parser.renderer.rules.mention = (tokens, index) => mentionHtml(tokens[index]);
    parser.core.ruler.push("shortcodes", replaceShortcodes);
    globalThis.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") { node.setAttribute("target", "_blank"); node.setAttribute("rel", "noopener noreferrer nofollow"); }
    });
  })();
  return loading;
}

export const markdownReady = () => parser !== null;

// The text as a fragment of safe nodes; null until loadMarkdown() has resolved.
export function renderMarkdown(text) {
  if (!parser) return null;
  return globalThis.DOMPurify.sanitize(parser.render(text), {
    ALLOWED_TAGS: TAGS, ALLOWED_ATTR: ATTRIBUTES, ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    RETURN_DOM_FRAGMENT: true,
  });
}

function mentionRule(inline, silent) {
  const { src, pos } = inline;
  const char = src[pos];
  if (char !== "<" && char !== "@") return false;
  const rest = src.slice(pos);
  let match = null, kind = null;
  if (char === "<") {
    match = ID.exec(rest);
    kind = "id";
  } else {
    if (pos > 0 && /[\p{L}\p{N}_.@-]/u.test(src[pos - 1])) return false; // an email address or a word
    if ((match = NAME.exec(rest))) kind = "name";
    else if ((match = WORD.exec(rest))) kind = "word";
  }
  if (!match) return false;
  if (!silent) {
    const token = inline.push("mention", "", 0);
    token.meta = { kind, value: kind === "id" ? match[1] : match[1].trim().toLowerCase() };
    token.content = match[0];
  }
  inline.pos += match[0].length;
  return true;
}

function mentionHtml(token) {
  const { kind, value } = token.meta;
  const escape = parser.utils.escapeHtml;
  let person = null;
  if (kind === "id") person = state.users.get(Number(value));
  else if (kind === "name") person = [...state.users.values()].find((user) => (user.display_name || "").toLowerCase() === value);
  else if (SPECIAL.has(value)) return `<span class="mention mention-special" data-mention="${value}">@${value}</span>`;
  else if (state.groupHandles.has(value)) return `<span class="mention mention-group" data-group="${escape(value)}">@${escape(value)}</span>`;
  if (!person) return escape(token.content);
  return `<span class="mention" data-user-id="${person.id}">@${escape(person.display_name)}</span>`;
}

// :rocket: becomes 🚀 in text, never inside code or a link's label (as on the server).
function replaceShortcodes(core) {
  for (const block of core.tokens) {
    if (block.type !== "inline" || !block.children) continue;
    let insideLink = 0;
    for (const child of block.children) {
      if (child.type === "link_open") insideLink += 1;
      else if (child.type === "link_close") insideLink -= 1;
      else if (child.type === "text" && !insideLink) child.content = child.content.replace(SHORTCODE, (code) => shortcodes.get(code.toLowerCase()) || code);
    }
  }
}
