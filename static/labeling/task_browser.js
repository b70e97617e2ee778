// The task browser (the project's Tasks page): a table over GET /api/projects/{id}/tasks with
// a filter row, sorting by the column heads, paging, search, a column chooser, saved views and,
// for admins, bulk actions on the checked rows or on every task the filters match (those run as
// a background job whose progress is polled). The page's query string is the API's query.

import { trapTab } from "./dom.js";

const data = JSON.parse(document.getElementById("task-browser-data").textContent);
const $ = (id) => document.getElementById(id);
const PAGE = data.pageSize;
const COLUMNS_KEY = `labelsite.taskBrowser.columns.${data.projectId}`;
const choices = data.choices;

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") element.textContent = value;
    else if (name === "className") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const dash = () => h("span", { className: "muted", text: "—" });
const when = (value) => (value ? value.replace("T", " ").slice(0, 16) : "");
const userOptions = (extra = true) => [
  h("option", { value: "", text: "Anyone" }),
  ...(extra ? [h("option", { value: "me", text: "Me" }), h("option", { value: "none", text: "Nobody" })] : []),
  ...choices.users.map((user) => h("option", { value: String(user.id), text: user.username })),
];

// --- the columns ---------------------------------------------------------------------------------
// Each: its id, head, whether shown by default, its sort (if any), its filter cell, its value cell.

function selectFilter(name, options) {
  return () => h("select", { "data-filter": name, "aria-label": `Filter ${name}` }, options());
}
function textFilter(name, placeholder = "contains…") {
  return () => h("input", { type: "search", "data-filter": name, placeholder, "aria-label": `Filter ${name}`, maxlength: 200 });
}

