// The labeling page: wires the store, the canvas, the panels, autosave and the keyboard.
// The page's data comes from the server with json_script; everything else goes through
// the native REST API.

import { Api, errorOf } from "./api.js";
import { Autosave } from "./autosave.js";
import { CanvasController } from "./canvas.js";
import { Config } from "./config.js";
import { el } from "./dom.js";
import { isTyping, renderHelp } from "./keys.js";
import { renderQuestions } from "./questions.js";
import { Renderer } from "./renderer.js";
import { ClassList, LabelList, PredictionPanel, swatch } from "./sidebar.js";
import { Store } from "./store.js";

const data = JSON.parse(document.getElementById("labeling-data").textContent);
const $ = (id) => document.getElementById(id);
const urls = data.urls;
const readOnly = !data.canLabel;

const config = new Config(data.config);
const store = new Store(data.document);
const api = new Api(data.csrfToken);
const canvas = $("stage");

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
function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), 4500);
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
new ClassList($("class-list"), { config, controller });
new LabelList($("label-list"), { store, config, countElement: $("label-count") });

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
  const body = el("div");
  const questions = config.questionsOf(entry);
  renderQuestions(body, { questions, tree: shape.answers, path: `${path}.answers`, onEdit });
  if (!questions.length) body.append(el("p", { className: "muted small", textContent: "This class has no questions." }));
  const actions = el("div", { className: "row" });
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
  container.replaceChildren(info, body, actions);
  markProblems(container);
}

