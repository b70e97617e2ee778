// The project page's "Model servers" card: connect, check, pre-label, cancel, accept in bulk,
// all through the REST API; running jobs are polled until they end, then the page reloads.

import { errorMessage, request } from "../setup/api.js";

const card = document.getElementById("ml-backends");
const message = document.getElementById("ml-message");

function say(text, error = false) {
  message.textContent = text;
  message.classList.toggle("error", error);
}

async function act(method, url, body, done) {
  say("Working…");
  const result = await request(method, url, body);
  if (!result.ok) {
    say(errorMessage(result), true);
    return null;
  }
  if (done) done(result.data);
  return result;
}

if (card) {
  document.getElementById("ml-connect")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const body = {
      url: data.get("url"),
      title: data.get("title"),
      auth_header_name: data.get("auth_header_name"),
      auth_header_value: data.get("auth_header_value"),
      interactive: data.get("interactive") === "on",
    };
    if (await act("POST", card.dataset.backendsUrl, body)) window.location.reload();
  });

  card.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const action = button.dataset.action;
    if (action === "check") {
      if (await act("POST", `${row.dataset.url}/check`)) window.location.reload();
    } else if (action === "disconnect") {
      if (!window.confirm("Disconnect this model server? Its predictions stay.")) return;
      if (await act("DELETE", row.dataset.url)) window.location.reload();
    } else if (action === "prelabel") {
      const body = { backend_id: row.dataset.backend, scope: "unlabeled" };
      if (await act("POST", card.dataset.jobsUrl, body)) window.location.reload();
    } else if (action === "retry") {
      if (await act("POST", button.dataset.url)) window.location.reload();
    } else if (action === "cancel") {
      if (await act("POST", button.dataset.url)) say("Cancelling after the batches in flight…");
    }
  });

  card.addEventListener("change", async (event) => {
    if (event.target.dataset.action !== "interactive") return;
    const row = event.target.closest("tr");
    const done = await act("PATCH", row.dataset.url, { interactive: event.target.checked });
    if (done) say(event.target.checked ? "Clicks and boxes go to this server." : "Interactive mode is off.");
    else event.target.checked = !event.target.checked;
  });

  document.getElementById("ml-accept")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const body = { min_score: Number(data.get("min_score")), model_version: data.get("model_version") };
    const result = await act("POST", card.dataset.acceptUrl, body);
    if (result) {
      say("Accepting in the background…");
      pollAccept(`/api/prediction-accept-jobs/${result.data.id}`);
    }
  });
  card.dataset.ready = "true"; // its buttons answer from now on
}

async function pollAccept(url) {
  const result = await request("GET", url);
  if (!result.ok) return say(errorMessage(result), true);
  const job = result.data;
  if (job.status === "succeeded" || job.status === "failed") {
    say(job.message, job.status === "failed");
    setTimeout(() => window.location.reload(), 800);
    return;
  }
  say(`Accepted ${job.accepted} of ${job.predictions_total}…`);
  setTimeout(() => pollAccept(url), 1000);
}

async function poll(row) {
  const result = await request("GET", row.dataset.running);
  if (!result.ok) return;
  const job = result.data;
  row.querySelector('[data-field="status"]').textContent = job.status;
  row.querySelector('[data-field="status"]').className = `status status--${job.status}`;
  const progress = row.querySelector('[data-field="progress"]');
  if (progress) progress.value = job.progress;
  row.querySelector('[data-field="tasks"]').textContent =
    `${job.tasks_done} / ${job.tasks_total}${job.tasks_failed ? ` (${job.tasks_failed} failed)` : ""}`;
  row.querySelector('[data-field="predictions"]').textContent = String(job.predictions_written);
  if (!["queued", "running"].includes(job.status)) {
    window.location.reload();
    return;
  }
  setTimeout(() => poll(row), 1000);
}

for (const row of document.querySelectorAll("#ml-job-list tr[data-running]")) poll(row);