const COLUMNS = [
  {
    id: "image", head: "Image", shown: true,
    cell: (task) => h("img", { className: "tb-thumb", src: task.thumbnail_url, alt: "", loading: "lazy", width: 64, height: 48 }),
  },
  {
    id: "name", head: "Name", shown: true, sort: "name", filter: textFilter("name"),
    cell: (task) => h("a", { href: data.urls.taskLabel.replace("{id}", task.id), text: task.media.name, className: "tb-name" }),
  },
  {
    id: "state", head: "State", shown: true, sort: "state",
    filter: selectFilter("state", () => [h("option", { value: "", text: "Any state" }), ...choices.states.map((s) => h("option", { value: s.value, text: s.label }))]),
    cell: (task) => h("span", { className: `state state--${task.state}`, text: (choices.states.find((s) => s.value === task.state) || {}).label || task.state }),
  },
  {
    id: "assignee", head: "Assignee", shown: true, sort: "assignee", filter: selectFilter("assignee", userOptions),
    cell: (task) => (task.assignee ? task.assignee.username : dash()),
  },
  {
    id: "holder", head: "Held by", shown: true, filter: selectFilter("holder", userOptions),
    cell: (task) => holderCell(task), attributes: { "data-holder": true },
  },
  {
    id: "completed_by", head: "Completed by", shown: true, sort: "completed_by", filter: selectFilter("completed_by", userOptions),
    cell: (task) => (task.completed_by ? [task.completed_by.username, " ", h("span", { className: "muted small", text: when(task.completed_at) })] : dash()),
    attributes: { "data-completed-by": true },
  },
  {
    id: "reviewed_by", head: "Reviewed by", shown: false, filter: selectFilter("reviewed_by", userOptions),
    cell: (task) => (task.reviewed_by ? [task.reviewed_by.username, " ", h("span", { className: "muted small", text: task.review_verdict })] : dash()),
  },
  {
    id: "labels", head: "Labels", shown: true,
    filter: () => h("span", { className: "tb-pair" },
      h("select", { "data-filter": "label_class", "aria-label": "Filter by class" }, h("option", { value: "", text: "Any class" }), choices.classes.map((c) => h("option", { value: c.key, text: c.title }))),
      h("input", { type: "number", min: 0, "data-filter": "class_min", placeholder: "min", "aria-label": "At least this many labels of the class", className: "tb-num" })),
    cell: (task) => {
      // In the configuration's order of classes.
      const order = (key) => { const index = choices.classes.findIndex((c) => c.key === key); return index < 0 ? 1e9 : index; };
      const counts = Object.entries(task.label_counts).sort(([a], [b]) => order(a) - order(b));
      if (!counts.length) return dash();
      return counts.map(([key, n]) => {
        const entry = choices.classes.find((c) => c.key === key);
        return h("span", { className: "badge tb-count", title: entry ? entry.title : key },
          h("span", { className: "tb-swatch", "data-color": entry ? entry.color : "" }), `${entry ? entry.title : key} ${n}`);
      });
    },
  },
  {
    id: "predictions", head: "Predictions", shown: true, sort: "score",
    filter: () => h("span", { className: "tb-pair" },
      h("select", { "data-filter": "has_predictions", "aria-label": "Filter by predictions" }, h("option", { value: "", text: "Any" }), h("option", { value: "true", text: "Some" }), h("option", { value: "false", text: "None" })),
      h("input", { type: "number", step: "0.05", "data-filter": "score_min", placeholder: "score ≥", "aria-label": "A prediction scored at least", className: "tb-num" }),
      h("input", { type: "text", "data-filter": "model_version", placeholder: "model version", "aria-label": "Predictions of the model version", maxlength: "128", className: "tb-version" })),
    cell: (task) => {
      const p = task.predictions;
      if (!p.count) return dash();
      const score = p.score_min === null ? "" : p.score_min === p.score_max ? ` · ${p.score_min.toFixed(2)}` : ` · ${p.score_min.toFixed(2)}–${p.score_max.toFixed(2)}`;
      return `${p.count}${score}`;
    },
  },
  {
    id: "import_job", head: "Import job", shown: false, filter: textFilter("import_job", "job id"),
    cell: (task) => (task.import_job_ids.length ? task.import_job_ids.map((id) => h("a", { href: `/imports/${id}/`, text: id.slice(0, 8), className: "tb-job", title: id })) : dash()),
  },
  {
    id: "dataset", head: "Dataset", shown: false, sort: "dataset",
    filter: selectFilter("dataset", () => [h("option", { value: "", text: "Any dataset" }), ...choices.datasets.map((d) => h("option", { value: d.id, text: d.name }))]),
    cell: (task) => task.dataset.name,
  },
  { id: "global_key", head: "Global key", shown: false, sort: "global_key", filter: textFilter("global_key"), cell: (task) => task.media.global_key || dash() },
  { id: "external_id", head: "External id", shown: false, sort: "external_id", filter: textFilter("external_id"), cell: (task) => task.media.external_id || dash() },
  ...choices.metaFields.map((field) => ({
    id: `meta.${field}`, head: field, shown: false, filter: textFilter(`meta.${field}`),
    cell: (task) => {
      const value = (task.media.metadata || {})[field];
      return value === undefined ? dash() : typeof value === "string" ? value : JSON.stringify(value);
    },
  })),
  {
    id: "updated", head: "Updated", shown: true, sort: "updated",
    filter: () => h("input", { type: "date", "data-filter": "updated_from", "aria-label": "Updated on or after" }),
    cell: (task) => h("span", { className: "muted small", text: when(task.updated_at) }),
  },
];

// --- state ---------------------------------------------------------------------------------------

const state = {
  query: { ...data.query },
  offset: 0,
  count: data.first.count,
  // Cursors of the pages after and before this one: a keyset seek, as fast deep in the list as at its start.
  cursors: { next: data.first.next_cursor, previous: data.first.previous_cursor },
  rows: data.first.results,
  checked: new Set(),
  views: data.views,
  viewId: "",
  shown: loadColumns(),
  job: null,
};

function loadColumns() {
  try {
    const saved = JSON.parse(window.localStorage.getItem(COLUMNS_KEY) || "null");
    if (Array.isArray(saved)) return new Set(saved);
  } catch (error) {
    // A broken saved value: the defaults.
  }
  return new Set(COLUMNS.filter((column) => column.shown).map((column) => column.id));
}

function saveColumns() {
  window.localStorage.setItem(COLUMNS_KEY, JSON.stringify([...state.shown]));
}

