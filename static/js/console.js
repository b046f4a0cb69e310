// The console's live progress: a block with data-progress-url lists <progress id="progress-X">
// elements (and their "progress-X-text" captions); this polls the URL, whose JSON answers
// {items: [{id: X, value, max, text, finished}]}, updates them in place, and reloads the page
// once one of them is finished, so its result (a download link, a verification's verdict)
// shows without anyone reloading by hand.
const POLL_MS = 1500;

function watch(block) {
  const url = block.dataset.progressUrl;
  if (!block.querySelector("progress[id^='progress-']")) return;
  const tick = async () => {
    let answer;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      answer = await response.json();
    } catch {
      setTimeout(tick, POLL_MS * 2); // a restart or a blip: try again, a little later
      return;
    }
    for (const item of answer.items) {
      const bar = block.querySelector(`#progress-${CSS.escape(item.id)}`);
      if (!bar) continue;
      if (item.finished) {
        window.location.reload();
        return;
      }
      bar.max = Math.max(item.max, 1);
      bar.value = item.value;
      bar.textContent = `${Math.round((100 * item.value) / Math.max(item.max, 1))}%`;
      const caption = document.getElementById(`progress-${item.id}-text`);
      if (caption) caption.textContent = item.text;
    }
    setTimeout(tick, POLL_MS);
  };
  setTimeout(tick, POLL_MS);
}

document.querySelectorAll("[data-progress-url]").forEach(watch);
