// The labeling page: wires the store, the canvas, the panels, autosave and the keyboard.
// The page's data comes from the server with json_script; everything else goes through
// the native REST API.

import { ModelAssist } from "../ml/interactive.js";
import { Api, errorOf } from "./api.js";
import { AssistTools } from "./assist.js";
import { Autosave } from "./autosave.js";
import { BrushTool } from "./brush.js";
import { CanvasController } from "./canvas.js";
import { Clipboard } from "./clipboard.js";
import { Config } from "./config.js";
import { el, trapTab } from "./dom.js";
import { KeyMap, comboOf, displayCombo, isTyping, renderHelp } from "./keys.js";
import { renderQuestions } from "./questions.js";
import { classChoices, relabel } from "./relabel.js";
import { Presence } from "./presence.js";
import { Renderer } from "./renderer.js";
import { ClassList, LabelList, PredictionPanel, swatch } from "./sidebar.js";
import { Snapper } from "./snapping.js";
import { Store } from "./store.js";
import { ViewControls } from "./viewing.js";
import { Visibility } from "./visibility.js";

const data = JSON.parse(document.getElementById("labeling-data").textContent);
const $ = (id) => document.getElementById(id);
const urls = data.urls;
const readOnly = !data.canLabel;

const config = new Config(data.config);
const store = new Store(data.document);
const api = new Api(data.csrfToken);
const canvas = $("stage");
const keymap = new KeyMap({
  classes: config.drawableClasses(),
  overrides: data.keys,
  persist: async (keys) => {
    const result = await api.put(urls.keys, { keys });
    if (!result.ok) toast(`Your keys hold on this page but were not kept: ${errorOf(result).message}`);
  },
});

// --- the image -----------------------------------------------------------------------------

const image = {
  element: new Image(),
  width: data.image.width || 0,
  height: data.image.height || 0,
  loaded: false,
  settled: !data.image.url,
};
if (!image.width || !image.height) {
  // Unknown size until the image arrives: the labels' extent, or a placeholder.
  let maxX = 0, maxY = 0;
  for (const [shape] of store.walk()) {
    const pts = shape.type === "segmentation" ? shape.points.flat() : shape.points;
    for (const [x, y] of pts) {
      maxX = Math.max(maxX, x);
      maxY = Math.max(maxY, y);
    }
  }
  image.width = Math.max(maxX, 800);
  image.height = Math.max(maxY, 600);
}

const renderer = new Renderer({
  canvas,
  store,
  config,
  image,
  onFirstPaint: () => {
    window.labelsite.firstPaint = performance.now();
    document.body.dataset.ready = "true";
  },
});

if (data.image.url) {
  image.element.decoding = "async";
  image.element.addEventListener("load", () => {
    const knownSize = data.image.width && data.image.height;
    if (!knownSize) {
      image.width = image.element.naturalWidth;
      image.height = image.element.naturalHeight;
      renderer.fit();
    }
    image.loaded = true;
    image.settled = true;
    renderer.invalidate();
  });
  image.element.addEventListener("error", () => {
    image.settled = true;
    renderer.invalidate();
    showBanner("error", `The image could not be loaded from ${data.image.url}. You can still see and edit the labels.`);
  });
  image.element.src = data.image.url;
}

// --- messages ------------------------------------------------------------------------------

let toastTimer = null;
/** A short message over the canvas; `action` ([label, fn]) adds a button, e.g. Undo. */
function toast(message, action = null) {
  const node = $("toast");
  const parts = [el("span", { textContent: message })];
  if (action) {
    const button = el("button", { type: "button", className: "button button--small", textContent: action[0] });
    button.addEventListener("click", () => {
      node.hidden = true;
      action[1]();
    });
    parts.push(button);
  }
  node.replaceChildren(...parts);
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), action ? 10000 : 4500);
}

function showBanner(kind, message, actions = []) {
  const banner = $("banner");
  banner.dataset.kind = kind;
  const buttons = actions.map(([label, action]) => {
    const button = el("button", { type: "button", className: "button button--small", textContent: label });
    button.addEventListener("click", action);
    return button;
  });
  banner.replaceChildren(el("span", { className: "banner__text", textContent: message }), ...buttons);
  banner.hidden = false;
}

function hideBanner(kind) {
  const banner = $("banner");
  if (!kind || banner.dataset.kind === kind) banner.hidden = true;
}

// --- canvas, panels ------------------------------------------------------------------------

const controller = new CanvasController({ canvas, store, config, renderer, image, notify: toast });
controller.readOnly = readOnly;
const brush = new BrushTool({ controller, store, renderer, image, api, url: urls.brush, notify: toast });
controller.brush = brush;