function queryString(extra = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...state.query, ...extra })) {
    if (value === "" || value === null || value === undefined) continue;
    if (Array.isArray(value)) value.forEach((item) => params.append(name, item));
    else params.set(name, value);
  }
  return params.toString();
}

async function api(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRFToken"] = data.csrfToken;
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (json && json.error) || {};
    const details = (error.details || []).map((d) => `${d.path}: ${d.message}`).join("; ");
    throw new Error(`${error.message || response.statusText}${details ? ` (${details})` : ""}`);
  }
  return json;
}

function say(message, kind = "info") {
  const box = $("tb-message") || h("p", { id: "tb-message", role: "status" });
  box.className = `message ${kind === "error" ? "message--error" : ""}`;
  box.textContent = message;
  if (!box.isConnected) $("tb-toolbar").after(box);
}

// --- loading -------------------------------------------------------------------------------------

let loading = 0;
async function load({ keepChecked = false, cursor = "" } = {}) {
  const ticket = ++loading;
  const url = `${data.urls.tasks}?${queryString({ limit: PAGE, offset: state.offset, cursor })}`;
  document.body.dataset.loading = "true";
  try {
    const page = await api(url);
    if (ticket !== loading) return;
    state.rows = page.results;
    state.count = page.count;
    state.cursors = { next: page.next_cursor, previous: page.previous_cursor };
    if (!keepChecked) state.checked.clear();
    const address = queryString();
    window.history.replaceState(null, "", `${window.location.pathname}${address ? `?${address}` : ""}`);
    render();
  } catch (error) {
    if (ticket === loading) say(error.message, "error");
  } finally {
    if (ticket === loading) document.body.dataset.loading = "false";
  }
}

function setQuery(name, value) {
  if (value === "" || value === null) delete state.query[name];
  else state.query[name] = value;
  state.offset = 0;
  load();
}

// --- rendering -----------------------------------------------------------------------------------

function visibleColumns() {
  return COLUMNS.filter((column) => state.shown.has(column.id));
}

function holderCell(task) {
  const holder = task.holder;
  if (!holder || holder.kind !== "reserved") return dash();
  const until = new Date(holder.until);
  const parts = [h("span", { title: `Reserved until ${holder.until}`, text: holder.username }), " ",
    h("span", { className: "muted small", text: `until ${until.toTimeString().slice(0, 5)}` })];
  if (data.canRelease) {
    parts.push(" ", h("button", {
      type: "button", className: "button button--small", "data-release": true, text: "Release",
      onclick: async () => {
        try {
          await api(data.urls.release.replace("{id}", task.id), { method: "POST" });
          say(`Released ${task.media.name} from ${holder.username}.`);
          load({ keepChecked: true });
        } catch (error) {
          say(error.message, "error");
        }
      },
    }));
  }
  return parts;
}

function renderHead() {
  const sort = state.query.sort || "created";
  const head = $("tb-head");
  const filters = $("tb-filters");
  head.replaceChildren();
  filters.replaceChildren();
  if (data.canBulk) {
    const all = h("input", { type: "checkbox", id: "tb-check-page", "aria-label": "Check every task of this page",
      onchange: (event) => {
        for (const task of state.rows) event.target.checked ? state.checked.add(task.id) : state.checked.delete(task.id);
        renderBody();
        renderBulk();
      } });
    head.append(h("th", { className: "tb-check" }, all));
    filters.append(h("th", { className: "tb-check" }));
  }
  for (const column of visibleColumns()) {
    let title = column.head;
    if (column.sort) {
      const active = sort.replace(/^-/, "") === column.sort;
      const descending = active && sort.startsWith("-");
      title = h("button", {
        type: "button", className: "tb-sort", "data-sort": column.sort,
        "aria-label": `Sort by ${column.head}`,
        onclick: () => setQuery("sort", active && !descending ? `-${column.sort}` : column.sort),
      }, column.head, active ? (descending ? " ▼" : " ▲") : "");
    }
    head.append(h("th", { "data-column": column.id, "aria-sort": column.sort && sort.replace(/^-/, "") === column.sort ? (sort.startsWith("-") ? "descending" : "ascending") : null }, title));
    const cell = h("th", { "data-column": column.id });
    if (column.filter) {
      const control = column.filter();
      for (const input of control.matches("[data-filter]") ? [control] : control.querySelectorAll("[data-filter]")) {
        const name = input.dataset.filter;
        const current = state.query[name];
        input.value = Array.isArray(current) ? current[0] : current || "";
        const apply = () => setQuery(name, input.value.trim());
        input.addEventListener("change", apply);
        if (input.type === "search") input.addEventListener("keydown", (event) => { if (event.key === "Enter") apply(); });
      }
      cell.append(control);
    }
    filters.append(cell);
  }
}

