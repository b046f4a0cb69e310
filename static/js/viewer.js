// The file viewer: a conversation's pictures and PDFs in a modal dialog, with zoom,
// next and previous (buttons and arrow keys) and download. It knows nothing of messages:
// callers hand it a list of items and the index to show.
//
// An item: { id, name, size, kind: "image"|"pdf", url, downloadUrl, thumbnailUrl }, where
// url may be replaced by load() (an async function answering a URL, for files decrypted
// in the browser) and downloadUrl by download() (a function that saves the file).

import { el, fileSize } from "./format.js";
import { icon } from "./icons.js";

const ZOOM_STEP = 1.25;
const ZOOM_MIN = 0.25;
const ZOOM_MAX = 8;

export function viewable(file) {
  return Boolean(file && file.url) && (file.kind === "image" || file.kind === "pdf");
}

// The viewer's item for a file as the API shapes it.
export function itemForFile(file) {
  return {
    id: file.id, name: file.name, size: file.size, kind: file.kind, url: file.url,
    downloadUrl: file.download_url, thumbnailUrl: file.thumbnail_url,
  };
}

// A click that should open the viewer rather than follow the link (a plain left click:
// Ctrl/Cmd/Shift-click and middle click keep opening the file in a new tab or window).
export function plainClick(event) {
  return event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey && !event.altKey;
}

class FileViewer {
  constructor() {
    this.items = [];
    this.index = 0;
    this.zoom = 1;
    this.opener = null;
    this.cleanup = null;
    this.shown = 0; // counts show() calls, so a late load() of an earlier item is dropped
  }

  build() {
    const button = (label, symbol, handler, extra = {}) => el("button", {
      type: "button", class: "icon-button viewer-button", "aria-label": label, title: label, onclick: handler, ...extra,
    }, symbol);
    this.title = el("h2", { id: "viewer-title", class: "viewer-title" });
    this.detail = el("span", { class: "viewer-detail" });
    this.position = el("span", { class: "viewer-position", id: "viewer-position" });
    this.zoomLabel = el("span", { class: "viewer-zoom-level", "aria-hidden": "true" });
    this.zoomOut = button("Zoom out", icon("minus"), () => this.setZoom(this.zoom / ZOOM_STEP), { "aria-keyshortcuts": "-" });
    this.zoomIn = button("Zoom in", icon("plus"), () => this.setZoom(this.zoom * ZOOM_STEP), { "aria-keyshortcuts": "+" });
    this.zoomFit = button("Fit to screen", icon("fit"), () => this.setZoom(1), { "aria-keyshortcuts": "0" });
    this.zoomTools = el("div", { class: "viewer-group", role: "group", "aria-label": "Zoom" }, this.zoomOut, this.zoomLabel, this.zoomIn, this.zoomFit);
    this.openLink = el("a", { class: "icon-button viewer-button", target: "_blank", rel: "noopener" }, icon("external"));
    this.downloadLink = el("a", { class: "icon-button viewer-button" }, icon("download"));
    this.downloadButton = button("Download", icon("download"), () => this.item().download());
    this.closeButton = button("Close", icon("x"), () => this.close());
    this.previous = button("Previous file", icon("chevron-left"), () => this.step(-1), { class: "icon-button viewer-button viewer-step viewer-previous", "aria-keyshortcuts": "ArrowLeft" });
    this.next = button("Next file", icon("chevron-right"), () => this.step(1), { class: "icon-button viewer-button viewer-step viewer-next", "aria-keyshortcuts": "ArrowRight" });
    this.canvas = el("div", { class: "viewer-canvas" });
    this.node = el("dialog", {
      class: "viewer", id: "file-viewer", "aria-modal": "true", "aria-labelledby": "viewer-title", "aria-describedby": "viewer-position",
      onkeydown: (event) => this.onKey(event), onclose: () => this.closed(),
    },
    el("header", { class: "viewer-bar" },
      el("div", { class: "viewer-heading" }, this.title, el("p", { class: "viewer-subtitle" }, this.detail, this.position)),
      el("div", { class: "viewer-tools" }, this.zoomTools, this.openLink, this.downloadLink, this.downloadButton, this.closeButton)),
    el("div", { class: "viewer-stage" }, this.previous, this.canvas, this.next));
    this.canvas.addEventListener("pointerdown", (event) => this.startPan(event));
    window.addEventListener("resize", () => { if (this.node.open) this.layout(); });
    document.body.append(this.node);
  }

