// Every action has a key. This table is the single list: the help overlay (?) shows it.

import { el, kbd } from "./dom.js";

export const BINDINGS = [
  ["Drawing", [
    [["1", "…", "9", "0"], "Choose the class with that shortcut digit (shown in the class list)"],
    [["V"], "Select and edit tool"],
    [["Click"], "Point: place it. Polygon, line, segmentation: add a point"],
    [["Drag"], "Rectangle: drag from corner to corner (or click both corners)"],
    [["Enter"], "Finish the polygon, line or segmentation polygon (or double-click, or click the first point)"],
    [["Backspace"], "While drawing: remove the last point"],
    [["Esc"], "Cancel the drawing; again: back to the select tool; again: clear the selection"],
    [["Ctrl", "Click"], "While a drawing tool is on: select the label under the pointer"],
  ]],
  ["Editing", [
    [["Click"], "Select a label (children are drawn inside their selected parent)"],
    [["Drag"], "Move the selected label, or a vertex or rectangle corner of it"],
    [["Click edge"], "Insert a vertex on an edge of the selected polygon or line (Alt+click while drawing)"],
    [["Shift", "Click"], "Remove the vertex under the pointer"],
    [["Del"], "Delete the active vertex, or else the selected label"],
    [["←", "↑", "→", "↓"], "Move the selected label by 1 pixel (Shift: 10), or pan"],
    [[","], "Turn the selected box of a rotatable class 1° counter-clockwise (Shift: 15°)"],
    [["."], "Turn the selected box of a rotatable class 1° clockwise (Shift: 15°)"],
    [["Drag handle"], "Turn the selected box of a rotatable class with the round handle above it (Shift: 15° steps)"],
    [["]"], "Select the next label"],
    [["["], "Select the previous label"],
    [["Ctrl", "Z"], "Undo"],
    [["Ctrl", "Shift", "Z"], "Redo (also Ctrl+Y)"],
  ]],
  ["Predictions", [
    [["A"], "Accept the selected prediction"],
    [["X"], "Dismiss the selected prediction"],
    [["Shift", "A"], "Accept all predictions"],
    [["Shift", "X"], "Dismiss all predictions"],
  ]],
  ["View", [
    [["Wheel"], "Zoom at the pointer"],
    [["+"], "Zoom in"],
    [["-"], "Zoom out"],
    [["F"], "Fit the image to the screen"],
    [["Space", "Drag"], "Pan (or drag with the middle button, or drag empty space with the select tool)"],
    [["H"], "Hide or show the labels"],
  ]],
  ["Task", [
    [["Q"], "Go to the questions"],
    [["L"], "Go to the class list"],
    [["Ctrl", "S"], "Save now (saving is automatic)"],
    [["Ctrl", "Enter"], "Complete the task and open the next one"],
    [["Ctrl", "Shift", "Enter"], "Skip the task and open the next one"],
    [["N"], "Next task"],
    [["P"], "Previous task"],
    [["R"], "After a save conflict: reload their version (yours stays on this computer as a draft)"],
    [["M"], "After a save conflict: merge your changes into their version, then save"],
    [["?"], "This help"],
  ]],
];

export function renderHelp(container) {
  const parts = [];
  for (const [group, rows] of BINDINGS) {
    const table = el("table", { className: "keys" });
    for (const [keys, does] of rows) {
      const cell = el("td", { className: "keys__keys" });
      keys.forEach((key, i) => {
        if (i) cell.append(key === "…" || keys[i - 1] === "…" ? " " : " + ");
        cell.append(key === "…" ? "…" : kbd(key));
      });
      table.append(el("tr", {}, [cell, el("td", { textContent: does })]));
    }
    parts.push(el("section", {}, [el("h3", { textContent: group }), table]));
  }
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
