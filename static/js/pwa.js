// The installable app and push notifications in this browser (docs/notifications.md):
// registers the service worker (/sw.js), subscribes this browser to push with the
// installation's VAPID key and tells the server, and unsubscribes it on sign-out.
import { del, get, post } from "./api.js";

// The id of this browser's subscription on the server, while push is on here.
export const PUSH_KEY = "teamchat.pushSubscription";

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

export function pushOn() {
  return Boolean(localStorage.getItem(PUSH_KEY)) && window.Notification?.permission === "granted";
}

export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch {
    return null; // not over https, or the browser refuses: the app works without it
  }
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function deviceName() {
  const agent = navigator.userAgent;
  const browser = /Edg\//.test(agent) ? "Edge" : /Firefox\//.test(agent) ? "Firefox" : /Chrome\//.test(agent) ? "Chrome" : /Safari\//.test(agent) ? "Safari" : "Browser";
  const system = /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS" : /Mac OS X/.test(agent) ? "macOS" : /Windows/.test(agent) ? "Windows" : /Linux/.test(agent) ? "Linux" : "";
  return system ? `${browser} on ${system}` : browser;
}

async function tellServer(subscription) {
  const saved = await post("me/push-subscriptions/", { ...subscription.toJSON(), device_name: deviceName() });
  localStorage.setItem(PUSH_KEY, String(saved.id));
  return saved;
}

// Asks for permission (call from a click), subscribes and tells the server. Throws with a
// sentence for the person when it cannot.
export async function pushEnable() {
  if (!pushSupported()) throw new Error("This browser cannot receive push notifications.");
  if (Notification.permission !== "granted" && await Notification.requestPermission() !== "granted") {
    throw new Error("Notifications are blocked for this site in your browser settings.");
  }
  const registration = (await registerServiceWorker()) && await navigator.serviceWorker.ready;
  if (!registration) throw new Error("This page cannot install its service worker (it needs https).");
  const { vapid_public_key: key } = await get("push/key/");
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && subscription.options?.applicationServerKey) {
    const current = new Uint8Array(subscription.options.applicationServerKey);
    if (current.join() !== keyBytes(key).join()) { await subscription.unsubscribe(); subscription = null; }
  }
  try {
    subscription ||= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  } catch (error) {
    throw new Error(`This browser could not subscribe with its push service (${error.message}).`);
  }
  return tellServer(subscription);
}

// Stops push here: forgets the subscription on the server and in the browser.
export async function pushDisable() {
  const id = localStorage.getItem(PUSH_KEY);
  localStorage.removeItem(PUSH_KEY);
  if (id) await del(`me/push-subscriptions/${id}/`).catch(() => null);
  const registration = "serviceWorker" in navigator ? await navigator.serviceWorker.getRegistration("/") : null;
  const subscription = registration && await registration.pushManager?.getSubscription();
  if (subscription) await subscription.unsubscribe().catch(() => false);
}

// At start: the worker registered, and a subscription the push service may have renewed
// told to the server again (subscribing is idempotent by endpoint).
export async function pwaStart() {
  const registration = await registerServiceWorker();
  if (!registration || !pushOn()) return;
  try {
    const subscription = await registration.pushManager.getSubscription();
    if (subscription) await tellServer(subscription);
    else await pushEnable();
  } catch { /* offline or refused: tried again at the next start */ }
}

// Signing out removes this device's subscription first, so a shared computer stops
// showing the last person's notifications.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !new URL(form.action, location.href).pathname.startsWith("/accounts/logout/")) return;
  if (!localStorage.getItem(PUSH_KEY) || form.dataset.pushDone) return;
  event.preventDefault();
  await pushDisable().catch(() => null);
  form.dataset.pushDone = "1";
  form.submit();
}, true);