/** B, E: the brush or the eraser, for the segmentation class in hand (else the selected label's, else the first). */
function paintTool(kind) {
  if (readOnly) return true;
  const segmentation = config.drawableClasses().filter(({ entry }) => entry.type === "segmentation");
  if (!segmentation.length) {
    toast("The brush and the eraser paint segmentation classes; this project has none.");
    return true;
  }
  const current = controller.currentClass?.entry.type === "segmentation" ? controller.currentClass : null;
  const selected = store.find(store.selectedUid);
  const selectedEntry = selected?.shape.type === "segmentation" ? config.entryFor(selected.shape, selected.parent) : null;
  const ofSelected = selectedEntry ? segmentation.find(({ entry }) => entry.id === selectedEntry.id) : null;
  const item = (controller.mode === "draw" && current) || ofSelected || current || segmentation[0];
  controller.setPaint(kind, item);
  return true;
}
function updatePaintButtons() {
  for (const [id, kind, action, title] of [
    ["brush-tool", "brush", "tool.brush", "Brush"],
    ["eraser-tool", "eraser", "tool.eraser", "Eraser"],
  ]) {
    const on = controller.painting && controller.paint === kind;
    const key = keymap.keysOf(action)[0];
    $(id).setAttribute("aria-pressed", String(on));
    $(id).textContent = on ? `${title} ${brush.size} px` : title;
    $(id).title = `${title}: ${kind === "brush" ? "paint a region of a segmentation class" : "erase from the selected segmentation label"}${key ? ` (${displayCombo(key)})` : ""}; [ and ] change its size`;
  }
}
for (const [id, kind] of [["brush-tool", "brush"], ["eraser-tool", "eraser"]]) {
  $(id).hidden = readOnly || !config.drawableClasses().some(({ entry }) => entry.type === "segmentation");
  $(id).addEventListener("click", () => {
    paintTool(kind);
    canvas.focus({ preventScroll: true });
  });
}
controller.addEventListener("mode", updatePaintButtons);
keymap.addEventListener("change", updatePaintButtons);
const clipboard = new Clipboard({ store, config, image, taskId: data.task.id, notify: toast });

/** The previous task's labels, added to this one (a sequence of frames: the next frame starts from the last). */
async function copyPreviousLabels() {
  if (readOnly) return;
  if (!urls.previousAnnotation) {
    toast("There is no previous task to copy labels from.");
    return;
  }
  const result = await api.get(urls.previousAnnotation);
  if (!result.ok) {
    toast(`The previous task's labels could not be read: ${errorOf(result).message}`);
    return;
  }
  clipboard.placeDocument(result.data.labels || []);
}
$("copy-previous").addEventListener("click", () => copyPreviousLabels());
$("copy-previous").hidden = readOnly || !urls.previousAnnotation;

new ClassList($("class-list"), { config, controller, keymap });
const snapper = new Snapper({ store, renderer });
controller.snapper = snapper;
function updateSnapButton() {
  const key = keymap.keysOf("edit.snapping")[0];
  $("snap").setAttribute("aria-pressed", String(snapper.enabled));
  $("snap").textContent = snapper.enabled ? "Snap on" : "Snap off";
  $("snap").title = `Snap to the vertices and edges of other labels${key ? ` (${displayCombo(key)})` : ""}`;
}
function toggleSnapping() {
  snapper.enabled = !snapper.enabled;
  updateSnapButton();
  controller.updateOverlay();
  toast(snapper.enabled ? "Snapping on: points land on nearby vertices and edges." : "Snapping off.");
}
$("snap").addEventListener("click", () => {
  toggleSnapping();
  canvas.focus({ preventScroll: true });
});
keymap.addEventListener("change", updateSnapButton);
updateSnapButton();

let viewing = null; // the constructor's first apply() already updates the buttons
viewing = new ViewControls({
  renderer,
  controller,
  body: document.body,
  form: $("adjust"),
  gammaFilter: $("image-gamma-transfer"),
  onChange: updateViewButtons,
});
function updateViewButtons() {
  $("toggle-left").setAttribute("aria-pressed", String(viewing?.panelOpen("left") ?? true));
  $("toggle-right").setAttribute("aria-pressed", String(viewing?.panelOpen("right") ?? true));
  $("adjust-button").setAttribute("aria-pressed", String(!$("adjust").hidden));
  $("adjust-button").textContent = viewing?.adjusted ? "Adjust •" : "Adjust";
}
function toggleAdjust() {
  $("adjust").hidden = !$("adjust").hidden;
  updateViewButtons();
  if (!$("adjust").hidden) $("brightness").focus();
}
$("toggle-left").addEventListener("click", () => viewing.togglePanel("left"));
$("toggle-right").addEventListener("click", () => viewing.togglePanel("right"));
$("actual-size").addEventListener("click", () => viewing.actualSize());
$("adjust-button").addEventListener("click", toggleAdjust);
updateViewButtons();

const visibility = new Visibility({ store, config });
snapper.visibility = visibility;
controller.visibility = visibility;
renderer.visibility = visibility;
visibility.addEventListener("change", () => renderer.visibilityChanged());
new LabelList($("label-list"), {
  store,
  config,
  countElement: $("label-count"),
  visibility,
  filter: $("label-class-filter"),
  search: $("label-search"),
});

const predictions = {
  accept(uid) {
    const shape = store.find(uid)?.shape;
    if (readOnly || !shape || shape.source !== "prediction") return false;
    store.checkpoint();
    acceptShape(shape);
    store.change({ source: "predictions" });
    return true;
  },
  dismiss(uid) {
    const shape = store.find(uid)?.shape;
    if (readOnly || !shape || shape.source !== "prediction") return false;
    store.checkpoint();
    store.remove(uid);
    return true;
  },
  acceptAll() {
    const all = [...store.walk()].filter(([shape]) => shape.source === "prediction");
    if (readOnly || !all.length) return;
    store.checkpoint();
    for (const [shape] of all) acceptShape(shape);
    store.change({ source: "predictions" });
    toast(`Accepted ${all.length} prediction(s).`);
  },
  dismissAll() {
    const all = [...store.walk()].filter(([shape]) => shape.source === "prediction");
    if (readOnly || !all.length) return;
    store.checkpoint();
    store.labels = store.labels.filter((label) => label.source !== "prediction");
    for (const label of store.labels) label.children = label.children.filter((child) => child.source !== "prediction");
    if (!store.find(store.selectedUid)) store.selectedUid = null;
    store.change({ structure: true });
    store.dispatchEvent(new CustomEvent("select"));
    toast(`Dismissed ${all.length} prediction(s).`);
  },
};

