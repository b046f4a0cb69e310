// The client's state and a small event bus; views subscribe to what they draw.

export const bus = new EventTarget();

export function emit(name, detail = {}) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, handler) {
  const listener = (event) => handler(event.detail);
  bus.addEventListener(name, listener);
  return () => bus.removeEventListener(name, listener);
}

export const state = {
  me: null,
  organisation: null,
  limits: {},
  users: new Map(),          // id -> user
  conversations: new Map(),  // id -> conversation (REST shape, kept current by events)
  timelines: new Map(),      // conversation id -> { ids: [], byId: Map, hasOlder, hasNewer }
  threads: new Map(),        // root id -> { root, ids: [], byId: Map }
  typing: new Map(),         // conversation id -> Map(user id -> expires at ms)
  presence: new Map(),       // user id -> presence frame
  myGroups: new Set(),       // handles of user groups I belong to
  groupHandles: new Set(),   // handles of every user group (mentions in encrypted messages)
  unreadThreads: new Set(),  // roots of followed threads with replies I have not read
  drafts: new Map(),         // "conversation.threadRoot" (0: the conversation) -> text kept on the server
  tab: Math.random().toString(36).slice(2, 14), // this tab, so that its own draft news is known as such
  current: null,             // id of the open conversation
  connected: false,
};

export function timeline(conversationId) {
  let entry = state.timelines.get(conversationId);
  if (!entry) {
    entry = { ids: [], byId: new Map(), hasOlder: true, hasNewer: false, loaded: false };
    state.timelines.set(conversationId, entry);
  }
  return entry;
}

// Insert or replace a message, keeping ids in ascending order.
export function putMessage(entry, message) {
  const known = entry.byId.has(message.id);
  entry.byId.set(message.id, message);
  if (!known) {
    const ids = entry.ids;
    if (!ids.length || ids[ids.length - 1] < message.id) ids.push(message.id);
    else {
      let low = 0, high = ids.length;
      while (low < high) {
        const mid = (low + high) >> 1;
        if (ids[mid] < message.id) low = mid + 1; else high = mid;
      }
      ids.splice(low, 0, message.id);
    }
  }
  return !known;
}

export function findMessage(id) {
  for (const entry of state.timelines.values()) if (entry.byId.has(id)) return entry.byId.get(id);
  for (const thread of state.threads.values()) {
    if (thread.root && thread.root.id === id) return thread.root;
    if (thread.byId.has(id)) return thread.byId.get(id);
  }
  return null;
}

export function userName(id) {
  const user = state.users.get(id);
  return user ? user.display_name : "Someone";
}

export function conversationName(conversation) {
  if (!conversation) return "";
  if (conversation.kind !== "direct") return conversation.name;
  const others = (conversation.members || []).filter((id) => id !== state.me.id);
  if (!others.length) return userName(state.me.id);
  return others.map(userName).join(", ");
}

export function isMutedConversation(conversation) {
  return Boolean(conversation && conversation.membership && conversation.membership.muted);
}

// Does a message mention me (directly, through a group, or @channel/@here)?
export function mentionsMe(message) {
  if (!message || !message.html || message.author === state.me.id) return false;
  if (message.html.includes(`data-user-id="${state.me.id}"`)) return true;
  if (/data-mention="(channel|everyone|here)"/.test(message.html)) return true;
  for (const handle of state.myGroups) if (message.html.includes(`data-group="${handle}"`)) return true;
  return false;
}
