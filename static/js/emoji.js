// The emoji catalogue (from the server, so shortcodes match what messages render) and
// a picker popover.

import { get } from "./api.js";
import { el } from "./format.js";

let catalogue = null;
const RECENT_KEY = "teamchat.recentEmoji";
const DEFAULT_RECENT = ["👍", "🎉", "😄", "❤️", "🙏", "👀", "✅", "🚀"];

export async function loadEmoji() {
  if (!catalogue) {
    const data = await get("emoji/");
    catalogue = data.results.map(([character, ...names]) => ({ character, names }));
  }
  return catalogue;
}

export function searchEmoji(query, limit = 8) {
  if (!catalogue) return [];
  const needle = query.toLowerCase();
  const starts = [], contains = [];
  for (const entry of catalogue) {
    if (entry.names.some((name) => name.startsWith(needle))) starts.push(entry);
    else if (entry.names.some((name) => name.includes(needle))) contains.push(entry);
    if (starts.length >= limit) break;
  }
  return starts.concat(contains).slice(0, limit);
}

export function recentEmoji() {
  try {
    const stored = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return [...new Set([...stored, ...DEFAULT_RECENT])].slice(0, 16);
  } catch {
    return DEFAULT_RECENT;
  }
}

function remember(character) {
  const list = [character, ...recentEmoji().filter((item) => item !== character)].slice(0, 16);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
}

// Open the picker next to `anchor`; `choose` receives the emoji character.
export async function openEmojiPicker(anchor, choose) {
  const popover = document.getElementById("popover");
  const search = el("input", { type: "search", class: "emoji-search", placeholder: "Search emoji", "aria-label": "Search emoji" });
  const grid = el("div", { class: "emoji-grid", role: "listbox", "aria-label": "Emoji" });
  const close = () => {
    popover.hidden = true;
    popover.replaceChildren();
    document.removeEventListener("pointerdown", outside, true);
    anchor.focus();
  };
  const outside = (event) => { if (!popover.contains(event.target) && !anchor.contains(event.target)) close(); };
  const fill = (entries) => {
    grid.replaceChildren(...entries.map(({ character, names }) => el("button", {
      type: "button", role: "option", title: `:${names[0]}:`, "aria-label": names[0].replaceAll("_", " "),
      onclick: () => { remember(character); close(); choose(character); },
    }, character)));
  };
  popover.replaceChildren(search, grid);
  popover.hidden = false;
  const box = anchor.getBoundingClientRect();
  popover.style.left = `${Math.max(8, Math.min(box.left, innerWidth - 350))}px`;
  popover.style.top = `${Math.max(8, box.top - 330)}px`;
  fill(recentEmoji().map((character) => ({ character, names: [character] })));
  search.focus();
  document.addEventListener("pointerdown", outside, true);
  popover.onkeydown = (event) => { if (event.key === "Escape") { event.stopPropagation(); close(); } };
  await loadEmoji();
  const showAll = () => fill(search.value.trim() ? searchEmoji(search.value.trim(), 120) : catalogue.slice(0, 240));
  search.addEventListener("input", showAll);
  if (!search.value) fill([...recentEmoji().map((character) => ({ character, names: [catalogue.find((e) => e.character === character)?.names[0] || character] })),
    ...catalogue.slice(0, 200)]);
}