function acceptShape(shape) {
  shape.source = "manual";
  shape.score = null;
}

new PredictionPanel($("predictions"), { store, config, actions: predictions });
// Model servers (ml/): a click or a box sent to an interactive model, its answer as predictions.
new ModelAssist({ store, config, api, taskId: data.task.id, readOnly, toast, anchor: $("predictions") });

// --- questions ---------------------------------------------------------------------------------

let problemPaths = new Set();

function onEdit(mutate, { checkpoint }) {
  if (readOnly) return;
  if (checkpoint) store.checkpoint();
  mutate();
  store.change({ source: "questions" });
}

function markProblems(container) {
  container.querySelectorAll("[data-path]").forEach((node) => {
    node.classList.toggle("question--problem", problemPaths.has(node.dataset.path));
  });
  if (readOnly) container.querySelectorAll("fieldset").forEach((node) => (node.disabled = true));
}

function renderGlobalQuestions() {
  const container = $("global-questions");
  renderQuestions(container, { questions: config.globalQuestions, tree: store.answers, path: "answers", onEdit });
  if (!config.globalQuestions.length) container.append(el("p", { className: "muted small", textContent: "No questions about the whole image." }));
  markProblems(container);
}

function renderShapePanel() {
  const container = $("shape-questions");
  const title = $("shape-title");
  const found = store.find(store.selectedUid);
  if (store.selection.size > 1) {
    title.replaceChildren(el("span", { textContent: `${store.selection.size} labels selected` }));
    container.replaceChildren(
      el("p", { className: "muted small", textContent: "Drag one of them or use the arrow keys to move them all; a class key changes their class; Del deletes them; Ctrl+C copies them; Shift+H hides them." }),
    );
    return;
  }
  if (!found) {
    title.replaceChildren(el("span", { textContent: "Selected label" }));
    container.replaceChildren(el("p", { className: "muted small", textContent: "Select a label to answer its questions." }));
    return;
  }
  const { shape, parent, path } = found;
  const entry = config.entryFor(shape, parent);
  title.replaceChildren(swatch(entry?.drawColor), el("span", { textContent: entry ? entry.title : shape.key }));
  const facts = [shape.type];
  if (parent) facts.push(`inside ${config.entryFor(parent, null)?.title || parent.key}`);
  if (shape.source === "prediction") facts.push(`prediction${shape.score != null ? ` ${Math.round(shape.score * 100)}%` : ""}`);
  if (shape.source === "import") facts.push("imported");
  const info = el("p", { className: "muted small", textContent: facts.join(" · ") });
  const classRow = el("div", { className: "shape-class" });
  const choices = classChoices(config, shape, parent);
  if (entry && choices.length > 1 && !readOnly) {
    const select = el("select", { id: "shape-class", ariaLabel: "Class of the selected label" });
    for (const item of choices) {
      select.append(el("option", { value: item.entry.id, textContent: item.entry.title, selected: item.entry.id === entry.id }));
    }
    select.addEventListener("change", () => {
      const item = choices.find((choice) => choice.entry.id === select.value);
      if (item) changeClass(shape.uid, item.entry);
    });
    classRow.append(el("label", { className: "shape-class__label", htmlFor: "shape-class", textContent: "Class" }), select);
  }
  const body = el("div");
  const questions = config.questionsOf(entry);
  renderQuestions(body, { questions, tree: shape.answers, path: `${path}.answers`, onEdit });
  if (!questions.length) body.append(el("p", { className: "muted small", textContent: "This class has no questions." }));
  const actions = el("div", { className: "row" });
  if (!readOnly && shape.type === "segmentation" && entry) {
    const add = el("button", { type: "button", className: "button button--small", textContent: "Add region", id: "add-region" });
    add.title = "Draw a polygon that joins this label (or hold Shift while drawing)";
    const item = config.drawableClasses().find((choice) => choice.entry.id === entry.id);
    add.addEventListener("click", () => {
      controller.addRegionTo(shape.uid, item);
      canvas.focus();
    });
    actions.append(add);
  }
  if (!readOnly && shape.source === "prediction") {
    const accept = el("button", { type: "button", className: "button button--small", textContent: "Accept (A)" });
    accept.addEventListener("click", () => predictions.accept(shape.uid));
    const dismiss = el("button", { type: "button", className: "button button--small", textContent: "Dismiss (X)" });
    dismiss.addEventListener("click", () => predictions.dismiss(shape.uid));
    actions.append(accept, dismiss);
  }
  if (!readOnly) {
    const remove = el("button", { type: "button", className: "button button--small button--quiet", textContent: "Delete (Del)" });
    remove.addEventListener("click", () => controller.deleteSelection());
    actions.append(remove);
  }
  container.replaceChildren(info, classRow, body, actions);
  markProblems(container);
}

store.addEventListener("select", (event) => {
  if (!event.detail?.same) renderShapePanel();
});

