// Assisted segmentation on the labeling page: box to mask (GrabCut), magic wand, scissors.
//
// The server computes (POST /api/tasks/{id}/assist/{tool}, see assist/); this module draws
// what the annotator does and what comes back on a layer of its own over the canvas, and
// turns a kept result into a label of the current class through the canvas controller (so
// nesting, "add region" and undo work as for a drawn label).
//
// - Box to mask: drag a box; the outline appears; Enter keeps it, Esc discards it, a new box
//   replaces it.
// - Magic wand: click; the tolerance slider (0-255) redoes the last click as it moves.
// - Scissors: click points along the edge; after each click the path between the last two
//   follows the edge; the dashed line shows where the next goes. Enter or a double click closes
//   the outline (the path from the last point back to the first) and keeps it; Backspace
//   removes the last point; Esc discards them.
//
// While a tool is on, a left press on the canvas is the tool's; Space+drag and the middle
// button still pan, the wheel zooms, Ctrl+click still selects.

import { errorOf } from "./api.js";
import { comboOf, isTyping } from "./keys.js";

const TOOLS = {
  "assist.grabcut": "grabcut",
  "assist.wand": "wand",
  "assist.scissors": "scissors",
};
const TITLES = { grabcut: "Box to mask", wand: "Magic wand", scissors: "Scissors" };
const ASSISTABLE = new Set(["polygon", "segmentation"]);
const CLICK_SLOP = 4;

export class AssistTools extends EventTarget {
  constructor({ panel, canvas, controller, store, config, renderer, image, api, urls, keymap, notify, readOnly }) {
    super();
    this.panel = panel;
    this.canvas = canvas;
    this.controller = controller;
    this.store = store;
    this.config = config;
    this.renderer = renderer;
    this.view = renderer.view;
    this.image = image;
    this.api = api;
    this.urls = urls || {};
    this.keymap = keymap;
    this.notify = notify;
    this.tool = null;
    this.preview = null; // {type, points (rings or a ring), area, seed?} from the server
    this.box = null; // {start, end} while a box is dragged
    this.anchors = []; // scissors: the points clicked
    this.segments = []; // scissors: segments[i] is the edge path from anchors[i] to anchors[i + 1]
    this.pending = new Map(); // scissors: segment requests in flight, by their first anchor
    this.generation = 0; // bumped when the tool's work is discarded: late answers are dropped
    this.cursor = null;
    this.busy = 0; // requests in flight
    this.request = 0; // the number of the latest request: older answers are dropped

    const classes = config.drawableClasses().filter(({ entry }) => ASSISTABLE.has(entry.type));
    this.available = !readOnly && classes.length > 0 && Boolean(this.urls.grabcut);
    panel.hidden = !this.available;
    if (!this.available) return;

    this.buttons = [...panel.querySelectorAll("[data-assist-tool]")];
    this.tolerance = panel.querySelector("#assist-tolerance");
    this.toleranceOutput = panel.querySelector("output[for=assist-tolerance]");
    this.hint = panel.querySelector("[data-assist-hint]");
    for (const button of this.buttons) {
      button.addEventListener("click", () => {
        this.toggle(button.dataset.assistTool);
        canvas.focus({ preventScroll: true });
      });
    }
    this.tolerance.addEventListener("input", () => {
      this.toleranceOutput.value = this.tolerance.value;
      if (this.tool === "wand" && this.preview?.seed) {
        clearTimeout(this.toleranceTimer);
        this.toleranceTimer = setTimeout(() => this.wandAt(this.preview.seed), 150);
      }
    });
    this.toleranceOutput.value = this.tolerance.value;

    // The layer the tools draw on: over the canvas, letting every event through to it.
    this.layer = document.createElement("canvas");
    this.layer.className = "assist-layer";
    this.layer.setAttribute("aria-hidden", "true");
    canvas.after(this.layer);
    this.ctx = this.layer.getContext("2d");
    new ResizeObserver(() => this.draw()).observe(canvas.parentElement);
    controller.addEventListener("view", () => this.draw());
    controller.addEventListener("mode", () => this.followMode());

    // Capture on the canvas's box runs before the controller's own listeners on the canvas.
    const box = canvas.parentElement;
    box.addEventListener("pointerdown", (event) => this.onPointerDown(event), true);
    box.addEventListener("pointermove", (event) => this.onPointerMove(event), true);
    box.addEventListener("pointerup", (event) => this.onPointerUp(event), true);
    box.addEventListener("dblclick", (event) => this.onDoubleClick(event), true);
    box.addEventListener("pointerleave", () => {
      this.cursor = null;
      this.draw();
    });
    // Before the page's own key handler (on the document): the tools' keys, and Enter, Esc and
    // Backspace while a tool has something in hand.
    window.addEventListener("keydown", (event) => this.onKeyDown(event), true);
    keymap.addEventListener("change", () => this.updateButtons());
    // The status bar's hint speaks of the tool while one is on (the page writes it first on these events).
    this.modeHint = document.getElementById("mode-hint");
    for (const [target, name] of [[controller, "mode"], [controller, "cursor"], [store, "select"]]) {
      target.addEventListener(name, () => this.updateHint());
    }
    this.updateButtons();
  }

