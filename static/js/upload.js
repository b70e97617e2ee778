// Upload many images to a dataset: one POST per file, a few in parallel, with overall progress.
// The page passes {uploadUrl, parallel, maxBytes} through json_script("upload-config"); a page
// that uploads into a chosen dataset (the project's Data tab) has a select #upload-dataset whose
// options carry their upload URL in data-url. Each stored file is announced as an
// `upload:stored` event on the document ({id, name}), for a page that shows it at once.

const config = JSON.parse(document.getElementById("upload-config").textContent);
const form = document.getElementById("upload-form");
const input = document.getElementById("upload-input");
const dropzone = document.getElementById("dropzone");
const statusBox = document.getElementById("upload-status");
const progress = document.getElementById("upload-progress");
const doneEl = document.getElementById("upload-done");
const failedEl = document.getElementById("upload-failed");
const totalEl = document.getElementById("upload-total");
const stateEl = document.getElementById("upload-state");
const finishedEl = document.getElementById("upload-finished");
const errorsEl = document.getElementById("upload-errors");
const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
const datasetSelect = document.getElementById("upload-dataset");

function uploadUrl() {
  if (!datasetSelect) return config.uploadUrl;
  return datasetSelect.selectedOptions[0]?.dataset.url || config.uploadUrl;
}

function announce(xhr) {
  try {
    const body = JSON.parse(xhr.responseText);
    document.dispatchEvent(new CustomEvent("upload:stored", { detail: { id: body.id, name: body.name } }));
  } catch {
    // stored, but the answer is not the JSON expected: nothing to show at once
  }
}

const queue = [];
const loadedBytes = new Map(); // file -> bytes sent so far
let totalBytes = 0;
let total = 0;
let done = 0;
let failed = 0;
let running = 0;

function render() {
  let sent = 0;
  for (const bytes of loadedBytes.values()) sent += bytes;
  statusBox.hidden = false;
  progress.max = Math.max(totalBytes, 1);
  progress.value = Math.min(sent, totalBytes);
  doneEl.textContent = String(done);
  failedEl.textContent = String(failed);
  totalEl.textContent = String(total);
  const busy = running > 0 || queue.length > 0;
  stateEl.textContent = busy ? "– uploading…" : "– finished";
  finishedEl.hidden = busy || done === 0;
  form.dataset.state = busy ? "busy" : "idle";
}

function showError(file, message) {
  const item = document.createElement("li");
  const name = document.createElement("strong");
  name.textContent = file.name;
  item.append(name, document.createTextNode(`: ${message}`));
  errorsEl.append(item);
}

function finish(file, error) {
  loadedBytes.set(file, file.size);
  if (error) {
    failed += 1;
    showError(file, error);
  } else {
    done += 1;
  }
}

function errorMessage(xhr) {
  try {
    const body = JSON.parse(xhr.responseText);
    if (body && body.error && body.error.message) return body.error.message;
  } catch {
    // not JSON: a proxy or the server failed before the view answered
  }
  if (xhr.status === 413) return "The file is too large for the server.";
  if (xhr.status === 403) return "You are not allowed to upload here (or your session expired; log in again).";
  return `The server answered ${xhr.status || "nothing"}; try again.`;
}

function uploadOne(file, url) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      loadedBytes.set(file, event.loaded);
      render();
    });
    xhr.addEventListener("load", () => {
      const stored = xhr.status >= 200 && xhr.status < 300;
      finish(file, stored ? null : errorMessage(xhr));
      if (stored) announce(xhr);
      resolve();
    });
    xhr.addEventListener("error", () => {
      finish(file, "The network failed; try again.");
      resolve();
    });
    const body = new FormData();
    body.append("file", file, file.name);
    xhr.send(body);
  });
}

async function worker() {
  running += 1;
  try {
    while (queue.length > 0) {
      const { file, url } = queue.shift();
      await uploadOne(file, url);
      render();
    }
  } finally {
    running -= 1;
    render();
  }
}

function enqueue(files) {
  for (const file of files) {
    total += 1;
    totalBytes += file.size;
    loadedBytes.set(file, 0);
    if (config.maxBytes && file.size > config.maxBytes) {
      finish(file, `The file is larger than ${Math.round(config.maxBytes / 1048576)} MB.`);
      continue;
    }
    // The dataset chosen when the file was dropped, even if the choice changes meanwhile.
    queue.push({ file, url: uploadUrl() });
  }
  // Each worker takes a file at once, so count the workers to start before starting any.
  const toStart = Math.min(Math.max(0, config.parallel - running), queue.length);
  for (let i = 0; i < toStart; i += 1) worker();
  render();
}

// Dropped folders: walk them and take every file inside.
async function filesFromEntry(entry) {
  if (entry.isFile) {
    return new Promise((resolve) => entry.file((file) => resolve([file]), () => resolve([])));
  }
  if (!entry.isDirectory) return [];
  const reader = entry.createReader();
  const files = [];
  for (;;) {
    const batch = await new Promise((resolve) => reader.readEntries(resolve, () => resolve([])));
    if (batch.length === 0) break;
    for (const child of batch) files.push(...(await filesFromEntry(child)));
  }
  return files;
}

async function filesFromDrop(dataTransfer) {
  const entries = [...(dataTransfer.items || [])]
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (entries.length === 0) return [...dataTransfer.files];
  const files = [];
  for (const entry of entries) files.push(...(await filesFromEntry(entry)));
  return files;
}

input.addEventListener("change", () => {
  enqueue([...input.files]);
  input.value = "";
});

for (const type of ["dragenter", "dragover"]) {
  dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add("dropzone__target--over");
  });
}
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("dropzone__target--over"));
dropzone.addEventListener("drop", async (event) => {
  event.preventDefault();
  dropzone.classList.remove("dropzone__target--over");
  enqueue(await filesFromDrop(event.dataTransfer));
});
// A file dropped next to the zone must not make the browser leave the page.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

window.addEventListener("beforeunload", (event) => {
  if (running > 0 || queue.length > 0) event.preventDefault();
});