/** Give a label another class of its geometry and level; what no longer applies is dropped, undoably. */
function changeClass(uid, entry) {
  const found = store.find(uid);
  if (readOnly || !found) return false;
  const oldEntry = config.entryFor(found.shape, found.parent);
  if (oldEntry?.id === entry.id) return false;
  store.checkpoint();
  const { droppedAnswers, droppedLabels } = relabel(config, found.shape, oldEntry, entry);
  store.change({ structure: true, source: "relabel" });
  store.dispatchEvent(new CustomEvent("select"));
  let message = `Changed ${oldEntry ? oldEntry.title : found.shape.key} to ${entry.title}.`;
  if (droppedAnswers.length) message += ` Answers that no longer apply were dropped: ${droppedAnswers.join(", ")}.`;
  if (droppedLabels) message += ` ${droppedLabels} nested label(s) of classes ${entry.title} does not have were dropped.`;
  toast(message, ["Undo (Ctrl+Z)", () => store.undo()]);
  return true;
}

/** The class key with several labels selected: each that may take the class (same geometry and level) changes, in one undo step. */
function changeClassMany(uids, entry) {
  const targets = uids
    .map((uid) => store.find(uid))
    .filter((found) => found && config.entryFor(found.shape, found.parent)?.id !== entry.id)
    .filter((found) => classChoices(config, found.shape, found.parent).some((choice) => choice.entry.id === entry.id));
  if (!targets.length) {
    toast(`None of the selected labels can become ${entry.title} (a class keeps its geometry type and level).`);
    return true;
  }
  store.checkpoint();
  let answers = 0;
  let nested = 0;
  for (const found of targets) {
    const { droppedAnswers, droppedLabels } = relabel(config, found.shape, config.entryFor(found.shape, found.parent), entry);
    answers += droppedAnswers.length;
    nested += droppedLabels;
  }
  store.change({ structure: true, source: "relabel" });
  store.dispatchEvent(new CustomEvent("select"));
  let message = `Changed ${targets.length} label(s) to ${entry.title}.`;
  if (uids.length > targets.length) message += ` ${uids.length - targets.length} other(s) cannot take that class and kept theirs.`;
  if (answers) message += ` ${answers} answer(s) that no longer apply were dropped.`;
  if (nested) message += ` ${nested} nested label(s) were dropped.`;
  toast(message, ["Undo (Ctrl+Z)", () => store.undo()]);
  return true;
}

// --- a nested shape drawn with no parent selected: choose its parent ---------------------------

let chooser = null;
function closeChooser(cancelled) {
  if (!chooser) return;
  const { cancel } = chooser;
  chooser = null;
  $("parent-chooser").hidden = true;
  renderer.hoverUid = null;
  renderer.invalidate();
  if (cancelled) cancel();
  canvas.focus({ preventScroll: true });
}
controller.addEventListener("choose-parent", (event) => {
  closeChooser(true);
  const { reason, candidates, place, cancel } = event.detail;
  chooser = { cancel };
  const box = $("parent-chooser");
  const buttons = candidates.map((shape, i) => {
    const entry = config.entryFor(shape, null);
    const b = renderer.boundsOf(shape);
    const text = `${i + 1}. ${entry ? entry.title : shape.key} #${store.labels.indexOf(shape) + 1} at ${Math.round(b.minX)}, ${Math.round(b.minY)}`;
    const button = el("button", { type: "button", className: "button button--small", textContent: text, dataset: { uid: shape.uid } });
    button.addEventListener("pointerenter", () => {
      renderer.hoverUid = shape.uid;
      renderer.invalidate();
    });
    button.addEventListener("focus", () => {
      renderer.hoverUid = shape.uid;
      renderer.invalidate();
    });
    button.addEventListener("click", () => {
      closeChooser(false);
      place(shape.uid);
    });
    return button;
  });
  const dismiss = el("button", { type: "button", className: "button button--small button--quiet", textContent: "Cancel (Esc)" });
  dismiss.addEventListener("click", () => closeChooser(true));
  box.replaceChildren(el("p", { className: "chooser__text", textContent: reason }), el("div", { className: "chooser__choices" }, [...buttons, dismiss]));
  box.hidden = false;
  // after the press that opened it has moved focus to the canvas
  setTimeout(() => buttons[0]?.focus(), 0);
});
store.addEventListener("change", (event) => {
  if (event.detail.source === "history") {
    renderGlobalQuestions();
    renderShapePanel();
  } else if (event.detail.source === "predictions") {
    renderShapePanel();
  }
  updateUndoButtons();
});
renderGlobalQuestions();
renderShapePanel();

// --- problems the server reports (required questions, invalid labels) --------------------------

function showProblems(error) {
  const section = $("problems");
  problemPaths = new Set(error.details.map((detail) => detail.path));
  const items = error.details.map((detail) => {
    const button = el("button", { type: "button", className: "link-button", textContent: detail.message });
    button.addEventListener("click", () => goToPath(detail.path));
    return el("li", {}, [button]);
  });
  section.replaceChildren(el("p", { className: "strong", textContent: error.message }), el("ul", {}, items));
  section.hidden = false;
  renderGlobalQuestions();
  renderShapePanel();
  if (error.details.length) goToPath(error.details[0].path);
}

function clearProblems() {
  problemPaths = new Set();
  $("problems").hidden = true;
}

