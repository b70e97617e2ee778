// Every action has a key. The table below is the single list: the help overlay (?) shows
// it, and the page's keyboard handler looks actions up in the KeyMap built from it.
//
// Remappable actions (and the class shortcuts) can be moved by the annotator in the help
// overlay; the choice is kept per user (see KeyMap). Keys that drawing and editing depend on
// (Esc, Enter, Delete, arrow keys, Space, undo) stay fixed so that a remap cannot strand
// the annotator.

import { el, kbd } from "./dom.js";

/** [id, title, default keys]; ids are what KeyMap stores. */
export const ACTIONS = [
  ["tool.select", "Select and edit tool", ["v"]],
  ["tool.brush", "Brush: paint a region of a segmentation class", ["b"]],
  ["tool.eraser", "Eraser: erase from the selected segmentation label", ["e"]],
  ["edit.copy", "Copy the selected labels", ["ctrl+c"]],
  ["edit.paste", "Paste labels (into this or the next task)", ["ctrl+v"]],
  ["edit.duplicate", "Duplicate the selected labels", ["ctrl+d"]],
  ["edit.copyPrevious", "Copy all labels from the previous task", ["ctrl+shift+v"]],
  ["edit.snapping", "Snapping to other labels' vertices and edges on or off", ["shift+s"]],
  ["view.fit", "Fit the image to the screen", ["f"]],
  ["view.hideAll", "Hide or show all labels", ["h"]],
  ["view.actualSize", "Image at its own size (1:1)", ["o"]],
  ["view.adjust", "Brightness, contrast and gamma of the image", ["shift+b"]],
  ["view.leftPanel", "Show or hide the classes and labels panel", ["{"]],
  ["view.rightPanel", "Show or hide the questions panel", ["}"]],
  ["view.hideSelected", "Hide the selected labels (the label list shows them again)", ["shift+h"]],
  ["edit.lockSelected", "Lock or unlock the selected labels", ["shift+l"]],
  ["view.zoomIn", "Zoom in", ["+", "="]],
  ["view.zoomOut", "Zoom out", ["-"]],
  ["prediction.accept", "Accept the selected prediction", ["a"]],
  ["prediction.dismiss", "Dismiss the selected prediction", ["x"]],
  ["prediction.acceptAll", "Accept all predictions", ["shift+a"]],
  ["prediction.dismissAll", "Dismiss all predictions", ["shift+x"]],
  ["focus.questions", "Go to the questions", ["q"]],
  ["focus.classes", "Go to the class list", ["l"]],
  ["task.save", "Save now (saving is automatic)", ["ctrl+s"]],
  ["task.complete", "Complete the task (submit) and open the next one", ["ctrl+enter"]],
  ["task.skip", "Skip the task and open the next one", ["ctrl+shift+enter"]],
  ["task.next", "Next task", ["n"]],
  ["task.previous", "Previous task", ["p"]],
  // Turning the selected box of a rotatable class (`rotatable` on a rectangle class).
  ["shape.rotateCcw", "Turn the selected box of a rotatable class 1° counter-clockwise", [","]],
  ["shape.rotateCw", "Turn the selected box of a rotatable class 1° clockwise", ["."]],
  ["shape.rotateCcwMore", "Turn the selected box of a rotatable class 15° counter-clockwise", ["<"]],
  ["shape.rotateCwMore", "Turn the selected box of a rotatable class 15° clockwise", [">"]],
  // Assisted segmentation (assist.js): tools that outline an object for a polygon or segmentation class.
  ["assist.grabcut", "Box to mask: drag a box around an object (GrabCut outlines it)", ["g"]],
  ["assist.wand", "Magic wand: click a region of one colour (the tolerance says how far it reaches)", ["w"]],
  ["assist.scissors", "Scissors: click points along an object's edge; the outline follows the edge", ["i"]],
];

/** Keys no remap may take: drawing, editing and the dialogs rely on them. */
const FIXED = new Set([
  "escape", "enter", "backspace", "delete", "tab", "shift+tab", "space", "?", "[", "]",
  "arrowleft", "arrowright", "arrowup", "arrowdown", "shift+arrowleft", "shift+arrowright", "shift+arrowup", "shift+arrowdown",
  "ctrl+z", "ctrl+shift+z", "ctrl+y",
]);

