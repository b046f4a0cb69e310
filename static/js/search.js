// Message search as people read it: each result drawn like a message (its rendered HTML,
// the matched words marked), with its conversation, the messages just before and after
// it, and a link to jump there; completion for from: and in: in the search box.

import { get } from "./api.js";
import { clock, dayLabel, debounce, el, fullTime } from "./format.js";
import { avatar } from "./messages.js";
import { state, userName } from "./store.js";

const MAX_SUGGESTIONS = 8;

// Where a result was said: "#launch", "Direct message with Ana Lopez", or, for the
// conversation one has with oneself, "Your notes".
export function placeLabel(hit) {
  if (hit.conversation_kind !== "direct") return hit.conversation_name;
  if (hit.conversation_name === userName(state.me.id)) return "Direct message with yourself";
  return `Direct message with ${hit.conversation_name}`;
}

// Chinese, Japanese and Korean are written without spaces: a word of theirs is marked
// wherever it stands, not only as a whole word.
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Bopomofo}]/u;

// Wrap each whole-word occurrence of `words` in the text under `root` in <mark> (and each
// occurrence of a word holding CJK characters; the server sends them longest first). Only
// text nodes are split and only <mark> elements are made, so no text becomes markup.
export function markWords(root, words) {
  const escape = (word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const wanted = (words || []).filter(Boolean).map((word) => (CJK.test(word)
    ? escape(word) : `(?<![\\p{L}\\p{N}_])${escape(word)}(?![\\p{L}\\p{N}_])`));
  if (!wanted.length) return;
  const pattern = new RegExp(wanted.join("|"), "giu");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode);
  for (const node of texts) {
    const text = node.nodeValue;
    pattern.lastIndex = 0;
    if (!pattern.test(text)) continue;
    pattern.lastIndex = 0;
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) parts.push(document.createTextNode(text.slice(last, match.index)));
      parts.push(el("mark", {}, match[0]));
      last = match.index + match[0].length;
    }
    if (last < text.length) parts.push(document.createTextNode(text.slice(last)));
    node.replaceWith(...parts);
  }
}

function messageBody(message) {
  const body = el("div", { class: "message-body" });
  body.innerHTML = message.html; // sanitised on the server (nh3), as in the timeline
  return body;
}

function contextLine(message, where) {
  if (!message) return null;
  return el("div", { class: "search-context", "aria-label": `${where}: ${userName(message.author)}` },
    el("span", { class: "search-context-author" }, userName(message.author)),
    messageBody(message));
}

export function searchResult(hit) {
  const jump = `#/c/${hit.conversation}/m/${hit.id}`;
  const place = placeLabel(hit);
  const author = userName(hit.author);
  const body = messageBody(hit);
  body.classList.add("search-snippet");
  markWords(body, hit.match_words);
  const item = el("li", { class: "search-result" },
    el("div", { class: "search-result-head" },
      el("span", { class: "search-place" }, place),
      hit.thread_root && !hit.also_in_channel ? el("span", { class: "result-detail" }, "in a thread") : null,
      el("a", { class: "search-jump", href: jump }, "Jump", el("span", { class: "sr-only" }, ` to ${author}’s message in ${place}`))),
    contextLine(hit.context?.before, "Before"),
    el("div", { class: "search-hit" },
      avatar(hit.author, true),
      el("div", { class: "message-content" },
        el("div", { class: "message-meta" },
          el("span", { class: "message-author" }, author),
          el("time", { class: "message-time", datetime: hit.created_at, title: fullTime(hit.created_at) },
            `${dayLabel(hit.created_at)} ${clock(hit.created_at)}`)),
        body)),
    contextLine(hit.context?.after, "After"));
  // The whole result is a target for the pointer; the link is the keyboard's way there.
  item.addEventListener("click", (event) => {
    if (event.target.closest("a, button")) return;
    location.hash = jump;
  });
  return item;
}