function renderBody() {
  const body = $("tb-body");
  body.replaceChildren(...state.rows.map((task) => {
    const row = h("tr", { "data-task": task.id });
    if (data.canBulk) {
      row.append(h("td", { className: "tb-check" }, h("input", {
        type: "checkbox", "aria-label": `Check ${task.media.name}`, checked: state.checked.has(task.id),
        onchange: (event) => {
          event.target.checked ? state.checked.add(task.id) : state.checked.delete(task.id);
          renderBulk();
        },
      })));
    }
    for (const column of visibleColumns()) row.append(h("td", { "data-column": column.id, ...(column.attributes || {}) }, column.cell(task)));
    return row;
  }));
  for (const swatch of body.querySelectorAll(".tb-swatch[data-color]")) swatch.style.background = swatch.dataset.color || "#999";
  $("tb-empty").hidden = state.rows.length > 0;
  const pageCheck = $("tb-check-page");
  if (pageCheck) pageCheck.checked = state.rows.length > 0 && state.rows.every((task) => state.checked.has(task.id));
}

function renderPager() {
  const pages = Math.max(1, Math.ceil(state.count / PAGE));
  const page = Math.floor(state.offset / PAGE) + 1;
  $("tb-page").textContent = `Page ${page} of ${pages} · ${state.count} task${state.count === 1 ? "" : "s"}`;
  $("tb-prev").disabled = state.offset === 0;
  $("tb-first").disabled = state.offset === 0;
  $("tb-next").disabled = state.offset + PAGE >= state.count;
  $("tb-last").disabled = state.offset + PAGE >= state.count;
  $("tb-count").textContent = `${state.count} matching`;
}

function renderBulk() {
  if (!data.canBulk) return;
  $("tb-bulk").hidden = false;
  $("tb-selected").textContent = `${state.checked.size} checked`;
  $("tb-all-count").textContent = String(state.count);
  const action = $("tb-action").value;
  $("tb-users").hidden = action !== "assign";
  $("tb-state-field").hidden = action !== "set_state";
  $("tb-format-field").hidden = action !== "export";
}

function render() {
  renderHead();
  renderBody();
  renderPager();
  renderBulk();
  renderViews();
  $("tb-search").value = state.query.search || "";
}

// --- columns, views ------------------------------------------------------------------------------

function renderColumnChooser() {
  $("tb-columns-list").replaceChildren(...COLUMNS.map((column) => h("label", { className: "tb-inline" },
    h("input", { type: "checkbox", value: column.id, checked: state.shown.has(column.id), onchange: (event) => {
      event.target.checked ? state.shown.add(column.id) : state.shown.delete(column.id);
      saveColumns();
      render();
    } }), ` ${column.head}`)));
}

function renderViews() {
  const select = $("tb-view");
  select.replaceChildren(h("option", { value: "", text: "—" }), ...state.views.map((view) =>
    h("option", { value: view.id, text: `${view.name}${view.shared ? " (shared)" : ""}` })));
  select.value = state.viewId;
  const view = state.views.find((each) => each.id === state.viewId);
  $("tb-view-delete").hidden = !view || (!view.mine && !(view.shared && data.canShare));
}

$("tb-view").addEventListener("change", (event) => {
  state.viewId = event.target.value;
  const view = state.views.find((each) => each.id === state.viewId);
  if (view) {
    state.query = { ...view.query };
    if (view.columns.length) {
      state.shown = new Set(view.columns);
      saveColumns();
      renderColumnChooser();
    }
  }
  state.offset = 0;
  load();
});