/** Show the question (or label) an error path names: "answers.x" or "labels[2].children[0].answers.y". */
function goToPath(path) {
  const match = /^labels\[(\d+)\](?:\.children\[(\d+)\])?/.exec(path);
  let container = $("global-questions");
  if (match) {
    const root = store.labels[Number(match[1])];
    const shape = match[2] !== undefined ? root?.children[Number(match[2])] : root;
    if (shape) store.select(shape.uid);
    container = $("shape-questions");
  }
  const question = [...container.querySelectorAll("[data-path]")].find((node) => node.dataset.path === path);
  if (question) {
    question.scrollIntoView({ block: "nearest" });
    question.querySelector("input, select, textarea")?.focus();
  }
}

// --- saving ------------------------------------------------------------------------------------

const saver = new Autosave({ store, api, url: urls.annotation, taskId: data.task.id });
const STATE_TEXT = {
  saved: "All changes saved",
  pending: "Unsaved changes…",
  saving: "Saving…",
  offline: "Offline — retrying",
  conflict: "Conflict — not saved",
  invalid: "Not saved — see problems",
  "signed-out": "Signed out — not saved",
};
saver.addEventListener("state", () => {
  const node = $("save-state");
  node.dataset.state = saver.state;
  node.textContent = readOnly ? "Read only" : STATE_TEXT[saver.state];
  if (saver.state === "conflict" && saver.error?.code === "task_held") {
    // Assigned to someone else: nothing to merge, an admin reassigns it.
    showBanner("conflict", `${saver.error.message} Your changes are kept on this computer.`, [
      ["Reload (R)", () => leave(window.location.href)],
    ]);
  } else if (saver.state === "conflict") {
    showBanner("conflict", "Someone else saved this task after you opened it. Your changes are kept on this computer.", [
      ["Reload their version (R)", () => leave(window.location.href)],
      ["Merge my changes into theirs (M)", () => mergeAfterConflict()],
    ]);
  } else if (saver.state === "offline") {
    showBanner("offline", "The server cannot be reached. Your work is kept on this computer and saved as soon as it answers.");
  } else if (saver.state === "signed-out") {
    const next = encodeURIComponent(window.location.pathname);
    showBanner("signed-out", "Your session has ended. Your work is kept on this computer; sign in again in another tab, then save.", [
      ["Open sign-in", () => window.open(`${urls.login}?next=${next}`, "_blank")],
      ["Save now", () => saver.flush()],
    ]);
  } else if (saver.state === "invalid" && saver.error) {
    showProblems(saver.error);
  } else if (saver.state === "saved") {
    hideBanner("offline");
    hideBanner("signed-out");
  }
});
async function mergeAfterConflict() {
  if (saver.state !== "conflict" || saver.error?.code === "task_held") return;
  hideBanner("conflict");
  const applied = await saver.merge();
  if (applied === null) {
    toast("Their version could not be loaded; try again.");
    saver.setState("conflict", saver.error);
    return;
  }
  const parts = [];
  if (applied.added) parts.push(`${applied.added} added`);
  if (applied.removed) parts.push(`${applied.removed} deleted`);
  if (applied.answers) parts.push(`${applied.answers} answer(s)`);
  toast(`Merged into their version: ${parts.join(", ") || "no change of yours"}. Ctrl+Z undoes the merge.`);
}

saver.addEventListener("saved", () => {
  if (!$("problems").hidden && saver.error === null) clearProblems();
});
$("save-state").textContent = readOnly ? "Read only" : STATE_TEXT.saved;
$("save-state").dataset.state = "saved";

if (readOnly && data.heldByOther && data.holder) {
  const holder = data.holder;
  const until = holder.until ? ` until ${new Date(holder.until).toLocaleTimeString()}` : "";
  const how = holder.kind === "assigned" ? `assigned to ${holder.username}` : `reserved by ${holder.username}${until}`;
  showBanner("readonly", `This task is ${how}; you can look at it but not change it. Start labeling gives you another.`);
} else if (readOnly) {
  showBanner("readonly", `This task is ${data.document.state.replace("_", " ")}; you can look at it but not change it.`);
} else {
  const draft = saver.readDraft();
  if (draft) {
    const when = new Date(draft.savedAt).toLocaleString();
    const message =
      draft.version >= store.version
        ? `Unsaved changes from ${when} were kept on this computer.`
        : `Changes from ${when} were kept on this computer, but the task was saved elsewhere since then.`;
    showBanner("draft", message, [
      ["Restore them", () => {
        hideBanner("draft");
        store.replace(draft.document);
      }],
      ["Discard", () => {
        hideBanner("draft");
        saver.clearDraft();
      }],
    ]);
  }
}

// While the page is open the task stays reserved for me, and my active time is counted; a
// reviewer reviewing a completed task (read-only for them) keeps their review reservation too.
const presence =
  readOnly && !data.reviewing ? null : new Presence({ api, url: urls.heartbeat, intervalSeconds: data.heartbeatSeconds });
presence?.addEventListener("lost", (event) => {
  showBanner("conflict", `${event.detail.message} Your unsaved changes are kept on this computer.`, [
    ["Reload (R)", () => leave(window.location.href)],
  ]);
});

let leaving = false;
window.addEventListener("beforeunload", (event) => {
  if (leaving || readOnly || !saver.hasUnsaved) return;
  saver.writeDraft();
  event.preventDefault();
  event.returnValue = "";
});

function leave(url) {
  leaving = true;
  window.location.assign(url);
}

async function goTo(url) {
  if (!url) {
    toast("There is no task that way.");
    return;
  }
  if (!readOnly && !(await saver.flush())) {
    toast("Your changes are not saved yet; stay a moment or try again.");
    return;
  }
  await presence?.flush();
  leave(url);
}

