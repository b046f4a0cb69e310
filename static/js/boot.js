// The first requests, sent the moment the page is parsed rather than when the client's
// modules have all loaded and run: the conversations, the directory's first page, groups,
// drafts and the messages of the conversation about to open. api.js's get() takes each
// answer from here once; anything not asked for here is fetched as usual. No imports, so
// that it runs as soon as it arrives (the page loads it `async`, before the rest); app.js
// imports it too, which runs it first should it arrive last.

const LAST_OPEN_KEY = "teamchat.lastConversation";

// The conversation the client will open, by the rule of app.js's route(): the address,
// else the last one this browser opened, else the one the server says was read last.
export function conversationToOpen(bootstrap) {
  const match = location.hash.match(/^#\/c\/(\d+)(?:\/m\/(\d+))?/);
  if (match) return { conversation: Number(match[1]), message: match[2] ? Number(match[2]) : null };
  let remembered = null;
  try { remembered = Number(localStorage.getItem(`${LAST_OPEN_KEY}.${bootstrap.me.id}`)) || null; } catch { /* storage refused */ }
  return { conversation: remembered || bootstrap.open || null, message: null, remembered: Boolean(remembered) };
}

export function rememberOpen(me, conversationId) {
  try { localStorage.setItem(`${LAST_OPEN_KEY}.${me}`, String(conversationId)); } catch { /* storage refused */ }
}

const paths = ["conversations/", "users/?limit=200", "usergroups/", "me/drafts/"];
const opening = conversationToOpen(JSON.parse(document.getElementById("bootstrap").textContent));
// A message link loads the messages around the message, not the newest.
if (opening.conversation && !opening.message) paths.push(`conversations/${opening.conversation}/messages/?limit=50`);
const early = new Map();
for (const path of paths) {
  const response = fetch(`/api/v1/${path}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  // An answer nobody takes (the conversation was not opened after all) is no error.
  response.catch(() => {});
  early.set(path, response);
}
globalThis.teamchatEarly = early;
