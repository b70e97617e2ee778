// Turning rectangles of a rotatable class: the handle above the selected box and the keys.
// The rotation math is in geometry.js; this module only decides when a box may turn.

import { normalizeRotation, rectangleCentre, rotationHandlePoint, rotationToward, setRectangleRotation } from "./geometry.js";

export const HANDLE_OFFSET = 24; // screen pixels from the box's top edge to its rotation handle
const HANDLE_HIT = 8; // screen pixels around the handle that grab it
const KEY_STEP = 1; // degrees per , or . (Shift: SHIFT_STEP)
const SHIFT_STEP = 15;

/** Whether the page lets this label turn: a rectangle of a class configured `rotatable`. */
export function canRotate(config, shape, parent) {
  return shape?.type === "rectangle" && Boolean(config.entryFor(shape, parent)?.rotatable);
}

/** The handle's position in image pixels at the view's scale. */
export function handlePoint(shape, view) {
  return rotationHandlePoint(shape, HANDLE_OFFSET / view.scale);
}

/** Whether the screen point (sx, sy) is on the selected box's rotation handle. */
export function handleHit(shape, view, sx, sy) {
  const [hx, hy] = view.toScreen(...handlePoint(shape, view));
  return Math.hypot(hx - sx, hy - sy) <= HANDLE_HIT;
}

/** A handle drag: the box turns to face the pointer; Shift snaps to 15°. */
export function dragRotation(shape, centre, x, y, snap) {
  let rotation = rotationToward(centre, x, y);
  if (snap) rotation = normalizeRotation(Math.round(rotation / SHIFT_STEP) * SHIFT_STEP);
  setRectangleRotation(shape, rotation);
}

export function rotationCentre(shape) {
  return rectangleCentre(shape);
}

/** Turn by the keys: `direction` +1 clockwise, -1 counter-clockwise; Shift turns by 15°. */
export function turnBy(shape, direction, large) {
  setRectangleRotation(shape, (shape.rotation || 0) + direction * (large ? SHIFT_STEP : KEY_STEP));
}

/** Draw the handle: a line from the top edge's middle and a round knob, in screen pixels. */
export function drawHandle(ctx, shape, view, color) {
  const [hx, hy] = view.toScreen(...handlePoint(shape, view));
  const [ex, ey] = view.toScreen(...rotationHandlePoint(shape, 0));
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 3;
  ctx.beginPath();
  ctx.moveTo(ex, ey);
  ctx.lineTo(hx, hy);
  ctx.stroke();
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(hx, hy, 6, 0, Math.PI * 2);
  ctx.fillStyle = "#fff";
  ctx.fill();
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 1;
  ctx.stroke();
}
