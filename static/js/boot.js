// The first requests, sent the moment the page's head is parsed rather than when the
// client's modules have all loaded and run: the conversations, the directory, groups,
// drafts, the presence the sidebar shows and the messages of the conversation about to
// open. api.js's get() takes each answer from here once; anything not asked for here is
// fetched as usual. A classic script, not a module: it runs as soon as it arrives, before
// any module (the page loads it without `async`; it is small, and the modules download
// meanwhile), so app.js can count on `teamchatBoot`.

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
  const paths = ["conversations/", "users/?limit=1000", "usergroups/", "me/drafts/", presencePath];
  const opening = conversationToOpen();
  // A message link loads the messages around the message, not the newest.
  if (opening.conversation && !opening.message) paths.push(`conversations/${opening.conversation}/messages/?limit=50`);
  const early = new Map();
  for (const path of paths) {
    const response = fetch(`/api/v1/${path}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    // An answer nobody takes (the conversation was not opened after all) is no error.
    response.catch(() => {});
    early.set(path, response);
  }
  globalThis.teamchatBoot = { early, presencePath, conversationToOpen, rememberOpen };
})();
