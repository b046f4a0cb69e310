// The control icons: symbols of one SVG sprite shipped with the client (static/icons.svg),
// drawn in currentColor. An icon is decoration: its button carries the name.

import { el } from "./format.js";

const SPRITE = new URL("../icons.svg", import.meta.url).pathname;
const SVG = "http://www.w3.org/2000/svg";

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `${SPRITE}#i-${name}`);
  svg.append(use);
  return svg;
}

// A button showing only an icon: named for assistive technology, with a tooltip.
export function iconButton(label, name, attributes = {}) {
  return el("button", { type: "button", class: "icon-button", "aria-label": label, title: label, ...attributes }, icon(name));
}
