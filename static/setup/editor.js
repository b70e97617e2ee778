// The label configuration editor: a tree of entries checked by the server as they are typed.
//
// The rules live in the service only: each change is sent (debounced) to the validate endpoint,
// and every problem it names (path like "entries[2].children[0].key") is shown at its field.
// Saving goes through the endpoint that keeps labels and answers 409 with what would be lost.

import { errorMessage, request } from "./api.js";
import { fromAnyForm, isGeometry, toDatagym, toLabelsite } from "./forms.js";
import { renderPreview } from "./preview.js";

const config = JSON.parse(document.getElementById("editor-config").textContent);
const $ = (id) => document.getElementById(id);
const tree = $("entry-tree");
const statusEl = $("editor-status");
const saveButton = $("save-config");
const VALIDATE_DELAY_MS = 300;

let entries = fromAnyForm(config.entries);
let problems = [];
let dirty = false;
let checking = 0;
// The image key of a Label Studio XML config loaded here, saved with the entries (null: unchanged).
let imageField = null;
let validateTimer = null;
let checkedVersion = 0;
let version = 0;
// Entries folded in the tree (by object, so a fold survives re-rendering and moves).
const folded = new WeakSet();
// The entry being dragged: its sibling list and index.
let dragging = null;

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function blankEntry(parent) {
  const question = parent && !isGeometry(parent.type);
  return {
    key: "",
    title: "",
    type: question || parent ? "select" : "rectangle",
    schema_id: null,
    color: "",
    shortcut: "",
    required: false,
    rotatable: false,
    max_length: null,
    options: [],
    children: [],
  };
}

// --- rendering -----------------------------------------------------------------------------

function field(label, input, path, name) {
  const problem = el("span", { class: "problem", "data-problem": `${path}.${name}`, role: "alert" });
  return el("label", { class: `field field--${name}` }, el("span", { text: label }), input, problem);
}

function input(entry, name, attributes, path) {
  const node = el("input", { ...attributes, name, "data-field": `${path}.${name}` });
  const value = entry[name];
  if (attributes.type === "checkbox") node.checked = Boolean(value);
  else node.value = value == null ? "" : String(value);
  node.addEventListener("input", () => {
    if (attributes.type === "checkbox") entry[name] = node.checked;
    else if (attributes.type === "number") entry[name] = node.value === "" ? null : Number(node.value);
    else entry[name] = node.value;
    changed(false);
  });
  return node;
}