// Completion for the operators that name someone or somewhere: from: people (name or
// email), in: channels and people (their direct conversations). A listbox under the
// input, driven from the keyboard like the composer's @-completion.
export class SearchCompletion {
  constructor(input, menu) {
    this.input = input;
    this.menu = menu;
    this.suggestions = [];
    this.selected = 0;
    this.asked = 0;
    this.lookup = debounce(() => this.suggest(), 120);
    input.addEventListener("input", () => this.lookup());
    input.addEventListener("keydown", (event) => this.keydown(event));
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  // The operator being typed at the caret and where its value starts, or null.
  operatorAtCaret() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = before.match(/(?:^|\s)(from|in):("[^"]*|[^\s"]*)$/i);
    if (!match) return null;
    return { operator: match[1].toLowerCase(), start: before.length - match[2].length,
      needle: match[2].replace(/^"/, "").replace(/^[@#]/, "").toLowerCase() };
  }

  async suggest() {
    const at = this.operatorAtCaret();
    if (!at) { this.close(); return; }
    const asked = ++this.asked;
    const people = this.people(at.needle);
    let channels = [];
    if (at.operator === "in") {
      channels = await this.channels(at.needle);
      if (asked !== this.asked) return; // a later keystroke asked again
    }
    this.at = at;
    this.suggestions = [...channels, ...people].slice(0, MAX_SUGGESTIONS);
    this.selected = 0;
    this.draw();
  }

  people(needle) {
    const users = [...state.users.values()]
      .filter((user) => user.is_active !== false && (!needle || user.display_name.toLowerCase().includes(needle)
        || (user.email || "").toLowerCase().startsWith(needle)))
      .sort((a, b) => a.display_name.localeCompare(b.display_name))
      .slice(0, MAX_SUGGESTIONS);
    const names = users.map((user) => user.display_name.toLowerCase());
    return users.map((user) => {
      // The name, quoted; the email where two people share the name.
      const shared = names.filter((name) => name === user.display_name.toLowerCase()).length > 1;
      const value = shared || user.display_name.includes('"') ? user.email : `"${user.display_name}"`;
      return { label: user.display_name, detail: user.email, insert: `${value} ` };
    });
  }

  async channels(needle) {
    let channels = [...state.conversations.values()].filter((c) => c.kind !== "direct" && !c.encrypted);
    if (needle) {
      try {
        channels = (await get(`search/channels/?q=${encodeURIComponent(needle)}`)).results;
      } catch {
        channels = channels.filter((c) => c.name.includes(needle));
      }
    }
    return channels.filter((c) => c.name.includes(needle)).slice(0, MAX_SUGGESTIONS)
      .map((c) => ({ label: `#${c.name}`, detail: c.topic || (c.kind === "private" ? "private channel" : "channel"), insert: `#${c.name} ` }));
  }

  draw() {
    if (!this.suggestions.length) { this.close(); return; }
    this.menu.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.menu.replaceChildren(...this.suggestions.map((item, index) => el("li", {
      role: "option", id: `search-suggestion-${index}`, "aria-selected": index === this.selected ? "true" : "false",
      onmousedown: (event) => { event.preventDefault(); this.accept(item); },
    }, el("span", {}, item.label), item.detail ? el("span", { class: "detail" }, item.detail) : null)));
    this.input.setAttribute("aria-activedescendant", `search-suggestion-${this.selected}`);
    this.menu.querySelector("[aria-selected=true]")?.scrollIntoView({ block: "nearest" });
  }

  accept(item) {
    const value = this.input.value;
    const end = this.input.selectionStart;
    this.input.value = value.slice(0, this.at.start) + item.insert + value.slice(end).replace(/^\S*\s?/, "");
    this.input.selectionStart = this.input.selectionEnd = this.at.start + item.insert.length;
    this.close();
    this.input.focus();
  }

  close() {
    this.menu.hidden = true;
    this.suggestions = [];
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  keydown(event) {
    if (this.menu.hidden || !this.suggestions.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.selected = (this.selected + step + this.suggestions.length) % this.suggestions.length;
      this.draw();
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      event.stopImmediatePropagation(); // the form is not sent: the suggestion is taken
      this.accept(this.suggestions[this.selected]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.close();
    }
  }
}

const SYNTAX = [
  ["budget review", "both words (review also finds reviews, reviewed)"],
  ["\"quarterly report\"", "the exact phrase"],
  ["pizza OR sushi", "either word"],
  ["release -draft", "without a word"],
  ["from:\"Ana Lopez\"", "by a person: their name, email or @handle (from:Ana Lopez works when it names one person)"],
  ["in:#launch, in:\"Ana Lopez\"", "in a channel, or your direct messages with a person"],
  ["has:file, has:link, is:thread", "with files, with links, in threads"],
  ["before:2026-05-01, after:2026-04-01, during:2026-04", "by date"],
];

// The short syntax help: what each operator does, with an example.
export function syntaxHelp() {
  return el("dl", { class: "search-syntax" }, SYNTAX.flatMap(([example, meaning]) => [
    el("dt", {}, el("code", {}, example)), el("dd", {}, meaning)]));
}

// The "?" button beside the search box opens and closes the help under it.
export function bindSearchHelp(button, popover) {
  popover.replaceChildren(el("p", { class: "search-help-title" }, "Search operators (type from: or in: for suggestions)"), syntaxHelp());
  const show = (open) => {
    popover.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => show(popover.hidden));
  popover.addEventListener("keydown", (event) => { if (event.key === "Escape") { show(false); button.focus(); } });
  button.addEventListener("keydown", (event) => { if (event.key === "Escape") show(false); });
  document.addEventListener("click", (event) => {
    if (!popover.hidden && !popover.contains(event.target) && !button.contains(event.target)) show(false);
  });
}