let busy = false;
async function finish(kind) {
  if (busy || readOnly) return;
  busy = true;
  $("complete").disabled = $("skip").disabled = true;
  try {
    if (!(await saver.flush())) {
      toast("Your changes are not saved yet, so the task stays open. Try again in a moment.");
      return;
    }
    await presence?.flush();
    const result = await api.post(kind === "complete" ? urls.complete : urls.skip);
    if (result.ok) {
      saver.clearDraft();
      leave(urls.queue);
      return;
    }
    const error = errorOf(result);
    if (kind === "complete" && error.details.length) showProblems(error);
    else toast(error.message);
  } finally {
    busy = false;
    $("complete").disabled = $("skip").disabled = false;
  }
}

$("complete").addEventListener("click", () => finish("complete"));
$("skip").addEventListener("click", () => finish("skip"));
$("previous").addEventListener("click", () => goTo(urls.previous));
$("next").addEventListener("click", () => goTo(urls.next));
if (readOnly) $("complete").disabled = $("skip").disabled = true;

// --- review ----------------------------------------------------------------------------------

const review = $("review");
if (data.canReview && data.document.state === "completed") {
  review.hidden = false;
  const comment = $("review-comment");
  const send = async (accept) => {
    if (!accept && !comment.value.trim()) {
      toast("Say what to change in the comment before sending the task back.");
      comment.focus();
      return;
    }
    if (!readOnly && !(await saver.flush())) return;
    const result = await api.post(urls.review, { accept, comment: comment.value });
    if (result.ok) {
      saver.clearDraft();
      // On to the next task to review (the queue says when none is left).
      leave(urls.reviewQueue);
    } else {
      toast(errorOf(result).message);
    }
  };
  $("review-accept").addEventListener("click", () => send(true));
  $("review-reject").addEventListener("click", () => send(false));
}
if (data.reviewComment && data.document.state !== "completed") {
  const note = $("review-note");
  note.hidden = false;
  note.querySelector("[data-comment]").textContent = data.reviewComment;
}

// --- toolbar, status -------------------------------------------------------------------------

function updateUndoButtons() {
  $("undo").disabled = !store.undoStack.length;
  $("redo").disabled = !store.redoStack.length;
}
updateUndoButtons();
$("undo").addEventListener("click", () => store.undo());
$("redo").addEventListener("click", () => store.redo());
$("zoom-in").addEventListener("click", () => controller.zoom(1.25));
$("zoom-out").addEventListener("click", () => controller.zoom(0.8));
$("fit").addEventListener("click", () => controller.fit());

const help = $("help");
let remapping = null; // {id, button} while the help waits for the new key of an action
function showHelp() {
  remapping = null;
  $("help-message").textContent = "";
  renderHelp($("help-body"), { keymap, onRemap: startRemap });
  help.showModal();
}
function startRemap(id, button) {
  remapping = { id };
  button.textContent = "Press a key… (Esc cancels)";
  $("help-message").textContent = `Press the new key for “${keymap.titles.get(id)}”.`;
}
help.addEventListener(
  "keydown",
  (event) => {
    if (!remapping) return;
    event.preventDefault();
    event.stopPropagation();
    if (["Shift", "Control", "Alt", "Meta"].includes(event.key)) return;
    const { id } = remapping;
    remapping = null;
    let message = "Unchanged.";
    if (event.key !== "Escape") {
      const combo = comboOf(event);
      message = keymap.assign(id, combo) || `“${keymap.titles.get(id)}” is now ${displayCombo(combo)}.`;
    }
    renderHelp($("help-body"), { keymap, onRemap: startRemap });
    $("help-message").textContent = message;
    help.querySelector(`[data-remap="${CSS.escape(id)}"]`)?.focus();
  },
  true,
);
help.addEventListener("keydown", (event) => trapTab(help, event));
help.addEventListener("cancel", (event) => {
  if (remapping) event.preventDefault();
});
$("help-button").addEventListener("click", showHelp);
$("help-close").addEventListener("click", () => help.close());
$("help-reset").addEventListener("click", () => {
  keymap.reset();
  renderHelp($("help-body"), { keymap, onRemap: startRemap });
  $("help-message").textContent = "Every key is back to its default.";
});

// Button tooltips name the annotator's keys.
const BUTTON_ACTIONS = {
  previous: ["task.previous", "Previous task"],
  next: ["task.next", "Next task"],
  skip: ["task.skip", "Skip"],
  complete: ["task.complete", "Complete"],
  "zoom-in": ["view.zoomIn", "Zoom in"],
  "zoom-out": ["view.zoomOut", "Zoom out"],
  fit: ["view.fit", "Fit to screen"],
};
function updateButtonTitles() {
  for (const [id, [action, title]] of Object.entries(BUTTON_ACTIONS)) {
    const keys = keymap.keysOf(action);
    $(id).title = keys.length ? `${title} (${displayCombo(keys[0])})` : title;
  }
}
keymap.addEventListener("change", updateButtonTitles);
updateButtonTitles();

