// Starts Redoc on the API reference page (no inline script, so the page keeps its CSP).
const container = document.getElementById("redoc-container");
window.Redoc.init(container.dataset.schemaUrl, { hideDownloadButton: false, expandResponses: "200,201" }, container);