  open(items, index, opener) {
    if (!items.length) return;
    if (!this.node) this.build();
    this.items = items;
    this.opener = opener || document.activeElement;
    if (!this.node.open) this.node.showModal();
    this.show(Math.max(0, Math.min(index, items.length - 1)));
    this.closeButton.focus();
  }

  item() {
    return this.items[this.index];
  }

  close() {
    if (this.node && this.node.open) this.node.close();
  }

  closed() {
    this.release();
    this.canvas.replaceChildren();
    const opener = this.opener;
    const id = this.item()?.id;
    this.opener = null;
    // The message list may have been redrawn meanwhile: find the same file's new node.
    const target = opener && opener.isConnected ? opener : document.querySelector(`[data-file-id="${CSS.escape(String(id))}"]`);
    if (target && target.focus) target.focus();
  }

  release() {
    if (this.cleanup) this.cleanup();
    this.cleanup = null;
  }

  step(direction) {
    const index = this.index + direction;
    if (index < 0 || index >= this.items.length) return;
    this.show(index);
  }

  show(index) {
    this.release();
    this.index = index;
    this.zoom = 1;
    const item = this.item();
    const count = this.items.length;
    this.title.textContent = item.name;
    this.detail.textContent = item.size ? `${fileSize(item.size)} · ` : "";
    this.position.textContent = `${index + 1} of ${count}`;
    for (const [button, enabled] of [[this.previous, index > 0], [this.next, index < count - 1]]) {
      button.setAttribute("aria-disabled", String(!enabled));
      button.hidden = count < 2;
    }
    this.zoomTools.hidden = item.kind !== "image";
    this.node.dataset.kind = item.kind;
    this.drawActions(item);
    const shown = ++this.shown;
    const url = item.load ? null : item.url;
    if (url) this.draw(item, url);
    else {
      this.canvas.replaceChildren(el("p", { class: "viewer-note" }, "Decrypting…"));
      item.load().then(({ url: loaded, revoke }) => {
        if (shown !== this.shown || !this.node.open) { if (revoke) revoke(); return; }
        this.cleanup = revoke || null;
        this.draw(item, loaded);
      }, (error) => {
        if (shown === this.shown) this.canvas.replaceChildren(el("p", { class: "viewer-note", role: "alert" }, error.message));
      });
    }
  }

  drawActions(item) {
    this.openLink.hidden = !item.url || Boolean(item.load);
    if (!this.openLink.hidden) {
      this.openLink.href = item.url;
      this.openLink.setAttribute("aria-label", `Open ${item.name} in a new tab`);
      this.openLink.title = "Open in a new tab";
    }
    this.downloadLink.hidden = !item.downloadUrl;
    if (item.downloadUrl) {
      this.downloadLink.href = item.downloadUrl;
      this.downloadLink.setAttribute("download", item.name);
      this.downloadLink.setAttribute("aria-label", `Download ${item.name}`);
      this.downloadLink.title = "Download";
    }
    this.downloadButton.hidden = Boolean(item.downloadUrl) || !item.download;
    if (!this.downloadButton.hidden) this.downloadButton.setAttribute("aria-label", `Download ${item.name}`);
  }