function renderEntry(entry, siblings, index, path, parent) {
  const geometry = isGeometry(entry.type);
  const typeSelect = el("select", { name: "type", "data-field": `${path}.type`, "aria-label": "Type" });
  for (const type of config.types) {
    const option = el("option", { value: type.value, text: type.label });
    option.selected = type.value === entry.type;
    typeSelect.append(option);
  }
  typeSelect.addEventListener("change", () => {
    entry.type = typeSelect.value;
    if (entry.type === "freetext" && entry.max_length == null) entry.max_length = 255;
    if (entry.type !== "rectangle") entry.rotatable = false;
    changed(true);
  });

  const isFolded = folded.has(entry);
  const fold = el("button", {
    type: "button",
    class: "button button--quiet node__fold",
    "aria-expanded": isFolded ? "false" : "true",
    "aria-label": `${isFolded ? "Unfold" : "Fold"} ${entry.title || entry.key || "entry"}`,
    text: isFolded ? "▸" : "▾",
    onclick: () => {
      if (folded.has(entry)) folded.delete(entry);
      else folded.add(entry);
      render();
      tree.querySelector(`[data-path="${CSS.escape(path)}"] > .node__head .node__fold`)?.focus();
    },
  });
  const handle = el("span", { class: "node__handle", title: "Drag to move (or use Up and Down)", "aria-hidden": "true", text: "⠿" });
  const head = el(
    "div",
    { class: "node__head" },
    handle,
    fold,
    el("span", { class: `type type--${entry.type}`, text: geometry ? "class" : "question" }),
    field("Type", typeSelect, path, "type"),
    field("Key", input(entry, "key", { type: "text", maxlength: 80, autocomplete: "off" }, path), path, "key"),
    field("Title", input(entry, "title", { type: "text", maxlength: 200 }, path), path, "title"),
  );
  const details = el("div", { class: "node__details" });
  if (geometry) {
    details.append(
      field("Colour", colourInput(entry, path), path, "color"),
    );
  }
  details.append(
    field("Shortcut", input(entry, "shortcut", { type: "text", maxlength: 3, size: 2 }, path), path, "shortcut"),
  );
  if (!geometry) {
    details.append(field("Required", input(entry, "required", { type: "checkbox" }, path), path, "required"));
  }
  if (entry.type === "rectangle") {
    // Lets annotators turn this class's boxes (handle, [ and ] keys); only rectangles turn.
    details.append(field("Rotatable", input(entry, "rotatable", { type: "checkbox" }, path), path, "rotatable"));
  }
  if (entry.type === "freetext") {
    details.append(
      field("Max length", input(entry, "max_length", { type: "number", min: 1, max: 255 }, path), path, "max_length"),
    );
  }
  details.append(el("span", { class: "problem", "data-problem": `${path}.schema_id`, role: "alert" }));
  details.append(el("span", { class: "muted small schema-id", text: entry.schema_id ? `id ${entry.schema_id}` : "new" }));

  const actions = el(
    "div",
    { class: "node__actions" },
    el("button", { type: "button", class: "button button--quiet", text: "Up", "aria-label": "Move up", disabled: index === 0, onclick: () => move(siblings, index, -1) }),
    el("button", { type: "button", class: "button button--quiet", text: "Down", "aria-label": "Move down", disabled: index === siblings.length - 1, onclick: () => move(siblings, index, 1) }),
    el("button", { type: "button", class: "button button--quiet add-child", text: geometry ? "Add nested" : "Add follow-up", onclick: () => { entry.children.push(blankEntry(entry)); changed(true, true); } }),
    el("button", { type: "button", class: "button button--quiet remove", text: "Remove", onclick: () => { siblings.splice(index, 1); changed(true); } }),
  );

  const node = el("li", { class: `node${isFolded ? " node--folded" : ""}`, "data-path": path }, head);
  dragAndDrop(node, handle, siblings, index);
  if (isFolded) {
    // Folded: one line that says what is inside; its problems still show (on the entry).
    const inside = entry.children.length ? ` · ${entry.children.length} nested` : "";
    const options = entry.options.length ? ` · ${entry.options.length} option${entry.options.length === 1 ? "" : "s"}` : "";
    node.append(el("span", { class: "muted small node__summary", text: `${typeLabel(entry.type)}${options}${inside}` }));
    node.append(el("span", { class: "problem", "data-problem": path, role: "alert" }));
    return node;
  }
  node.append(details);
  if (entry.type === "select" || entry.type === "checklist") node.append(renderOptions(entry, path));
  else node.append(el("span", { class: "problem", "data-problem": `${path}.options`, role: "alert" }));
  node.append(el("span", { class: "problem", "data-problem": path, role: "alert" }));
  node.append(actions);
  if (entry.children.length) {
    const list = el("ol", { class: "node__children" });
    entry.children.forEach((child, i) => list.append(renderEntry(child, entry.children, i, `${path}.children[${i}]`, entry)));
    node.append(list);
  }
  return node;
}

function typeLabel(type) {
  return config.types.find((t) => t.value === type)?.label ?? type;
}

/** The class colour: the browser's colour picker, which can only give a valid #rrggbb. */
function colourInput(entry, path) {
  const node = el("input", { type: "color", name: "color", "data-field": `${path}.color`, "aria-label": "Colour" });
  node.value = /^#[0-9a-f]{6}$/i.test(entry.color || "") ? entry.color.toLowerCase() : "#000000";
  if (!entry.color) node.classList.add("colour--unset");
  node.addEventListener("input", () => {
    entry.color = node.value;
    node.classList.remove("colour--unset");
    changed(false);
  });
  return node;
}

/** Drag an entry by its handle onto another entry: it moves before it (after it, in the lower half). */
function dragAndDrop(node, handle, siblings, index) {
  handle.setAttribute("draggable", "true");
  handle.addEventListener("dragstart", (event) => {
    dragging = { siblings, index };
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", node.dataset.path);
    event.dataTransfer.setDragImage(node, 12, 12);
    node.classList.add("node--dragging");
  });
  handle.addEventListener("dragend", () => {
    dragging = null;
    node.classList.remove("node--dragging");
    for (const over of tree.querySelectorAll(".node--drop-before, .node--drop-after")) over.classList.remove("node--drop-before", "node--drop-after");
  });
  node.addEventListener("dragover", (event) => {
    if (!dragging || event.target.closest(".node") !== node) return;
    const entry = dragging.siblings[dragging.index];
    if (entry === siblings[index] || contains(entry, siblings)) return; // not into itself
    event.preventDefault();
    const box = node.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    node.classList.toggle("node--drop-after", after);
    node.classList.toggle("node--drop-before", !after);
  });
  node.addEventListener("dragleave", () => node.classList.remove("node--drop-before", "node--drop-after"));
  node.addEventListener("drop", (event) => {
    if (!dragging || event.target.closest(".node") !== node) return;
    event.preventDefault();
    const after = node.classList.contains("node--drop-after");
    const { siblings: from, index: at } = dragging;
    dragging = null;
    const before = siblings[index];
    const [moved] = from.splice(at, 1);
    const target = siblings.indexOf(before);
    siblings.splice(after ? target + 1 : target, 0, moved);
    changed(true);
  });
}