  updateHint() {
    const item = this.classItem();
    if (!this.tool || !item || !this.modeHint) return;
    const how = {
      grabcut: "drag a box around the object; Enter keeps the outline, Esc discards it",
      wand: "click inside a region (the tolerance slider sets its reach); Enter keeps it, Esc discards it",
      scissors: `click points along the edge (${this.anchors.length} so far); Enter or a double click closes and keeps the outline`,
    }[this.tool];
    this.modeHint.textContent = `${TITLES[this.tool]} for ${item.entry.title} (${item.entry.type}): ${how}.`;
  }

  // --- tools ---------------------------------------------------------------------------------

  /** The class a result becomes: the current one when it is a polygon or segmentation class. */
  classItem() {
    const item = this.controller.mode === "draw" ? this.controller.currentClass : null;
    return item && ASSISTABLE.has(item.entry.type) ? item : null;
  }

  toggle(tool) {
    if (this.tool === tool) {
      this.stop();
      return;
    }
    if (!this.classItem()) {
      const item = this.config.drawableClasses().find(({ entry }) => ASSISTABLE.has(entry.type));
      this.switching = true;
      this.controller.setClass(item);
      this.switching = false;
      this.notify(`${TITLES[tool]} outlines a polygon or segmentation class: now “${item.entry.title}”. A class key chooses another.`);
    }
    this.discard();
    this.tool = tool;
    this.canvas.style.cursor = "crosshair";
    this.updateButtons();
    this.draw();
  }

  stop() {
    this.discard();
    this.tool = null;
    this.updateButtons();
    this.draw();
    // The page's status hint and class list speak of its own tools again.
    this.controller.dispatchEvent(new CustomEvent("mode"));
  }

  /** Another class or the select tool was chosen: a polygon or segmentation class keeps the tool. */
  followMode() {
    if (!this.tool || this.switching) return;
    if (!this.classItem()) this.stop();
    else this.draw();
  }

  discard() {
    this.preview = null;
    this.box = null;
    this.anchors = [];
    this.segments = [];
    this.pending = new Map();
    this.generation++;
    this.request++; // answers still on their way are dropped
    this.draw();
  }

  updateButtons() {
    for (const button of this.buttons) {
      const tool = button.dataset.assistTool;
      button.setAttribute("aria-pressed", String(this.tool === tool));
      const action = Object.keys(TOOLS).find((id) => TOOLS[id] === tool);
      const key = this.keymap.keysOf(action)[0];
      button.title = `${this.keymap.titles.get(action)}${key ? ` (${key.toUpperCase()})` : ""}`;
    }
    this.panel.querySelector(".assist-tolerance").hidden = this.tool !== "wand";
    const hints = {
      grabcut: "Drag a box around the object. Enter keeps the outline, Esc discards it.",
      wand: "Click inside a region. The slider sets how far it reaches. Enter keeps it, Esc discards it.",
      scissors: "Click points along the object's edge. Enter or a double click closes and keeps it; Backspace removes the last point.",
    };
    this.hint.textContent = this.tool ? hints[this.tool] : "Outline an object for the current polygon or segmentation class.";
    document.body.dataset.assistActive = this.tool || "";
    this.updateHint();
  }