  draw(item, url) {
    if (item.kind === "image") {
      const image = el("img", { class: "viewer-image", src: url, alt: item.name, draggable: "false" });
      image.addEventListener("load", () => this.layout());
      this.image = image;
      this.canvas.replaceChildren(image);
      if (image.complete && image.naturalWidth) this.layout();
      return;
    }
    this.image = null;
    // Browsers without a PDF viewer (some phones, kiosks) get the first page's picture.
    if (navigator.pdfViewerEnabled) {
      this.canvas.replaceChildren(el("iframe", { class: "viewer-pdf", src: url, title: item.name }));
    } else {
      this.canvas.replaceChildren(el("div", { class: "viewer-fallback" },
        item.thumbnailUrl ? el("img", { class: "viewer-pdf-preview", src: item.thumbnailUrl, alt: `First page of ${item.name}` }) : null,
        el("p", { class: "viewer-note" }, "This browser cannot show PDFs here. Open or download it to read it all.")));
    }
  }

  // Fit the picture in the canvas (never enlarging it past its own size), times the zoom.
  layout() {
    const image = this.image;
    if (!image || !image.naturalWidth) return;
    const box = this.canvas.getBoundingClientRect();
    const fit = Math.min(1, box.width / image.naturalWidth, box.height / image.naturalHeight);
    const scale = fit * this.zoom;
    // The centre of what is seen stays in the centre as the picture grows or shrinks.
    const centreX = (this.canvas.scrollLeft + this.canvas.clientWidth / 2) / Math.max(1, this.canvas.scrollWidth);
    const centreY = (this.canvas.scrollTop + this.canvas.clientHeight / 2) / Math.max(1, this.canvas.scrollHeight);
    image.style.width = `${Math.round(image.naturalWidth * scale)}px`;
    image.style.height = `${Math.round(image.naturalHeight * scale)}px`;
    this.canvas.scrollLeft = centreX * this.canvas.scrollWidth - this.canvas.clientWidth / 2;
    this.canvas.scrollTop = centreY * this.canvas.scrollHeight - this.canvas.clientHeight / 2;
    image.dataset.scale = scale.toFixed(3);
    this.canvas.classList.toggle("zoomed", this.canvas.scrollWidth > this.canvas.clientWidth + 1 || this.canvas.scrollHeight > this.canvas.clientHeight + 1);
    this.zoomLabel.textContent = `${Math.round(scale * 100)}%`;
    this.zoomOut.setAttribute("aria-disabled", String(this.zoom <= ZOOM_MIN));
    this.zoomIn.setAttribute("aria-disabled", String(this.zoom >= ZOOM_MAX));
  }

  setZoom(zoom) {
    if (!this.image) return;
    this.zoom = Math.max(ZOOM_MIN, Math.min(ZOOM_MAX, zoom));
    this.layout();
  }

  // Drag a zoomed picture to see another part of it.
  startPan(event) {
    if (!this.image || !this.canvas.classList.contains("zoomed") || event.button !== 0) return;
    event.preventDefault();
    const start = { x: event.clientX, y: event.clientY, left: this.canvas.scrollLeft, top: this.canvas.scrollTop };
    const move = (moved) => {
      this.canvas.scrollLeft = start.left - (moved.clientX - start.x);
      this.canvas.scrollTop = start.top - (moved.clientY - start.y);
    };
    const stop = () => {
      this.canvas.classList.remove("panning");
      this.canvas.removeEventListener("pointermove", move);
      this.canvas.removeEventListener("pointerup", stop);
      this.canvas.removeEventListener("pointercancel", stop);
    };
    this.canvas.setPointerCapture(event.pointerId);
    this.canvas.classList.add("panning");
    this.canvas.addEventListener("pointermove", move);
    this.canvas.addEventListener("pointerup", stop);
    this.canvas.addEventListener("pointercancel", stop);
  }

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = {
      ArrowLeft: () => this.step(-1), ArrowRight: () => this.step(1),
      "+": () => this.setZoom(this.zoom * ZOOM_STEP), "=": () => this.setZoom(this.zoom * ZOOM_STEP),
      "-": () => this.setZoom(this.zoom / ZOOM_STEP), 0: () => this.setZoom(1),
    };
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }
}

const viewer = new FileViewer();

export function openViewer(items, index, opener) {
  viewer.open(items, index, opener);
}

export function viewerOpen() {
  return Boolean(viewer.node && viewer.node.open);
}