const GROUPS = [
  ["Drawing", [
    { keys: "classes", does: "Choose the class with that shortcut (shown in the class list; every class is listed under Classes below). With the select tool and a label selected: change that label's class" },
    { action: "tool.select" },
    { keys: "Click", does: "Point: place it. Polygon, line, segmentation: add a point. A press always starts a new shape, even on another label's corner or vertex" },
    { keys: "Drag", does: "Rectangle: drag from corner to corner (or click both corners)" },
    { keys: "Enter", does: "Finish the polygon, line or segmentation polygon (or double-click, or click the first point)" },
    { keys: "Shift+Enter", does: "Segmentation: add the polygon to the selected label of that class (or hold Shift while clicking); without Shift it is a new label" },
    { keys: "Backspace", does: "While drawing: remove the last point" },
    { action: "tool.brush" },
    { action: "tool.eraser" },
    { keys: "Drag", does: "Brush: paint a new label of the class (Shift+Drag: add to the selected label of that class). Eraser: erase from the selected segmentation label, or the one under the press; erasing all of it deletes it (Ctrl+Z brings it back)" },
    { keys: "[ and ]", does: "Brush or eraser on: make it smaller, larger (its size is in image pixels; the circle shows it)" },
    { action: "edit.snapping" },
    { keys: "Esc", does: "Cancel the drawing; again: back to the select tool; again: clear the selection" },
    { keys: "Ctrl+Click", does: "While a drawing tool is on: select the label under the pointer" },
    { keys: "Ctrl+Drag, Alt+Drag", does: "While a drawing tool is on: move a corner or vertex of the selected label, or insert one on an edge" },
  ]],
  ["Editing (select tool)", [
    { keys: "Click", does: "Select a label (nested classes go inside the selected parent, or the one that contains them)" },
    { keys: "Shift+Click", does: "Add a label to the selection, or take it out (on a vertex of the selected label: remove that vertex)" },
    { keys: "Drag on empty space", does: "Select the labels inside a box (with Shift: add them to the selection)" },
    { keys: "Drag", does: "Move the selected labels, or a vertex or rectangle corner of the selected one" },
    { keys: "Click edge", does: "Insert a vertex on an edge of the selected polygon or line" },
    { keys: "Del", does: "Delete the active vertex, or else the selected labels" },
    { keys: "arrow keys", does: "Move the selected labels by 1 pixel (with Shift: 10), or pan" },
    { keys: "]", does: "Select the next label" },
    { keys: "[", does: "Select the previous label" },
    { action: "edit.copy" },
    { action: "edit.paste" },
    { action: "edit.duplicate" },
    { action: "edit.copyPrevious" },
    { keys: "Drag handle", does: "Turn the selected box of a rotatable class about its centre with the round handle above it (Shift: 15° steps); its corners resize it in its own frame" },
    { action: "shape.rotateCcw" },
    { action: "shape.rotateCw" },
    { action: "shape.rotateCcwMore" },
    { action: "shape.rotateCwMore" },
    { keys: "Ctrl+Z", does: "Undo" },
    { keys: "Ctrl+Shift+Z", does: "Redo (also Ctrl+Y)" },
  ]],
  ["Assisted segmentation", [
    { action: "assist.grabcut" },
    { action: "assist.wand" },
    { action: "assist.scissors" },
    { keys: "Enter", does: "Keep the outline (box, wand) as a label of the class; scissors: close the outline and keep it" },
    { keys: "Esc", does: "Discard the outline or the scissors' points; again: leave the tool" },
    { keys: "Backspace", does: "Scissors: remove the last point" },
    { keys: "Shift+Enter", does: "Segmentation: add the outline to the selected label of that class" },
  ]],
  ["Predictions", [
    { action: "prediction.accept" },
    { action: "prediction.dismiss" },
    { action: "prediction.acceptAll" },
    { action: "prediction.dismissAll" },
  ]],
  ["View", [
    { keys: "Wheel", does: "Zoom at the pointer" },
    { action: "view.zoomIn" },
    { action: "view.zoomOut" },
    { action: "view.fit" },
    { action: "view.actualSize" },
    { action: "view.adjust" },
    { action: "view.leftPanel" },
    { action: "view.rightPanel" },
    { keys: "Space+Drag", does: "Pan (or drag with the middle button)" },
    { action: "view.hideAll" },
    { action: "view.hideSelected" },
    { action: "edit.lockSelected" },
  ]],
  ["Task", [
    { action: "focus.questions" },
    { action: "focus.classes" },
    { action: "task.save" },
    { action: "task.complete" },
    { action: "task.skip" },
    { action: "task.next" },
    { action: "task.previous" },
    { keys: "R", does: "After a save conflict: reload their version (yours stays on this computer as a draft)" },
    { keys: "M", does: "After a save conflict: merge your changes into their version, then save" },
    { keys: "?", does: "This help" },
  ]],
];

