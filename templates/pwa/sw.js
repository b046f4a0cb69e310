// teamchat's service worker (teamchat/pwa.py serves it at /sw.js, scope "/"): the app's
// static files from a cache named for this release, an offline page, and push
// notifications (docs/notifications.md).
const VERSION = "{{ version }}";
const PRECACHE = {{ precache|safe }};
const OFFLINE_URL = {{ offline|safe }};
const ICON = {{ icon|safe }};
const CACHE = `teamchat-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

// A new release's worker drops the caches of the ones before it.
self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name.startsWith("teamchat-") && name !== CACHE)
      .map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // Pages always come from the server (they carry the person's session); offline, the
    // offline page stands in for them.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)));
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.open(CACHE).then(async (cache) => {
      const kept = await cache.match(request);
      if (kept) return kept;
      const response = await fetch(request);
      if (response.ok) cache.put(request, response.clone());
      return response;
    }));
  }
});

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = {}; }
  if (data.type === "withdraw") {
    // Read on another device: close this conversation's notification here.
    event.waitUntil(self.registration.getNotifications({ tag: data.tag })
      .then((shown) => shown.forEach((notification) => notification.close())));
    return;
  }
  event.waitUntil(self.registration.showNotification(data.title || "teamchat", {
    body: data.body || "", tag: data.tag || "teamchat", renotify: true, icon: ICON,
    data: { url: data.url || "/", conversation: data.conversation, message: data.message },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/", self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (new URL(client.url).origin !== self.location.origin) continue;
      await client.focus();
      if ("navigate" in client) return client.navigate(target);
      return undefined;
    }
    return self.clients.openWindow(target);
  })());
});