function updateHint() {
  let text;
  if (readOnly) text = "Read only: pan with drag, zoom with the wheel.";
  else if (controller.painting) {
    const { entry } = controller.currentClass;
    text = controller.paint === "brush"
      ? `${entry.title}: brush ${brush.size} px. Drag to paint a new label; Shift+drag adds to the selected one. [ and ] change the size.`
      : `Eraser ${brush.size} px: drag over the selected segmentation label (or press on one) to erase. [ and ] change the size.`;
  }
  else if (controller.mode === "select") {
    text = "Select: click a label (Shift+click adds more; drag on empty space for a box); drag it or its vertices; click an edge to add a vertex; Shift+click a vertex to remove it; a class key changes the selected label's class.";
  } else {
    const { entry, parent } = controller.currentClass;
    const how = {
      rectangle: "drag from corner to corner",
      point: "click to place",
      line: "click to add points, Enter to finish",
      polygon: "click to add points, Enter or the first point to finish",
      segmentation: controller.regionTarget
        ? "click to add points, Enter to finish: the polygon joins the selected label"
        : "click to add points, Enter to finish: a new label (Shift+Enter adds the polygon to the selected one)",
    }[entry.type];
    text = `${entry.title} (${entry.type}): ${how}.`;
    if (parent) {
      text += controller.parentFor(parent) ? ` Goes inside the selected ${parent.title}.` : ` Goes inside the ${parent.title} that contains it.`;
    }
    if (!controller.drawing) text += " Ctrl+drag (or Alt+drag) edits the selected label.";
    if (controller.drawing) text += ` ${controller.drawing.length} point(s).`;
  }
  $("mode-hint").textContent = text;
}
function updateView() {
  $("zoom-level").textContent = `${Math.round(renderer.view.scale * 100)}%`;
}
function updateCursor() {
  const cursor = controller.cursor;
  $("cursor-position").textContent = cursor ? `${Math.round(cursor[0])}, ${Math.round(cursor[1])} px` : "";
}
controller.addEventListener("mode", updateHint);
controller.addEventListener("view", updateView);
controller.addEventListener("cursor", () => {
  updateCursor();
  if (controller.drawing) updateHint();
});
store.addEventListener("select", updateHint);
updateHint();
updateView();
new ResizeObserver(updateView).observe(canvas.parentElement);

// --- keyboard ----------------------------------------------------------------------------------

/** A class shortcut: with the select tool and a label selected, change that label's class
 *  (same geometry and level); otherwise choose the class to draw. */
function classKey(entryId) {
  const item = config.drawableClasses().find(({ entry }) => entry.id === entryId);
  if (!item || readOnly) return false;
  if (controller.mode === "select" && store.selection.size > 1) return changeClassMany(store.selectedUids(), item.entry);
  const found = store.find(store.selectedUid);
  if (controller.mode === "select" && found && config.entryFor(found.shape, found.parent)?.id !== entryId) {
    const choices = classChoices(config, found.shape, found.parent);
    if (choices.some(({ entry }) => entry.id === entryId)) return changeClass(found.shape.uid, item.entry);
  }
  controller.setClass(item);
  return true;
}

function focusQuestions() {
  const target =
    $("shape-questions").querySelector("input, select, textarea") || $("global-questions").querySelector("input, select, textarea");
  if (target) target.focus();
  else toast("There is no question to answer here.");
}

function runAction(id) {
  if (id.startsWith("class:")) return classKey(id.slice("class:".length));
  switch (id) {
    case "tool.brush":
      return paintTool("brush");
    case "tool.eraser":
      return paintTool("eraser");
    case "tool.select":
      controller.setSelectMode();
      return true;
    case "edit.copy":
      // With no label selected, Ctrl+C copies text selected in the page, as everywhere.
      if (!store.selectedUids().length && String(window.getSelection() || "")) return false;
      clipboard.copy(store.selectedUids());
      return true;
    case "edit.paste":
      if (!readOnly) clipboard.paste();
      return true;
    case "edit.duplicate":
      if (!readOnly) clipboard.duplicate(store.selectedUids());
      return true;
    case "edit.copyPrevious":
      copyPreviousLabels();
      return true;
    case "view.fit":
      controller.fit();
      return true;
    case "view.zoomIn":
      controller.zoom(1.25);
      return true;
    case "view.zoomOut":
      controller.zoom(0.8);
      return true;
    case "view.hideAll": {
      renderer.hidden = !renderer.hidden;
      renderer.invalidate();
      const key = keymap.keysOf("view.hideAll")[0];
      toast(renderer.hidden ? `Labels hidden${key ? ` (${displayCombo(key)} shows them)` : ""}.` : "Labels shown.");
      return true;
    }
    case "view.actualSize":
      viewing.actualSize();
      return true;
    case "view.adjust":
      toggleAdjust();
      return true;
    case "view.leftPanel":
      viewing.togglePanel("left");
      return true;
    case "view.rightPanel":
      viewing.togglePanel("right");
      return true;
    case "edit.snapping":
      toggleSnapping();
      return true;
    case "view.hideSelected": {
      const uids = store.selectedUids();
      if (!uids.length) {
        toast("Select labels to hide them; the label list shows them again.");
        return true;
      }
      visibility.toggleLabels("hide", uids);
      toast(`Hid ${uids.length} label(s); the eye in the label list shows them again.`);
      return true;
    }
    case "edit.lockSelected": {
      const uids = store.selectedUids();
      if (!uids.length) return true;
      const locked = visibility.toggleLabels("lock", uids);
      toast(locked ? `Locked ${uids.length} label(s): the canvas passes over them.` : `Unlocked ${uids.length} label(s).`);
      return true;
    }
    case "prediction.accept":
      if (!predictions.accept(store.selectedUid)) toast("Select a prediction to accept it.");
      return true;
    case "prediction.dismiss":
      if (!predictions.dismiss(store.selectedUid)) toast("Select a prediction to dismiss it.");
      return true;
    case "prediction.acceptAll":
      predictions.acceptAll();
      return true;
    case "prediction.dismissAll":
      predictions.dismissAll();
      return true;
    case "focus.questions":
      focusQuestions();
      return true;
    case "focus.classes": {
      const pressed = $("class-list").querySelector('[aria-pressed="true"]') || $("class-list").querySelector("button");
      pressed?.focus();
      return true;
    }
    case "task.save":
      saver.flush();
      return true;
    case "task.complete":
      finish("complete");
      return true;
    case "task.skip":
      finish("skip");
      return true;
    case "task.next":
      goTo(urls.next);
      return true;
    case "task.previous":
      goTo(urls.previous);
      return true;
    case "shape.rotateCcw":
    case "shape.rotateCw":
    case "shape.rotateCcwMore":
    case "shape.rotateCwMore":
      return controller.rotateSelected(id.startsWith("shape.rotateCw") ? 1 : -1, id.endsWith("More"));
    default:
      return false;
  }
}

