// The project page's export panel: a direct download with the form's choices, and the
// progress of running exports, polled from the REST API until they finish.

const form = document.getElementById("export-form");
const direct = document.getElementById("export-direct");

if (form && direct) {
  direct.addEventListener("click", () => {
    const data = new FormData(form);
    const query = new URLSearchParams({ format: data.get("format") });
    const states = data.getAll("states");
    if (states.length) query.set("states", states.join(","));
    const datasets = data.getAll("datasets");
    if (datasets.length) query.set("datasets", datasets.join(","));
    for (const name of ["updated_from", "updated_to"]) {
      if (data.get(name)) query.set(name, data.get(name));
    }
    query.set("include_predictions", data.get("include_predictions") === "on" ? "true" : "false");
    window.location.href = `${direct.dataset.url}?${query}`;
  });
}

async function poll(row) {
  const response = await fetch(row.dataset.running, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const job = await response.json();
  row.querySelector('[data-field="status"]').textContent = job.status;
  const progress = row.querySelector('[data-field="progress"]');
  if (progress && job.progress !== null) progress.value = job.progress;
  row.querySelector('[data-field="tasks"]').textContent =
    job.tasks_total === null ? `${job.tasks_done}` : `${job.tasks_done} / ${job.tasks_total}`;
  if (job.status === "succeeded" || job.status === "failed") {
    delete row.dataset.running;
    if (progress) progress.remove();
    if (job.download_url) {
      const link = document.createElement("a");
      link.href = job.download_url;
      link.download = "";
      link.textContent = job.file_name;
      row.querySelector('[data-field="file"]').replaceChildren(link);
    }
    return;
  }
  setTimeout(() => poll(row), 1000);
}

for (const row of document.querySelectorAll("tr[data-running]")) poll(row);