store.addEventListener("select", (event) => {
  if (!event.detail?.same) renderShapePanel();
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

if (readOnly) {
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
      leave(`${urls.taskList}?state=completed`);
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
renderHelp($("help-body"));
$("help-button").addEventListener("click", () => help.showModal());
$("help-close").addEventListener("click", () => help.close());

function updateHint() {
  let text;
  if (readOnly) text = "Read only: pan with drag, zoom with the wheel.";
  else if (controller.mode === "select") {
    text = "Select: click a label; drag it or its vertices; click an edge to add a vertex; Shift+click a vertex to remove it.";
  } else {
    const { entry, parent } = controller.currentClass;
    const how = {
      rectangle: "drag from corner to corner",
      point: "click to place",
      line: "click to add points, Enter to finish",
      polygon: "click to add points, Enter or the first point to finish",
      segmentation: "click to add points, Enter to finish a polygon; draw again to add a polygon to the selected one",
    }[entry.type];
    text = `${entry.title} (${entry.type}): ${how}.`;
    if (parent) {
      text += controller.parentFor(parent) ? ` Goes inside the selected ${parent.title}.` : ` Select a ${parent.title} first.`;
    }
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

function classForDigit(digit) {
  const candidates = config.drawableClasses().filter(({ entry }) => entry.shortcut === digit);
  if (!candidates.length) return null;
  // A nested class whose parent is selected wins over a root class with the same digit.
  return candidates.find(({ parent }) => parent && controller.parentFor(parent)) || candidates.find(({ parent }) => !parent) || candidates[0];
}

function focusQuestions() {
  const target =
    $("shape-questions").querySelector("input, select, textarea") || $("global-questions").querySelector("input, select, textarea");
  if (target) target.focus();
  else toast("There is no question to answer here.");
}

document.addEventListener("keydown", (event) => {
  if (help.open) return; // the dialog closes itself with Esc
  const ctrl = event.ctrlKey || event.metaKey;
  const key = event.key;
  if (isTyping(event)) {
    if (key === "Escape") {
      event.target.blur();
      canvas.focus();
      event.preventDefault();
    } else if (ctrl && key === "Enter") {
      event.preventDefault();
      finish(event.shiftKey ? "skip" : "complete");
    } else if (ctrl && key.toLowerCase() === "s") {
      event.preventDefault();
      saver.flush();
    }
    return;
  }
  const onButton = event.target instanceof HTMLButtonElement || event.target instanceof HTMLAnchorElement;
  let handled = true;
  if (ctrl) {
    const lower = key.toLowerCase();
    if (lower === "z" && !event.shiftKey) {
      if (!controller.removeLastDrawingPoint()) store.undo();
    } else if ((lower === "z" && event.shiftKey) || lower === "y") store.redo();
    else if (lower === "s") saver.flush();
    else if (key === "Enter") finish(event.shiftKey ? "skip" : "complete");
    else handled = false;
  } else if (event.altKey) {
    handled = false;
  } else if (event.code === "Comma" || event.code === "Period") {
    // Turn the selected box of a rotatable class (, counter-clockwise, . clockwise; Shift: 15°).
    if (!controller.rotateSelected(event.code === "Period" ? 1 : -1, event.shiftKey)) handled = false;
  } else if (/^[0-9]$/.test(key)) {
    const item = classForDigit(key);
    if (item && !readOnly) controller.setClass(item);
    else handled = false;
  } else {
    switch (key) {
      case " ":
        if (onButton) handled = false;
        else {
          controller.spaceHeld = true;
          canvas.style.cursor = "grab";
        }
        break;
      case "Escape":
        controller.escape();
        break;
      case "Enter":
        if (!controller.finishDrawing()) handled = false;
        break;
      case "Backspace":
      case "Delete":
        if (readOnly || (!controller.removeLastDrawingPoint() && !controller.deleteSelection())) handled = false;
        break;
      case "ArrowLeft":
      case "ArrowRight":
      case "ArrowUp":
      case "ArrowDown": {
        const step = event.shiftKey ? 10 : 1;
        const dx = key === "ArrowLeft" ? -1 : key === "ArrowRight" ? 1 : 0;
        const dy = key === "ArrowUp" ? -1 : key === "ArrowDown" ? 1 : 0;
        if (readOnly || !controller.nudge(dx * step, dy * step)) controller.panBy(-dx * 60, -dy * 60);
        break;
      }
      case "]":
        controller.cycleSelection(1);
        break;
      case "[":
        controller.cycleSelection(-1);
        break;
      case "+":
      case "=":
        controller.zoom(1.25);
        break;
      case "-":
      case "_":
        controller.zoom(0.8);
        break;
      case "?":
        help.showModal();
        break;
      default:
        handled = handleLetter(key.toLowerCase(), event.shiftKey);
    }
  }
  if (handled) event.preventDefault();
});

function handleLetter(letter, shift) {
  switch (letter) {
    case "v":
      controller.setSelectMode();
      return true;
    case "f":
      controller.fit();
      return true;
    case "h":
      renderer.hidden = !renderer.hidden;
      renderer.invalidate();
      toast(renderer.hidden ? "Labels hidden (H shows them)." : "Labels shown.");
      return true;
    case "a":
      if (shift) predictions.acceptAll();
      else if (!predictions.accept(store.selectedUid)) toast("Select a prediction to accept it.");
      return true;
    case "x":
      if (shift) predictions.dismissAll();
      else if (!predictions.dismiss(store.selectedUid)) toast("Select a prediction to dismiss it.");
      return true;
    case "q":
      focusQuestions();
      return true;
    case "l": {
      const pressed = $("class-list").querySelector('[aria-pressed="true"]') || $("class-list").querySelector("button");
      pressed?.focus();
      return true;
    }
    case "n":
      goTo(urls.next);
      return true;
    case "p":
      goTo(urls.previous);
      return true;
    case "r":
      if (saver.state === "conflict") {
        leave(window.location.href);
        return true;
      }
      return false;
    case "m":
      if (saver.state === "conflict") {
        mergeAfterConflict();
        return true;
      }
      return false;
    default:
      return false;
  }
}

document.addEventListener("keyup", (event) => {
  if (event.key === " ") {
    controller.spaceHeld = false;
    canvas.style.cursor = controller.mode === "draw" ? "crosshair" : "default";
  }
});
window.addEventListener("blur", () => (controller.spaceHeld = false));

// For the browser tests and for debugging from the console.
window.labelsite = { store, controller, renderer, view: renderer.view, saver, config, firstPaint: null };
canvas.focus({ preventScroll: true });
renderer.invalidate();