/** The key combination of a keydown, as the key map stores it: "ctrl+shift+enter", "a", "+". */
export function comboOf(event) {
  let key = event.key;
  if (key === " ") key = "space";
  const printable = key.length === 1;
  const parts = [];
  if (event.ctrlKey || event.metaKey) parts.push("ctrl");
  if (event.altKey) parts.push("alt");
  // Shift is part of a letter's or a named key's combination; for "?" or "+" it is how the
  // character is typed, not a modifier.
  if (event.shiftKey && (!printable || /[a-z]/i.test(key))) parts.push("shift");
  parts.push(key.toLowerCase());
  return parts.join("+");
}

const NAMES = { ctrl: "Ctrl", alt: "Alt", shift: "Shift", enter: "Enter", space: "Space", escape: "Esc", delete: "Del" };

/** "ctrl+shift+enter" -> "Ctrl+Shift+Enter"; "a" -> "A". */
export function displayCombo(combo) {
  if (combo === "+") return "+";
  const parts = combo.endsWith("++") ? [...combo.slice(0, -2).split("+"), "+"] : combo.split("+");
  return parts.map((part) => NAMES[part] || (part.length === 1 ? part.toUpperCase() : part[0].toUpperCase() + part.slice(1))).join("+");
}

/** Plain words for a set of keys: digits as ranges in keyboard order ("1-9, 0"), others listed. */
export function describeKeys(combos) {
  const order = "1234567890";
  const digits = combos.filter((c) => /^[0-9]$/.test(c)).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const others = combos.filter((c) => !/^[0-9]$/.test(c)).map(displayCombo).sort();
  const runs = [];
  for (const digit of digits) {
    const run = runs[runs.length - 1];
    if (run && order.indexOf(digit) === order.indexOf(run[run.length - 1]) + 1) run.push(digit);
    else runs.push([digit]);
  }
  const parts = runs.map((run) => (run.length > 2 ? `${run[0]}-${run[run.length - 1]}` : run.join(", ")));
  return [...parts, ...others].join(", ");
}

/**
 * Actions and class shortcuts by key, with the annotator's own keys on top of the defaults.
 *
 * The annotator's keys (`overrides`: action id -> key) are kept per user on the server
 * (/api/me/labeling-keys); `persist` sends them after each change.
 */
export class KeyMap extends EventTarget {
  constructor({ classes, overrides = {}, persist = () => {} }) {
    super();
    this.persist = persist;
    this.titles = new Map(ACTIONS.map(([id, title]) => [id, title]));
    this.defaults = new Map(ACTIONS.map(([id, , keys]) => [id, keys]));
    for (const { entry, parent } of classes) {
      const id = `class:${entry.id}`;
      this.titles.set(id, parent ? `${entry.title} (inside ${parent.title})` : entry.title);
      this.defaults.set(id, entry.shortcut ? [entry.shortcut.toLowerCase()] : []);
    }
    // One person's keys serve every project: the keys of other projects' classes are kept as they are.
    this.overrides = {};
    this.others = {};
    for (const [id, combo] of Object.entries(overrides || {})) {
      if (typeof combo !== "string") continue;
      if (this.defaults.has(id)) this.overrides[id] = combo;
      else this.others[id] = combo;
    }
    this.rebuild();
  }