/** Keys that drawing, editing and the dialogs rely on; they cannot be remapped. */
function fixedKey(event) {
  const key = event.key;
  const ctrl = event.ctrlKey || event.metaKey;
  const onButton = event.target instanceof HTMLButtonElement || event.target instanceof HTMLAnchorElement;
  if (ctrl) {
    const lower = key.toLowerCase();
    if (lower === "z" && !event.shiftKey) {
      if (!controller.removeLastDrawingPoint()) store.undo();
      return true;
    }
    if ((lower === "z" && event.shiftKey) || lower === "y") {
      store.redo();
      return true;
    }
    return false;
  }
  if (event.altKey) return false;
  switch (key) {
    case " ":
      if (onButton) return false;
      controller.spaceHeld = true;
      canvas.style.cursor = "grab";
      return true;
    case "Escape":
      controller.escape();
      return true;
    case "Enter":
      return controller.finishDrawing({ shiftKey: event.shiftKey });
    case "Backspace":
    case "Delete":
      return !readOnly && (controller.removeLastDrawingPoint() || controller.deleteSelection());
    case "ArrowLeft":
    case "ArrowRight":
    case "ArrowUp":
    case "ArrowDown": {
      const step = event.shiftKey ? 10 : 1;
      const dx = key === "ArrowLeft" ? -1 : key === "ArrowRight" ? 1 : 0;
      const dy = key === "ArrowUp" ? -1 : key === "ArrowDown" ? 1 : 0;
      if (readOnly || !controller.nudge(dx * step, dy * step)) controller.panBy(-dx * 60, -dy * 60);
      return true;
    }
    case "]":
      if (controller.painting) brush.resize(1);
      else controller.cycleSelection(1);
      return true;
    case "[":
      if (controller.painting) brush.resize(-1);
      else controller.cycleSelection(-1);
      return true;
    case "?":
      showHelp();
      return true;
    case "r":
    case "R":
      if (saver.state !== "conflict") return false;
      leave(window.location.href);
      return true;
    case "m":
    case "M":
      if (saver.state !== "conflict") return false;
      mergeAfterConflict();
      return true;
    default:
      return false;
  }
}

const TYPING_ACTIONS = new Set(["task.complete", "task.skip", "task.save"]);

document.addEventListener("keydown", (event) => {
  if (help.open) return; // the dialog closes itself with Esc
  if (chooser) {
    if (trapTab($("parent-chooser"), event)) return; // it waits for an answer
    if (event.key === "Escape") {
      closeChooser(true);
      event.preventDefault();
      return;
    }
    const digit = /^[1-9]$/.test(event.key) ? Number(event.key) : 0;
    const choice = digit ? $("parent-chooser").querySelectorAll("button[data-uid]")[digit - 1] : null;
    if (choice) {
      choice.click();
      event.preventDefault();
      return;
    }
  }
  const combo = comboOf(event);
  if (isTyping(event)) {
    const action = keymap.actionFor(combo);
    if (event.key === "Escape") {
      event.target.blur();
      canvas.focus();
      event.preventDefault();
    } else if ((event.ctrlKey || event.metaKey || event.altKey) && TYPING_ACTIONS.has(action)) {
      event.preventDefault();
      runAction(action);
    }
    return;
  }
  let handled = fixedKey(event);
  if (!handled) {
    const action = keymap.actionFor(combo);
    handled = action ? runAction(action) : false;
  }
  if (handled) event.preventDefault();
});

document.addEventListener("keyup", (event) => {
  if (event.key === " ") {
    controller.spaceHeld = false;
    canvas.style.cursor = controller.painting ? "none" : controller.mode === "draw" ? "crosshair" : "default";
  }
});
window.addEventListener("blur", () => (controller.spaceHeld = false));

// For the browser tests and for debugging from the console.
window.labelsite = { store, controller, renderer, view: renderer.view, saver, config, keymap, brush, firstPaint: null };
updatePaintButtons();
// Assisted segmentation: box to mask, magic wand, scissors (assist.js draws and handles its own keys).
window.labelsite.assist = new AssistTools({ panel: $("assist"), canvas, controller, store, config, renderer, image, api, urls: urls.assist, keymap, notify: toast, readOnly });
canvas.focus({ preventScroll: true });
renderer.invalidate();