/** Whether `list` is `entry`'s own children or lies anywhere below them. */
function contains(entry, list) {
  return entry.children === list || entry.children.some((child) => contains(child, list));
}

function renderOptions(entry, path) {
  const list = el("ol", { class: "options-editor" });
  entry.options.forEach((option, i) => {
    const optionPath = `${path}.options[${i}]`;
    list.append(
      el(
        "li",
        { "data-path": optionPath },
        field("Option key", input(option, "key", { type: "text" }, optionPath), optionPath, "key"),
        field("Label", input(option, "label", { type: "text" }, optionPath), optionPath, "label"),
        el("span", { class: "muted small option-id", text: option.schema_id ? `id ${option.schema_id}` : "" }),
        el("span", { class: "problem", "data-problem": `${optionPath}.schema_id`, role: "alert" }),
        el("button", { type: "button", class: "button button--quiet", text: "Remove option", onclick: () => { entry.options.splice(i, 1); changed(true); } }),
      ),
    );
  });
  return el(
    "div",
    { class: "options-block" },
    el("span", { class: "small", text: "Options" }),
    list,
    el("span", { class: "problem", "data-problem": `${path}.options`, role: "alert" }),
    el("button", { type: "button", class: "button button--quiet add-option", text: "Add option", onclick: () => { entry.options.push({ key: "", label: "", schema_id: null }); changed(true, true); } }),
  );
}

function render() {
  tree.replaceChildren(...entries.map((entry, i) => renderEntry(entry, entries, i, `entries[${i}]`, null)));
  tree.append(el("li", { class: "problem problem--root", "data-problem": "entries", role: "alert" }));
  if (!entries.length) tree.append(el("li", { class: "muted", text: "No entries yet: add a root entry or start from a template." }));
  showProblems();
  renderPreview(entries);
}

// --- changes, validation and problems --------------------------------------------------------

function move(siblings, index, delta) {
  const [entry] = siblings.splice(index, 1);
  siblings.splice(index + delta, 0, entry);
  changed(true);
}

function changed(structure, focusLast = false) {
  dirty = true;
  version += 1;
  if (structure) {
    const focused = document.activeElement?.dataset?.field;
    render();
    // The same field of the same entry takes focus back (a type change re-renders the entry).
    if (focused && !focusLast) tree.querySelector(`[data-field="${CSS.escape(focused)}"]`)?.focus();
    if (focusLast) {
      const inputs = tree.querySelectorAll("input[name=key]");
      const last = [...inputs].find((node) => node.value === "");
      if (last) last.focus();
    }
  }
  if (!structure) renderPreview(entries);
  setStatus("Checking…");
  saveButton.disabled = true;
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validate, VALIDATE_DELAY_MS);
}

async function validate() {
  const sent = version;
  checking += 1;
  const result = await request("POST", config.urls.validate, { entries: toLabelsite(entries) });
  checking -= 1;
  if (sent !== version) return; // a newer check is on its way
  if (result.ok) {
    problems = result.data.problems;
  } else if (result.data?.error?.details?.length) {
    problems = result.data.error.details;
  } else {
    setStatus(errorMessage(result));
    return;
  }
  checkedVersion = sent;
  showProblems();
}

/** The element that shows the problem at `path`: its own field, else the closest entry's. */
function problemTarget(path) {
  let current = path;
  while (current) {
    const node = tree.querySelector(`[data-problem="${CSS.escape(current)}"]`);
    if (node) return node;
    const cut = Math.max(current.lastIndexOf("."), current.lastIndexOf("["));
    if (cut <= 0) break;
    current = current.slice(0, cut);
  }
  return tree.querySelector('[data-problem="entries"]');
}

