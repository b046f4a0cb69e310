// The profile page's list of devices that receive push notifications, each removable
// (me/push-subscriptions/, docs/api.md).
import { del, get } from "./api.js";
import { el } from "./format.js";
import { PUSH_KEY, pushDisable } from "./pwa.js";

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");

async function draw(table, empty) {
  const { results } = await get("me/push-subscriptions/");
  const here = localStorage.getItem(PUSH_KEY);
  table.tBodies[0].replaceChildren(...results.map((device) => el("tr", { "data-id": String(device.id) },
    el("td", {}, device.device_name || device.user_agent.slice(0, 70) || "unknown",
      String(device.id) === here ? el("strong", {}, " (this one)") : ""),
    el("td", {}, when(device.created_at)), el("td", {}, when(device.last_used_at)),
    el("td", {}, el("button", { type: "button", class: "danger", onclick: async () => {
      if (String(device.id) === here) await pushDisable();
      else await del(`me/push-subscriptions/${device.id}/`);
      await draw(table, empty);
    } }, "Remove")))));
  table.hidden = !results.length;
  empty.hidden = Boolean(results.length);
}

const table = document.getElementById("push-devices-table");
if (table) draw(table, document.getElementById("push-devices-empty")).catch(() => null);