$("tb-view-save").addEventListener("click", () => {
  $("tb-save-shared-field").hidden = !data.canShare;
  $("tb-save-name").value = "";
  $("tb-save-dialog").showModal();
});

$("tb-save-dialog").addEventListener("close", async () => {
  if ($("tb-save-dialog").returnValue !== "ok") return;
  const name = $("tb-save-name").value.trim();
  if (!name) return;
  const query = { ...state.query };
  try {
    const view = await api(data.urls.views, { method: "POST", body: { name, shared: data.canShare && $("tb-save-shared").checked, query, columns: [...state.shown] } });
    state.views.push({ id: view.id, name: view.name, shared: view.shared, mine: true, query: view.query, columns: view.columns });
    state.views.sort((a, b) => Number(b.shared) - Number(a.shared) || a.name.localeCompare(b.name));
    state.viewId = view.id;
    renderViews();
    say(`Saved the view "${view.name}".`);
  } catch (error) {
    say(error.message, "error");
  }
});

$("tb-view-delete").addEventListener("click", async () => {
  const view = state.views.find((each) => each.id === state.viewId);
  if (!view || !(await confirmed(`Delete the view "${view.name}"?`))) return;
  try {
    await api(data.urls.view.replace("{id}", view.id), { method: "DELETE" });
    state.views = state.views.filter((each) => each.id !== view.id);
    state.viewId = "";
    renderViews();
  } catch (error) {
    say(error.message, "error");
  }
});

// --- search, paging, reset -----------------------------------------------------------------------

let searchTimer = 0;
$("tb-search").addEventListener("input", (event) => {
  window.clearTimeout(searchTimer);
  searchTimer = window.setTimeout(() => setQuery("search", event.target.value.trim()), 300);
});
$("tb-prev").addEventListener("click", () => {
  state.offset = Math.max(0, state.offset - PAGE);
  load({ keepChecked: true, cursor: state.cursors.previous || "" });
});
$("tb-next").addEventListener("click", () => {
  state.offset += PAGE;
  load({ keepChecked: true, cursor: state.cursors.next || "" });
});
// The first and the last page by offset: the server reads the last one from the end of the list.
$("tb-first").addEventListener("click", () => { state.offset = 0; load({ keepChecked: true }); });
$("tb-last").addEventListener("click", () => {
  state.offset = Math.max(0, (Math.ceil(state.count / PAGE) - 1) * PAGE);
  load({ keepChecked: true });
});
$("tb-reset").addEventListener("click", () => {
  state.query = state.query.sort ? { sort: state.query.sort } : {};
  state.viewId = "";
  state.offset = 0;
  load();
});

// --- bulk actions --------------------------------------------------------------------------------

