// The answers of the client's first requests: the conversations, the directory, groups,
// drafts, the presence the sidebar shows and the newest messages of the conversation read
// last come with the page (`answers` in the bootstrap, messaging/views.py); the messages of
// another conversation about to open (the address, or the last one this browser opened)
// are asked for here, the moment the page's head is parsed rather than when the client's
// modules have all loaded. api.js's get() takes each answer from here once; anything else
// is fetched as usual. A classic script, not a module: it runs before any module (the
// page loads it without `async`; it is small, and the modules download meanwhile), so
// app.js can count on `teamchatBoot`.

(() => {
  const LAST_OPEN_KEY = "teamchat.lastConversation";
  const bootstrap = JSON.parse(document.getElementById("bootstrap").textContent);

  // The conversation the client opens: the address, else the last one this browser
  // opened, else the one the server says was read last (a new device).
  function conversationToOpen() {
    const match = location.hash.match(/^#\/c\/(\d+)(?:\/m\/(\d+))?/);
    if (match) return { conversation: Number(match[1]), message: match[2] ? Number(match[2]) : null, addressed: true };
    let remembered = null;
    try { remembered = Number(localStorage.getItem(`${LAST_OPEN_KEY}.${bootstrap.me.id}`)) || null; } catch { /* storage refused */ }
    return { conversation: remembered || bootstrap.open || null, message: null, addressed: false };
  }

  // Written when the page is idle: a first write to storage can take tens of milliseconds.
  function rememberOpen(conversationId) {
    setTimeout(() => {
      try { localStorage.setItem(`${LAST_OPEN_KEY}.${bootstrap.me.id}`, String(conversationId)); } catch { /* storage refused */ }
    }, 0);
  }

  const presencePath = `presence/?users=${bootstrap.presence_of.join(",")}`;
  // Each entry: { data } that came with the page, or { response }, a fetch under way.
  const early = new Map(Object.entries(bootstrap.answers).map(([path, data]) => [path, { data }]));
  const opening = conversationToOpen();
  const messages = `conversations/${opening.conversation}/messages/?limit=50`;
  // A message link loads the messages around the message, not the newest.
  if (opening.conversation && !opening.message && !early.has(messages)) {
    const response = fetch(`/api/v1/${messages}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    // An answer nobody takes (the conversation was not opened after all) is no error.
    response.catch(() => {});
    early.set(messages, { response });
  }
  globalThis.teamchatBoot = { early, presencePath, conversationToOpen, rememberOpen };
})();