function showProblems() {
  for (const node of tree.querySelectorAll("[data-problem]")) node.replaceChildren();
  for (const node of tree.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  for (const node of tree.querySelectorAll(".node--invalid")) node.classList.remove("node--invalid");
  for (const problem of problems) {
    const target = problemTarget(problem.path);
    if (target.childNodes.length) target.append(" ");
    target.append(el("span", { class: "problem__message", "data-code": problem.code, text: problem.message }));
    const inputNode = tree.querySelector(`[data-field="${CSS.escape(problem.path)}"]`);
    if (inputNode) inputNode.setAttribute("aria-invalid", "true");
    target.closest(".node")?.classList.add("node--invalid");
  }
  const count = problems.length;
  $("problem-count").textContent = count ? `${count} problem${count === 1 ? "" : "s"} to fix before saving` : "";
  const current = checkedVersion === version;
  saveButton.disabled = !current || count > 0 || !dirty;
  tree.dataset.checked = current ? "true" : "false";
  if (current) setStatus(count ? "" : dirty ? "Valid; not saved yet" : "Saved");
}

function setStatus(text) {
  statusEl.textContent = text;
}

// --- saving ----------------------------------------------------------------------------------

async function save(confirmLoss) {
  saveButton.disabled = true;
  setStatus("Saving…");
  const body = { entries: toLabelsite(entries), confirm_loss: confirmLoss };
  if (imageField !== null) body.image_field = imageField;
  const result = await request("POST", config.urls.save, body);
  if (result.status === 409 && result.data?.impact) {
    showImpact(result.data.impact);
    setStatus("Not saved: confirm what is lost");
    return;
  }
  if (!result.ok) {
    if (result.data?.error?.details?.length) {
      problems = result.data.error.details;
      checkedVersion = version;
      showProblems();
    }
    setStatus(`Not saved: ${errorMessage(result)}`);
    saveButton.disabled = false;
    return;
  }
  $("impact").hidden = true;
  entries = fromAnyForm(result.data.entries);
  problems = [];
  dirty = false;
  version += 1;
  checkedVersion = version;
  render();
  setStatus("Saved");
}

function showImpact(impact) {
  const list = $("impact-list");
  list.replaceChildren();
  for (const item of impact.removed_classes) {
    list.append(el("li", { text: `Class “${item.title}” (${item.key}) is removed: ${item.label_count} ${item.label_count === 1 ? "label is" : "labels are"} deleted.` }));
  }
  for (const item of impact.removed_questions) {
    list.append(el("li", { text: `Question “${item.title}” (${item.key}) is removed or renamed: ${item.answer_count} answer(s) are lost.` }));
  }
  for (const item of impact.removed_options) {
    list.append(el("li", { text: `Option “${item.option_label}” of “${item.question_title}” is removed: ${item.answer_count} answer(s) are lost.` }));
  }
  $("impact").hidden = false;
  $("confirm-save").focus();
}

// --- JSON view and conversions ----------------------------------------------------------------

function fillJson() {
  const form = $("json-form").value;
  const clean = toLabelsite(entries);
  $("json-text").value = JSON.stringify(form === "datagym" ? toDatagym(clean) : clean, null, 2);
  $("json-error").textContent = "";
}

function load(newEntries) {
  entries = fromAnyForm(newEntries);
  changed(true);
}

$("json-view").addEventListener("toggle", () => {
  if ($("json-view").open) fillJson();
});
$("json-form").addEventListener("change", fillJson);
$("json-copy").addEventListener("click", async () => {
  $("json-text").select();
  try {
    await navigator.clipboard.writeText($("json-text").value);
  } catch {
    // selected: Ctrl+C copies it
  }
});
$("json-apply").addEventListener("click", () => {
  try {
    load(JSON.parse($("json-text").value));
    $("json-error").textContent = "";
  } catch (error) {
    $("json-error").textContent = `Not used: ${error.message}`;
  }
});
$("import-apply").addEventListener("click", async () => {
  $("import-error").textContent = "";
  const result = await request("POST", config.urls.convert, {
    format: $("import-format").value,
    source: $("import-text").value,
  });
  if (!result.ok) {
    $("import-error").textContent = errorMessage(result);
    return;
  }
  $("import-warnings").replaceChildren(...result.data.warnings.map((w) => el("li", { text: `${w.path}: ${w.message}` })));
  // Label Studio imports read the task's image from the XML's image variable by default.
  if (result.data.image_field) imageField = result.data.image_field;
  load(result.data.entries);
});

// --- templates and the ids switch --------------------------------------------------------------

for (const template of config.templates) {
  const use = el("button", { type: "button", class: "button button--small", text: "Use this", "data-template": template.id });
  use.addEventListener("click", () => {
    const current = toLabelsite(entries);
    if (current.length && !window.confirm(`Replace the ${current.length} entries being edited with “${template.title}”? Nothing is saved until you press Save.`)) return;
    load(template.entries);
    $("templates").open = false;
    setStatus(`“${template.title}” loaded; not saved yet`);
    $("add-root").focus();
  });
  $("template-list").append(
    el("li", { class: "template" }, el("strong", { text: template.title }), el("span", { class: "muted small", text: template.description }), use),
  );
}
$("show-ids").addEventListener("change", () => tree.classList.toggle("editor__tree--ids", $("show-ids").checked));

$("add-root").addEventListener("click", () => {
  entries.push(blankEntry(null));
  changed(true, true);
});
saveButton.addEventListener("click", () => save(false));
$("confirm-save").addEventListener("click", () => save(true));
$("cancel-save").addEventListener("click", () => {
  $("impact").hidden = true;
  showProblems();
});
window.addEventListener("beforeunload", (event) => {
  if (dirty) event.preventDefault();
});

render();
checkedVersion = version;
showProblems();
document.body.dataset.ready = "true";