  // --- pointer -------------------------------------------------------------------------------

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    const [x, y] = this.view.toImage(event.clientX - rect.left, event.clientY - rect.top);
    return [Math.min(Math.max(x, 0), this.image.width - 0.01), Math.min(Math.max(y, 0), this.image.height - 0.01)];
  }

  /** Whether the tool takes this press: the left button, no pan (Space) and no Ctrl/Alt editing. */
  ours(event) {
    return Boolean(this.tool) && event.button === 0 && !this.controller.spaceHeld && !event.ctrlKey && !event.metaKey && !event.altKey;
  }

  onPointerDown(event) {
    if (!this.ours(event)) return;
    event.stopPropagation();
    event.preventDefault();
    this.canvas.focus({ preventScroll: true });
    const point = this.point(event);
    if (this.tool === "grabcut") {
      this.box = { start: point, end: point, sx: event.clientX, sy: event.clientY };
      try {
        this.canvas.parentElement.setPointerCapture(event.pointerId);
      } catch {
        // synthetic events have no pointer to capture
      }
    } else if (this.tool === "wand") {
      this.wandAt(point);
    } else if (this.tool === "scissors") {
      this.addAnchor(point);
    }
    this.draw();
  }

  onPointerMove(event) {
    if (!this.tool) return;
    this.cursor = this.point(event);
    if (this.box) {
      this.box.end = this.cursor;
      event.stopPropagation();
    }
    this.draw();
  }

  onPointerUp(event) {
    if (!this.box) return;
    event.stopPropagation();
    const box = this.box;
    this.box = null;
    box.end = this.point(event);
    if (Math.hypot(event.clientX - box.sx, event.clientY - box.sy) < CLICK_SLOP) {
      this.notify("Drag a box around the object: from one corner to the opposite one.");
      this.draw();
      return;
    }
    this.compute("grabcut", { box: [box.start, box.end] }, { box: [box.start, box.end] });
  }

  onDoubleClick(event) {
    if (!this.tool) return;
    event.stopPropagation();
    event.preventDefault();
    if (this.tool === "scissors") this.closeScissors();
  }

  // --- keys ----------------------------------------------------------------------------------

  onKeyDown(event) {
    if (!this.available || document.querySelector("dialog[open]")) return;
    // On the tolerance slider, Enter and Esc still keep and discard (its arrows move the slider).
    const onSlider = event.target === this.tolerance && (event.key === "Enter" || event.key === "Escape");
    if (isTyping(event) && !onSlider) return;
    const action = this.keymap.actionFor(comboOf(event));
    let handled = false;
    if (action && TOOLS[action] && !event.repeat) {
      this.toggle(TOOLS[action]);
      handled = true;
    } else if (this.tool && !event.ctrlKey && !event.metaKey && !event.altKey) {
      if (onSlider) this.canvas.focus({ preventScroll: true });
      if (event.key === "Enter") handled = this.keep({ addRegion: event.shiftKey });
      else if (event.key === "Escape") handled = this.escape();
      else if (event.key === "Backspace" || event.key === "Delete") handled = this.removeAnchor();
    }
    if (handled) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }

  escape() {
    if (this.preview || this.anchors.length || this.box) {
      this.discard();
      return true;
    }
    this.stop();
    return false; // the page's Esc goes on: back to the select tool
  }

  // --- the server ----------------------------------------------------------------------------

  wandAt(point) {
    this.compute("wand", { point, tolerance: Number(this.tolerance.value) }, { seed: point });
  }

  async compute(tool, body, extra) {
    const item = this.classItem();
    if (!item) return;
    const url = { grabcut: this.urls.grabcut, wand: this.urls["magic-wand"] }[tool];
    const number = ++this.request;
    const answer = await this.post(url, { ...body, geometry: item.entry.type });
    if (number !== this.request || this.tool !== tool) return;
    if (!answer) return;
    this.preview = { ...answer, ...extra, entryId: item.entry.id };
    this.draw();
    this.dispatchEvent(new CustomEvent("preview"));
  }

  /** POST with one retry after a 429 (every slot busy); answers the data or null (said in a toast). */
  async post(url, body) {
    this.busy++;
    this.updateBusy();
    try {
      for (let attempt = 0; ; attempt++) {
        const result = await this.api.post(url, body);
        if (result.ok) return result.data;
        if (result.status === 429 && attempt < 2) {
          await new Promise((resolve) => setTimeout(resolve, 700 * (attempt + 1)));
          continue;
        }
        this.notify(errorOf(result).message);
        return null;
      }
    } finally {
      this.busy--;
      this.updateBusy();
    }
  }

  updateBusy() {
    this.panel.dataset.busy = String(this.busy > 0);
    document.body.dataset.assistBusy = String(this.busy > 0);
  }

  // --- scissors ------------------------------------------------------------------------------

  addAnchor(point) {
    const first = this.anchors[0];
    if (first && this.anchors.length >= 3) {
      const [fx, fy] = this.view.toScreen(first[0], first[1]);
      const [sx, sy] = this.view.toScreen(point[0], point[1]);
      if (Math.hypot(fx - sx, fy - sy) <= 8) {
        this.closeScissors();
        return;
      }
    }
    const last = this.anchors[this.anchors.length - 1];
    if (last) {
      const [lx, ly] = this.view.toScreen(last[0], last[1]);
      const [sx, sy] = this.view.toScreen(point[0], point[1]);
      if (Math.hypot(lx - sx, ly - sy) < 3) return; // the second click of a double click
    }
    this.anchors.push(point);
    if (this.anchors.length > 1) this.segmentAsk(this.anchors.length - 2, this.anchors.length - 1);
    this.draw();
  }

  /** Ask for the edge path from anchor `from` to anchor `to` (index 0 after the last: closing). */
  segmentAsk(from, to) {
    const start = this.anchors[from], end = this.anchors[to];
    const generation = this.generation;
    const asked = this.post(this.urls.scissors, { points: [start, end], geometry: "line" }).then((answer) => {
      if (generation !== this.generation || this.anchors[from] !== start || this.anchors[to] !== end) return null;
      if (!answer) {
        if (to > 0) {
          this.anchors.length = to; // the point the path could not reach goes
          this.segments.length = to - 1;
        }
        this.draw();
        return null;
      }
      if (to > 0) this.segments[from] = answer.path;
      this.draw();
      return answer.path;
    });
    if (to > 0) this.pending.set(from, asked);
    return asked;
  }

  /** The path so far: each segment's edge path, or a straight line while it is being asked. */
  scissorsPath() {
    const path = this.anchors.slice(0, 1);
    for (let index = 1; index < this.anchors.length; index++) {
      const segment = this.segments[index - 1] || [this.anchors[index - 1], this.anchors[index]];
      path.push(...segment.slice(1));
    }
    return path;
  }

  removeAnchor() {
    if (this.tool !== "scissors" || !this.anchors.length) return false;
    this.anchors.pop();
    this.segments.length = Math.max(0, this.anchors.length - 1);
    this.draw();
    return true;
  }

  async closeScissors() {
    const item = this.classItem();
    if (!item || this.closing) return;
    if (this.anchors.length < 3) {
      this.notify("Scissors need at least three points around the object to close it.");
      return;
    }
    this.closing = true;
    try {
      const generation = this.generation;
      const count = this.anchors.length;
      const closingPath = await this.segmentAsk(count - 1, 0);
      await Promise.all(this.pending.values());
      if (generation !== this.generation || this.anchors.length !== count || !closingPath) return;
      if (this.segments.filter(Boolean).length !== count - 1) return; // a segment failed: its point went
      const ring = [...this.scissorsPath().slice(0, -1), ...closingPath.slice(0, -1)];
      if (ring.length < 3) {
        this.notify("The outline is too small to keep; click points further apart.");
        return;
      }
      this.preview = { type: item.entry.type, points: item.entry.type === "segmentation" ? [ring] : ring, entryId: item.entry.id };
      this.keep({ addRegion: this.closeAddsRegion });
    } finally {
      this.closing = false;
      this.closeAddsRegion = false;
    }
  }

  // --- keeping -------------------------------------------------------------------------------

  /** The preview becomes a label of the current class (one undo step); answers whether Enter was used. */
  keep({ addRegion = false }) {
    if (this.tool === "scissors" && !this.preview) {
      if (this.anchors.length >= 3) {
        this.closeAddsRegion = addRegion;
        this.closeScissors();
      } else if (this.anchors.length) {
        this.notify("Scissors need at least three points around the object to close it.");
      }
      return this.anchors.length > 0;
    }
    const preview = this.preview;
    if (!preview) return false;
    const item = this.classItem();
    if (!item || item.entry.id !== preview.entryId) {
      this.notify("The class changed since the outline was made; make it again for this class.");
      this.discard();
      return true;
    }
    const rings = preview.type === "segmentation" ? preview.points : [preview.points];
    const clean = rings
      .map((ring) => ring.map(([x, y]) => [round(clamp(x, this.image.width)), round(clamp(y, this.image.height))]))
      .filter((ring) => ring.length >= 3);
    if (!clean.length) {
      this.discard();
      return true;
    }
    this.discard();
    if (item.entry.type === "segmentation") this.controller.create(clean[0], { addRegion, rings: clean });
    else this.controller.create(clean[0], { addRegion });
    this.dispatchEvent(new CustomEvent("kept"));
    return true;
  }

  // --- drawing -------------------------------------------------------------------------------

  draw() {
    if (!this.layer) return;
    const parent = this.canvas.parentElement;
    const dpr = window.devicePixelRatio || 1;
    const width = parent.clientWidth, height = parent.clientHeight;
    if (this.layer.width !== Math.round(width * dpr) || this.layer.height !== Math.round(height * dpr)) {
      this.layer.width = Math.round(width * dpr);
      this.layer.height = Math.round(height * dpr);
      this.layer.style.width = `${width}px`;
      this.layer.style.height = `${height}px`;
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.layer.width, this.layer.height);
    if (!this.tool) return;
    this.updateHint();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const color = this.classItem()?.entry.drawColor || "#fff";
    const screen = ([x, y]) => this.view.toScreen(x, y);
    if (this.preview) {
      const rings = this.preview.type === "segmentation" ? this.preview.points : [this.preview.points];
      ctx.beginPath();
      for (const ring of rings) {
        ring.forEach((point, index) => (index ? ctx.lineTo(...screen(point)) : ctx.moveTo(...screen(point))));
        ctx.closePath();
      }
      ctx.globalAlpha = 0.4;
      ctx.fillStyle = color;
      ctx.fill("evenodd");
      ctx.globalAlpha = 1;
      // A dark band under a white dashed line: seen on any image, also on an object of the class's colour.
      ctx.lineWidth = 4;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.75)";
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.setLineDash([6, 4]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (this.box) {
      const [x1, y1] = screen(this.box.start);
      const [x2, y2] = screen(this.box.end);
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.setLineDash([5, 4]);
      ctx.strokeRect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
      ctx.setLineDash([]);
    }
    if (this.tool === "scissors" && this.anchors.length) {
      ctx.beginPath();
      this.scissorsPath().forEach((point, index) => (index ? ctx.lineTo(...screen(point)) : ctx.moveTo(...screen(point))));
      ctx.lineWidth = 4;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.75)";
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = color;
      ctx.stroke();
      if (this.cursor) {
        ctx.setLineDash([4, 4]);
        ctx.beginPath();
        ctx.moveTo(...screen(this.anchors[this.anchors.length - 1]));
        ctx.lineTo(...screen(this.cursor));
        ctx.stroke();
        ctx.setLineDash([]);
      }
      ctx.fillStyle = "#fff";
      ctx.strokeStyle = "rgba(0, 0, 0, 0.75)";
      ctx.lineWidth = 1.5;
      this.anchors.forEach((anchor, index) => {
        const [sx, sy] = screen(anchor);
        ctx.beginPath();
        ctx.arc(sx, sy, index === 0 ? 5 : 3.5, 0, Math.PI * 2);
        ctx.fill();
        ctx.stroke();
      });
    }
  }
}

function clamp(value, most) {
  return Math.min(Math.max(value, 0), most);
}

function round(value) {
  return Math.round(value * 10) / 10;
}