function confirmed(text) {
  const dialog = $("tb-confirm");
  $("tb-confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

const DESTRUCTIVE = new Set(["delete_labels", "delete_predictions", "unassign", "set_state", "send_to_review"]);

function resolvedQuery() {
  // "me" becomes the user's id: an export or a job runs later, for whoever reads it.
  const query = {};
  for (const [name, value] of Object.entries(state.query)) {
    query[name] = value === "me" ? String(data.userId) : value;
  }
  return query;
}

async function pollJob(job) {
  $("tb-progress").hidden = false;
  const bar = $("tb-progress-bar");
  const text = $("tb-progress-text");
  let current = job;
  for (;;) {
    if (current.progress !== null) bar.value = current.progress;
    const total = current.total === null ? "…" : current.total;
    text.textContent = `${current.action.replace(/_/g, " ")}: ${current.done} of ${total} tasks · ${current.status}`;
    $("tb-progress").dataset.status = current.status;
    if (current.status === "succeeded" || current.status === "failed") break;
    await new Promise((resolve) => window.setTimeout(resolve, 700));
    current = await api(data.urls.bulkJob.replace("{id}", current.id));
  }
  if (current.status === "failed") say(current.message, "error");
  else say(`Done: ${current.action.replace(/_/g, " ")} on ${current.done} tasks.`);
  load();
}

async function pollExport(job) {
  $("tb-progress").hidden = false;
  let current = job;
  for (;;) {
    if (current.progress !== null) $("tb-progress-bar").value = current.progress;
    $("tb-progress-text").textContent = `Export ${current.format}: ${current.tasks_done} of ${current.tasks_total ?? "…"} tasks · ${current.status}`;
    $("tb-progress").dataset.status = current.status;
    if (current.status === "succeeded" || current.status === "failed") break;
    await new Promise((resolve) => window.setTimeout(resolve, 1000));
    current = await api(data.urls.exportJob.replace("{id}", current.id));
  }
  if (current.download_url) {
    $("tb-progress-text").append(" · ", h("a", { href: current.download_url, download: "", id: "tb-export-download", text: current.file_name }));
  } else if (current.status === "failed") say(current.message, "error");
}

$("tb-action").addEventListener("change", renderBulk);

$("tb-apply").addEventListener("click", async () => {
  const action = $("tb-action").value;
  const all = $("tb-scope-all").checked;
  const ids = [...state.checked];
  if (!all && !ids.length) {
    say("Check some tasks first, or choose all tasks matching the filters.", "error");
    return;
  }
  const count = all ? state.count : ids.length;
  const scope = all ? `all ${count} tasks matching the filters` : `${count} checked task${count === 1 ? "" : "s"}`;
  if (action === "export") {
    const filters = all ? { tasks: resolvedQuery(), include_predictions: true } : { task_ids: ids, include_predictions: true };
    try {
      const job = await api(data.urls.exports, { method: "POST", body: { format: $("tb-format").value, filters } });
      say(`Exporting ${scope}.`);
      pollExport(job);
    } catch (error) {
      say(error.message, "error");
    }
    return;
  }
  const params = {};
  if (action === "assign") {
    params.user_ids = [...$("tb-users-list").querySelectorAll("input:checked")].map((input) => Number(input.value));
    if (!params.user_ids.length) {
      say("Choose whom to assign to.", "error");
      return;
    }
  }
  if (action === "set_state") params.state = $("tb-state").value;
  const label = $("tb-action").selectedOptions[0].textContent.replace("…", "").toLowerCase();
  if ((DESTRUCTIVE.has(action) || all) && !(await confirmed(`${label[0].toUpperCase()}${label.slice(1)}: ${scope}?${action.startsWith("delete") ? " This cannot be undone." : ""}`))) return;
  const body = all ? { action, params, filter: resolvedQuery() } : { action, params, task_ids: ids };
  try {
    $("tb-apply").disabled = true;
    const result = await api(data.urls.bulk, { method: "POST", body });
    if (result.status) {
      await pollJob(result);
    } else {
      say(`Done: ${label} on ${result.tasks} task${result.tasks === 1 ? "" : "s"}.`);
      load();
    }
  } catch (error) {
    say(error.message, "error");
  } finally {
    $("tb-apply").disabled = false;
  }
});

async function setUpBulk() {
  if (!data.canBulk) {
    $("tb-bulk").remove();
    return;
  }
  $("tb-users-list").replaceChildren(...choices.users.map((user) => h("label", { className: "tb-inline" },
    h("input", { type: "checkbox", value: String(user.id), "data-user": user.username }), ` ${user.username}`)));
  $("tb-state").replaceChildren(...choices.states.map((s) => h("option", { value: s.value, text: s.label })));
  if (data.canExport) {
    try {
      const formats = await api(data.urls.exportFormats);
      $("tb-format").replaceChildren(...formats.map((f) => h("option", { value: f.name, text: f.label })));
    } catch (error) {
      $("tb-action").querySelector('option[value="export"]').remove();
    }
  }
}

renderColumnChooser();
render();
setUpBulk().then(() => {
  document.body.dataset.ready = "true";
});

// The two dialogs wait for an answer: Tab and Shift+Tab stay inside them.
for (const id of ["tb-confirm", "tb-save-dialog"]) $(id).addEventListener("keydown", (event) => trapTab($(id), event));
