// The project's Data tab: the thumbnail grid stays live without a reload.
// - A thumbnail the worker has not made yet shows a placeholder (the thumbnail URL answers 202);
//   the grid asks again every few seconds and swaps the image in once it answers otherwise.
// - An image uploaded on this page (upload.js announces `upload:stored`) joins the grid at once,
//   first page only (the grid is newest first).
// - Media that arrive any other way (another tab, a script, an import creating media) join it
//   too: every few seconds the grid asks each connected dataset's media list (oldest first) for
//   what lies past the count it knows.
// The page passes {thumbnailUrl, slot, retryMs, grow, pollMs, datasets: [{mediaUrl, offset}]}
// through json_script("grid-config").

const config = JSON.parse(document.getElementById("grid-config").textContent);
const grid = document.getElementById("media-grid");
const countEl = document.getElementById("media-count");
const emptyEl = document.getElementById("media-empty");
//: Give up on a placeholder after this many tries (the worker may be down); a reload tries again.
const MAX_TRIES = 200;
const tries = new WeakMap();
let timer = null;

function thumbnailUrl(mediaId) {
  return config.thumbnailUrl.replace(config.slot, mediaId);
}

async function refreshPending() {
  timer = null;
  const pending = [...grid.querySelectorAll("img[data-pending]")];
  for (const img of pending) {
    const count = (tries.get(img) || 0) + 1;
    tries.set(img, count);
    let status = 0;
    try {
      const response = await fetch(img.dataset.src || img.src, {
        method: "HEAD",
        credentials: "same-origin",
        cache: "no-store",
        redirect: "manual",
      });
      status = response.type === "opaqueredirect" ? 302 : response.status;
    } catch {
      status = 0; // the network failed: try again later
    }
    if (status && status !== 202) {
      // Made (200), or it will never be (a URL media's image, a failure placeholder): show it.
      const url = new URL(img.dataset.src || img.src, window.location.href);
      url.searchParams.set("ready", String(count));
      img.src = url.toString();
      delete img.dataset.pending;
    } else if (count >= MAX_TRIES) {
      delete img.dataset.pending;
    }
  }
  schedule();
}

function schedule() {
  if (timer === null && grid.querySelector("img[data-pending]")) {
    timer = window.setTimeout(refreshPending, config.retryMs);
  }
}

function addTile({ id, name }) {
  if (!config.grow || !id || grid.querySelector(`[data-media="${CSS.escape(id)}"]`)) return;
  const item = document.createElement("li");
  item.className = "thumb";
  item.dataset.media = id;
  item.dataset.name = name;
  const img = document.createElement("img");
  img.src = thumbnailUrl(id);
  img.alt = "";
  img.width = 160;
  img.height = 120;
  img.dataset.pending = "";
  const label = document.createElement("span");
  label.className = "thumb__name";
  label.title = name;
  label.textContent = name;
  item.append(img, label);
  grid.prepend(item);
  grid.hidden = false;
  if (emptyEl) emptyEl.hidden = true;
  if (countEl) countEl.textContent = String(Number(countEl.textContent || "0") + 1);
  schedule();
}

//: Media asked for per request; more arrive on the next round.
const POLL_LIMIT = 50;

async function pollArrivals() {
  if (document.visibilityState === "visible") {
    for (const dataset of config.datasets) {
      try {
        const url = new URL(dataset.mediaUrl, window.location.href);
        url.searchParams.set("limit", String(POLL_LIMIT));
        url.searchParams.set("offset", String(dataset.offset));
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) continue;
        const body = await response.json();
        for (const media of body.results || []) addTile({ id: media.id, name: media.name });
        // Media deleted meanwhile shift the list back: start again from its end (tiles are not doubled).
        dataset.offset = Math.min(dataset.offset + (body.results || []).length, body.count ?? Infinity);
      } catch {
        // the network failed: the next round asks again
      }
    }
  }
  window.setTimeout(pollArrivals, config.pollMs);
}

document.addEventListener("upload:stored", (event) => addTile(event.detail));
schedule();
if (config.grow && config.datasets.length) window.setTimeout(pollArrivals, config.pollMs);