  rebuild() {
    // Class shortcuts first: the project chose them, and a page action they shadow can be
    // given another key (the help says which).
    this.byCombo = new Map();
    const ids = [...this.defaults.keys()];
    const ordered = [...ids.filter((id) => id.startsWith("class:")), ...ids.filter((id) => !id.startsWith("class:"))];
    for (const id of ordered) for (const combo of this.keysOf(id)) if (!this.byCombo.has(combo)) this.byCombo.set(combo, id);
  }

  keysOf(id) {
    if (id in this.overrides) return this.overrides[id] ? [this.overrides[id]] : [];
    return this.defaults.get(id) || [];
  }

  actionFor(combo) {
    return this.byCombo.get(combo) || null;
  }

  /** Give `id` the key `combo` ("" removes its key); answers an error message, or null. */
  assign(id, combo) {
    if (combo && FIXED.has(combo)) return `${displayCombo(combo)} is a fixed key of the page; choose another.`;
    if (combo && /^(ctrl\+)?(alt\+)?(shift\+)?(control|alt|shift|meta)$/.test(combo)) return "Press a key, not only a modifier.";
    const holder = combo ? this.actionFor(combo) : null;
    if (holder && holder !== id) return `${displayCombo(combo)} is already “${this.titles.get(holder)}”; give that one another key first.`;
    this.overrides[id] = combo;
    if (combo === (this.defaults.get(id) || [])[0] && this.defaults.get(id).length === 1) delete this.overrides[id];
    this.save();
    return null;
  }

  reset() {
    this.overrides = {};
    this.save();
  }

  save() {
    this.persist({ ...this.others, ...this.overrides });
    this.rebuild();
    this.dispatchEvent(new CustomEvent("change"));
  }

  /** The class shortcut keys, for the help's summary row. */
  classKeys() {
    return [...this.defaults.keys()].filter((id) => id.startsWith("class:")).flatMap((id) => this.keysOf(id));
  }
}

function keyCell(text) {
  const cell = el("td", { className: "keys__keys" });
  // Words ("arrow keys", "1-6, S") read as words; a single combination as a key cap.
  if (text) cell.append(/[\s,]/.test(text) && text.length > 1 ? text : kbd(text));
  return cell;
}

/** The help overlay: every key in plain words; remappable ones with a Change button. */
export function renderHelp(container, { keymap, onRemap }) {
  const parts = [];
  const row = (keysText, does, id) => {
    const cells = [keyCell(keysText), el("td", { textContent: does })];
    const action = el("td", { className: "keys__change" });
    if (id) {
      const button = el("button", { type: "button", className: "link-button", textContent: "Change", dataset: { remap: id } });
      button.setAttribute("aria-label", `Change the key of ${keymap.titles.get(id)}`);
      button.addEventListener("click", () => onRemap(id, button));
      action.append(button);
    }
    cells.push(action);
    return el("tr", { dataset: id ? { action: id } : {} }, cells);
  };
  for (const [group, rows] of GROUPS) {
    const table = el("table", { className: "keys" });
    for (const item of rows) {
      if (item.action) {
        const keys = keymap.keysOf(item.action);
        const shadowed = keys.filter((combo) => keymap.actionFor(combo) !== item.action);
        let does = keymap.titles.get(item.action);
        if (shadowed.length) does += ` (${shadowed.map(displayCombo).join(", ")} is taken by the class ${keymap.titles.get(keymap.actionFor(shadowed[0]))}: change one of them)`;
        table.append(row(keys.map(displayCombo).join(", ") || "none", does, item.action));
      } else if (item.keys === "classes") {
        table.append(row(describeKeys(keymap.classKeys()) || "none", item.does, null));
      } else {
        table.append(row(item.keys, item.does, null));
      }
    }
    parts.push(el("section", {}, [el("h3", { textContent: group }), table]));
  }
  const classes = el("table", { className: "keys" });
  for (const id of keymap.defaults.keys()) {
    if (!id.startsWith("class:")) continue;
    classes.append(row(keymap.keysOf(id).map(displayCombo).join(", ") || "none", keymap.titles.get(id), id));
  }
  parts.push(el("section", {}, [el("h3", { textContent: "Classes" }), classes]));
  container.replaceChildren(...parts);
}

/** Whether a key event is typing in a form field (then only Esc and Ctrl shortcuts act). */
export function isTyping(event) {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(target.type);
}
