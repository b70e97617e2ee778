// The import job page: live progress (polling GET /api/imports/<id> while the job runs: five
// times a second for its first seconds, so that a small import shows its end at once, then
// every second), the report, the errors' first page and the preview drawn as SVG over the images.
// Text only ever goes in as textContent.

const SVG = "http://www.w3.org/2000/svg";
const RUNNING = new Set(["queued", "validating", "writing"]);
const ENDED = new Set(["succeeded", "failed", "cancelled"]);
const CANCELLABLE = new Set(["queued", "validating", "validated", "writing"]);
const SAFE_COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30}|rgba?\([0-9\s.,%]{1,40}\))$/;
const ERRORS_SHOWN = 50;

const pageData = JSON.parse(document.getElementById("import-job-data").textContent);
const pollMs = pageData.pollMs || 1000;
// A small import ends in well under a second: the first polls come quickly.
const FAST_POLL_MS = 200;
const FAST_POLLS = 15;
let polls = 0;

function nextPollMs() {
  polls += 1;
  return polls <= FAST_POLLS ? Math.min(FAST_POLL_MS, pollMs) : pollMs;
}
let job = pageData.job;
let previewDrawn = "";
let errorsShownFor = job.status;
// The page's own rate when the server does not give one: labels or items per second between polls.
const lastSample = { validation: null, writing: null };

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else node[name] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function formatSeconds(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function localRate(name, done, active) {
  const now = performance.now();
  const previous = lastSample[name];
  lastSample[name] = active ? { done, at: now, rate: previous?.rate ?? null } : null;
  if (!active || !previous || done <= previous.done) return previous?.rate ?? null;
  const rate = ((done - previous.done) * 1000) / (now - previous.at);
  // Smoothed, so that the time left does not jump at every poll.
  lastSample[name].rate = previous.rate ? 0.7 * previous.rate + 0.3 * rate : rate;
  return lastSample[name].rate;
}

function renderPhase(name, phase, unit, active) {
  const box = document.getElementById(`phase-${name}`);
  if (!box) return;
  box.querySelector('[data-field="done"]').textContent = String(phase.done);
  const ended = ENDED.has(job.status);
  box.querySelector('[data-field="total"]').textContent = phase.total === null ? (ended ? "–" : "…") : String(phase.total);
  const bar = box.querySelector("progress");
  if (phase.fraction === null) bar.removeAttribute("value");
  else bar.value = phase.fraction;
  const rate = phase.rate ?? localRate(name, phase.done, active);
  const remaining = phase.total === null ? null : Math.max(phase.total - phase.done, 0);
  const eta = phase.eta_seconds ?? (rate && remaining !== null ? remaining / rate : null);
  box.querySelector('[data-field="rate"]').textContent = active && rate ? `${rate.toFixed(rate < 10 ? 1 : 0)} ${unit}/s` : "";
  box.querySelector('[data-field="eta"]').textContent = active && eta ? `about ${formatSeconds(eta)} left` : "";
}

function renderCounts() {
  const values = { ...job.counts, items_without_media: job.summary.items_without_media };
  for (const node of document.querySelectorAll("[data-count]")) {
    const value = values[node.dataset.count];
    node.textContent = value === null || value === undefined ? "…" : String(value);
  }
  const total = document.getElementById("error-total");
  if (total) total.textContent = String(job.counts.error_count);
}

function renderWarnings() {
  const list = document.getElementById("job-warnings");
  const warnings = job.summary.warnings ?? [];
  list.hidden = !warnings.length;
  list.replaceChildren(...warnings.map((text) => el("li", { className: "message message--warning", textContent: text })));
}

function renderClasses() {
  const body = document.querySelector("#class-counts tbody");
  if (!body || !job.summary.classes.length) return;
  body.replaceChildren(
    ...job.summary.classes.map((row) =>
      el("tr", {}, [el("td", {}, [el("code", { textContent: row.key })]), el("td", { className: "num", textContent: String(row.count) })]),
    ),
  );
}

function renderStatus() {
  const badge = document.getElementById("job-status");
  badge.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
  badge.className = `status status--${job.status}`;
  badge.dataset.status = job.status;
  document.getElementById("job-message").textContent = job.message;
  document.getElementById("confirm-form").hidden = job.status !== "validated";
  document.getElementById("cancel-form").hidden = !CANCELLABLE.has(job.status) || job.cancel_requested;
}

// An error's place with a break opportunity after each "/" and ", " (as the server's
// location_breaks filter): a long JSON pointer wraps between its parts, never mid-word.
function locationParts(location) {
  const parts = [];
  for (const piece of String(location).split(/(?<=\/|, )/)) parts.push(piece, el("wbr"));
  parts.pop();
  return parts;
}

async function renderErrors() {
  // Once validation has ended, show the first page of errors (the server rendered the page earlier).
  if (errorsShownFor === job.status || RUNNING.has(job.status) || !job.counts.error_count) return;
  errorsShownFor = job.status;
  if (document.getElementById("error-table")) return;
  const response = await fetch(`${job.links.errors}?limit=${ERRORS_SHOWN}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) return;
  const page = await response.json();
  const table = el("table", { className: "table table--compact", id: "error-table" }, [
    el("thead", {}, [el("tr", {}, ["Item", "Location", "Code", "Message"].map((title) => el("th", { textContent: title })))]),
    el(
      "tbody",
      {},
      page.results.map((error) =>
        el("tr", {}, [
          el("td", { className: "num", textContent: error.item === null ? "–" : String(error.item) }),
          el("td", { className: "location" }, [el("code", {}, locationParts(error.location))]),
          el("td", {}, [el("code", { textContent: error.code })]),
          el("td", { textContent: error.message }),
        ]),
      ),
    ),
  ]);
  const section = document.getElementById("errors");
  document.getElementById("no-errors")?.remove();
  const link = el("p", {}, [el("a", { href: job.links.errors_csv, textContent: "Download all as CSV", id: "errors-csv" })]);
  const more = page.count > ERRORS_SHOWN ? el("p", { className: "muted small", textContent: `The first ${ERRORS_SHOWN} of ${page.count} are shown; reload the page to page through them.` }) : null;
  section.append(...[link, table, more].filter(Boolean));
}

// --- the preview -------------------------------------------------------------------------

function pointsAttribute(points) {
  return points.map(([x, y]) => `${Number(x)},${Number(y)}`).join(" ");
}

function bounds(item) {
  let maxX = 1;
  let maxY = 1;
  const visit = (value) => {
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === "number") {
      maxX = Math.max(maxX, value[0]);
      maxY = Math.max(maxY, value[1]);
    } else if (Array.isArray(value)) value.forEach(visit);
  };
  item.shapes.forEach((shape) => visit(shape.points));
  return [Math.ceil(maxX * 1.05), Math.ceil(maxY * 1.05)];
}

function drawShape(group, shape, scale) {
  const color = SAFE_COLOR.test(shape.color) ? shape.color : "#e6194b";
  const stroke = { stroke: color, "stroke-width": 2 * scale, fill: "none", "vector-effect": "non-scaling-stroke" };
  const points = shape.points;
  let anchor = null;
  if (shape.type === "rectangle" && points.length === 2) {
    const [[x1, y1], [x2, y2]] = points;
    const [left, top] = [Math.min(x1, x2), Math.min(y1, y2)];
    // A turned box turns about its top-left corner, clockwise on screen, as SVG's rotate does.
    const turn = Number(shape.rotation) ? { transform: `rotate(${Number(shape.rotation)} ${left} ${top})` } : {};
    group.append(svg("rect", { x: left, y: top, width: Math.abs(x2 - x1), height: Math.abs(y2 - y1), ...stroke, ...turn }));
    anchor = [Math.min(x1, x2), Math.min(y1, y2)];
  } else if (shape.type === "polygon") {
    group.append(svg("polygon", { points: pointsAttribute(points), ...stroke, fill: color, "fill-opacity": 0.15 }));
    anchor = points[0];
  } else if (shape.type === "line") {
    group.append(svg("polyline", { points: pointsAttribute(points), ...stroke }));
    anchor = points[0];
  } else if (shape.type === "point" && points.length) {
    const [x, y] = points[0];
    group.append(svg("circle", { cx: x, cy: y, r: 5 * scale, fill: color, stroke: "#fff", "stroke-width": scale }));
    anchor = [x + 6 * scale, y];
  } else if (shape.type === "segmentation") {
    for (const polygon of points) group.append(svg("polygon", { points: pointsAttribute(polygon), ...stroke, fill: color, "fill-opacity": 0.3 }));
    anchor = points[0]?.[0] ?? null;
  }
  if (anchor) {
    const label = svg("text", { x: anchor[0], y: Math.max(anchor[1] - 4 * scale, 12 * scale), fill: color, "font-size": 13 * scale, class: "preview__key" });
    label.textContent = shape.key;
    group.append(label);
  }
}

function drawPreviewItem(item) {
  const figure = el("figure", { className: "preview__item", dataset: { item: String(item.item) } });
  const canvas = svg("svg", { class: "preview__svg", role: "img", "aria-label": `Item ${item.item}: ${item.shape_count} labels` });
  const draw = (width, height) => {
    const scale = Math.max(width, height) / 600;
    canvas.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const shapes = svg("g");
    item.shapes.forEach((shape) => drawShape(shapes, shape, scale));
    canvas.append(shapes);
  };
  if (item.image_url) {
    const image = svg("image", { href: item.image_url, x: 0, y: 0, preserveAspectRatio: "none" });
    canvas.append(image);
    if (item.width && item.height) {
      image.setAttribute("width", item.width);
      image.setAttribute("height", item.height);
      draw(item.width, item.height);
    } else {
      // The media's size is not recorded: read it from the image itself.
      const probe = new Image();
      probe.onload = () => {
        image.setAttribute("width", probe.naturalWidth);
        image.setAttribute("height", probe.naturalHeight);
        draw(probe.naturalWidth, probe.naturalHeight);
      };
      probe.onerror = () => draw(...bounds(item));
      probe.src = item.image_url;
    }
  } else {
    // No image to show (a media the import will create from an unsafe or unknown source): a
    // placeholder that says so, the labels drawn over it.
    const [width, height] = item.width && item.height ? [item.width, item.height] : bounds(item);
    canvas.append(svg("rect", { x: 0, y: 0, width: "100%", height: "100%", fill: "#e9ecef", class: "preview__placeholder" }));
    const note = svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#495057", "font-size": Math.max(width, height) / 30, class: "preview__note" });
    note.textContent = item.image_note || "Image not known yet.";
    canvas.append(note);
    draw(width, height);
  }
  const caption = el("figcaption", {
    textContent: `Item ${item.item} · ${item.media_name || item.media_id} · ${item.shape_count} label${item.shape_count === 1 ? "" : "s"}${item.truncated ? " (the first ones drawn)" : ""}`,
  });
  figure.append(canvas, caption);
  return figure;
}

function renderPreview() {
  const preview = job.summary.preview;
  const key = JSON.stringify(preview.map((item) => [item.item, item.image_url]));
  if (!preview.length || key === previewDrawn) return;
  previewDrawn = key;
  document.getElementById("preview").replaceChildren(...preview.map(drawPreviewItem));
}

// --- polling -----------------------------------------------------------------------------

function render() {
  renderStatus();
  renderCounts();
  renderWarnings();
  renderClasses();
  renderPhase("validation", job.progress.validation, "items", job.status === "validating");
  renderPhase("writing", job.progress.writing, "labels", job.status === "writing");
  renderPreview();
  renderErrors();
}

let confirmed = false;

function shouldPoll() {
  // A confirmed (or write-when-valid) job stays "validated" until a worker takes it up.
  return RUNNING.has(job.status) || (job.status === "validated" && (confirmed || job.options.write_when_valid));
}

async function poll() {
  try {
    const response = await fetch(pageData.apiUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.ok) {
      job = await response.json();
      render();
    }
  } catch {
    // A missed poll is retried at the next tick.
  }
  if (shouldPoll()) setTimeout(poll, nextPollMs());
}

// Confirm and Cancel call the API and keep the page; without the script they post the forms.
function actOnSubmit(formId, url, onDone) {
  const form = document.getElementById(formId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    let data = null;
    try {
      const response = await fetch(url, { method: "POST", headers: { Accept: "application/json", "X-CSRFToken": token }, credentials: "same-origin" });
      data = await response.json();
      if (response.ok) {
        job = data;
        onDone();
      } else {
        document.getElementById("job-message").textContent = data?.error?.message ?? "The request failed; try again.";
      }
    } catch {
      document.getElementById("job-message").textContent = "No answer from the server; try again.";
    }
    button.disabled = false;
    render();
    if (shouldPoll()) setTimeout(poll, nextPollMs());
  });
}

actOnSubmit("confirm-form", job.links.confirm, () => {
  confirmed = true;
  polls = 0; // the write of a small job ends at once too
});
actOnSubmit("cancel-form", job.links.cancel, () => {});
render();
if (shouldPoll()) setTimeout(poll, nextPollMs());
