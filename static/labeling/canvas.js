// Pointer interaction on the canvas: draw, select, move, resize, edit vertices, pan, zoom.
// Every coordinate that reaches the store is in image pixels, clamped to the image and
// rounded to a tenth of a pixel, whatever the zoom.

import {
  area,
  bounds,
  clampDelta,
  hitShape,
  insertVertex,
  moveVertex,
  nearestEdge,
  normalizeRectangle,
  removeVertex,
  roundCoordinate,
  translate,
  vertices,
} from "./geometry.js";
import { HANDLE_RADIUS } from "./renderer.js";
import { movableShapes, shapesInBox } from "./selection.js";
import { canRotate, dragRotation, handleHit, rotationCentre, turnBy } from "./rotation.js";

const CLICK_SLOP = 4; // screen pixels a press may move and still be a click
const CLOSE_DISTANCE = 8; // screen pixels from the first point that close a polygon

export class CanvasController extends EventTarget {
  constructor({ canvas, store, config, renderer, image, notify }) {
    super();
    this.canvas = canvas;
    this.store = store;
    this.config = config;
    this.renderer = renderer;
    this.view = renderer.view;
    this.image = image;
    this.notify = notify;
    this.mode = "select";
    this.currentClass = null; // {entry, parent}
    this.drawing = null; // points of a polygon, line or segmentation ring being drawn
    this.rectStart = null; // first corner of a rectangle drawn with two clicks
    this.addRegion = false; // Shift while drawing a segmentation polygon: add it to the selected label
    this.regionTarget = null; // uid of the segmentation label that "Add region" chose
    this.paint = null; // "brush" or "eraser" while a segmentation class is chosen (brush.js)
    this.brush = null; // the BrushTool, set by the page
    this.drag = null;
    this.spaceHeld = false;
    this.cursor = null;
    this.lastNudge = 0;
    canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
    canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
    canvas.addEventListener("pointercancel", () => {
      if (this.drag?.kind === "paint") this.brush.cancel();
      this.endDrag();
    });
    canvas.addEventListener("dblclick", (e) => this.onDoubleClick(e));
    canvas.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    canvas.addEventListener("pointerleave", () => {
      this.cursor = null;
      this.renderer.hoverUid = null;
      this.updateOverlay();
    });
  }

  // --- modes -------------------------------------------------------------------------------

  setClass(item) {
    if (this.readOnly) return;
    this.cancelDrawing();
    this.currentClass = item;
    // The brush and the eraser stay on from one segmentation class to the next.
    if (item.entry.type !== "segmentation") this.paint = null;
    this.mode = "draw";
    this.emitMode();
  }

  setSelectMode() {
    this.cancelDrawing();
    this.regionTarget = null;
    this.paint = null;
    this.mode = "select";
    this.emitMode();
  }

  /** The brush or the eraser (`kind`) for the segmentation class `item`; null: the polygon tool. */
  setPaint(kind, item) {
    if (this.readOnly) return;
    this.setClass(item);
    this.paint = kind;
    this.emitMode();
  }

  get painting() {
    return Boolean(this.paint && this.mode === "draw" && this.brush);
  }

  emitMode() {
    this.canvas.style.cursor = this.painting ? "none" : this.mode === "draw" ? "crosshair" : "default";
    this.renderer.handlesHidden = this.painting;
    this.dispatchEvent(new CustomEvent("mode"));
    this.updateOverlay();
  }

  get isDrawing() {
    return Boolean(this.drawing || this.rectStart || this.drag?.kind === "rectangle");
  }

  cancelDrawing() {
    const was = this.isDrawing || Boolean(this.brush?.cancel());
    if (this.drag?.kind === "paint") this.drag = null;
    this.drawing = null;
    this.rectStart = null;
    this.addRegion = false;
    if (this.drag?.kind === "rectangle") this.drag = null;
    this.updateOverlay();
    return was;
  }

  /** Escape: stop drawing, then leave the drawing tool, then clear the selection. */
  escape() {
    if (this.cancelDrawing()) return;
    if (this.mode === "draw") {
      this.setSelectMode();
      return;
    }
    this.store.select(null);
  }

  // --- coordinates -------------------------------------------------------------------------

  screenPoint(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  clampPoint([x, y]) {
    return [
      roundCoordinate(Math.min(Math.max(x, 0), this.image.width)),
      roundCoordinate(Math.min(Math.max(y, 0), this.image.height)),
    ];
  }

  /** A point placed while drawing or editing: snapped to a neighbour's vertex or edge (when
   *  snapping is on), then clamped to the image. `exclude`: the shape being edited. */
  placePoint(point, exclude = null) {
    const snapped = this.snapper ? this.snapper.snap(point, { exclude }) : { point, snapped: null };
    this.snapped = snapped.snapped ? snapped.point : null;
    return this.clampPoint(snapped.point);
  }

  /** Where an image pixel is on the page, in client coordinates (tests use this too). */
  imageToClient(x, y) {
    const rect = this.canvas.getBoundingClientRect();
    const [sx, sy] = this.view.toScreen(x, y);
    return [rect.left + sx, rect.top + sy];
  }

  // --- hit tests ---------------------------------------------------------------------------

  shapeAt(x, y) {
    const tolerance = 6 / this.view.scale;
    let best = null;
    let bestRank = null;
    for (const [shape, parent] of this.store.walk()) {
      if (!this.selectable(shape, parent)) continue;
      const box = this.renderer.boundsOf(shape);
      if (x < box.minX - tolerance || x > box.maxX + tolerance || y < box.minY - tolerance || y > box.maxY + tolerance) {
        continue;
      }
      if (!hitShape(shape, x, y, tolerance)) continue;
      // Points and lines before areas, and smaller areas before the ones that contain them.
      const rank = shape.type === "point" ? 0 : shape.type === "line" ? 1 : 2 + area(shape);
      if (bestRank === null || rank <= bestRank) {
        best = { shape, parent };
        bestRank = rank;
      }
    }
    return best;
  }

  /** Whether a click or a selection box may take this label (hidden and locked ones are passed over). */
  selectable(shape, parent) {
    return !this.visibility || this.visibility.selectable(shape, parent);
  }

  vertexAt(shape, sx, sy) {
    for (const vertex of vertices(shape)) {
      const [vx, vy] = this.view.toScreen(vertex.x, vertex.y);
      if (Math.abs(vx - sx) <= HANDLE_RADIUS + 2 && Math.abs(vy - sy) <= HANDLE_RADIUS + 2) return vertex;
    }
    return null;
  }

  // --- pointer -----------------------------------------------------------------------------

  onPointerDown(event) {
    this.canvas.focus({ preventScroll: true });
    const [sx, sy] = this.screenPoint(event);
    const point = this.view.toImage(sx, sy);
    if (event.button === 1 || (event.button === 0 && this.spaceHeld)) {
      event.preventDefault();
      this.startDrag(event, { kind: "pan", sx, sy, x: this.view.x, y: this.view.y });
      return;
    }
    if (event.button !== 0) return;
    if (!this.readOnly && this.painting && !(event.ctrlKey || event.metaKey || event.altKey)) {
      if (this.brush.start(point, { shiftKey: event.shiftKey, erase: this.paint === "eraser" })) {
        this.startDrag(event, { kind: "paint" });
      }
      this.updateOverlay();
      return;
    }
    if (this.drawing) {
      if (event.shiftKey) this.addRegion = true;
      this.addDrawingPoint(point, sx, sy);
      return;
    }
    if (this.rectStart) {
      this.finishRectangle(this.rectStart, point);
      return;
    }
    // A drawing tool always starts a new shape, even on a handle of the selected label:
    // touching objects are the normal case. Handles are edited with the select tool, or
    // with Ctrl or Alt held while a drawing tool is on (some window managers take Alt+drag).
    const editing = this.mode === "select" || event.altKey || event.ctrlKey || event.metaKey;
    const selected = this.store.find(this.store.selectedUid);
    const editable = selected && this.selectable(selected.shape, selected.parent);
    if (!this.readOnly && editing && editable && this.editSelected(event, selected.shape, sx, sy, point)) return;
    if (!this.readOnly && this.mode === "draw" && this.currentClass && !(event.ctrlKey || event.metaKey || event.altKey)) {
      this.startShape(event, point, sx, sy);
      return;
    }
    const hit = this.shapeAt(point[0], point[1]);
    if (hit && event.shiftKey && this.mode === "select") {
      this.store.toggleSelected(hit.shape.uid); // Shift+click: add to the selection, or take out
      return;
    }
    if (hit) {
      // A press on a member of a multi-selection drags them all; a plain click selects it alone.
      const multi = this.store.selection.size > 1 && this.store.selection.has(hit.shape.uid);
      if (!multi) this.store.select(hit.shape.uid);
      if (!this.readOnly) this.startDrag(event, { kind: "move", uid: hit.shape.uid, multi, start: point, moved: false });
    } else if (this.mode === "select") {
      // Empty canvas in select mode: a selection box (Shift adds to the selection). Space+drag
      // or the middle button pans.
      if (!event.shiftKey) this.store.select(null);
      this.startDrag(event, { kind: "box", start: point, sx, sy, add: event.shiftKey });
    } else {
      this.store.select(null);
      this.startDrag(event, { kind: "pan", sx, sy, x: this.view.x, y: this.view.y });
    }
  }

  /** Vertex handles and edges of the selected shape: drag, remove (shift), insert (edge or alt). */
  editSelected(event, shape, sx, sy, point) {
    const selected = this.store.find(shape.uid);
    if (canRotate(this.config, shape, selected?.parent) && handleHit(shape, this.view, sx, sy)) {
      this.startDrag(event, { kind: "rotate", uid: shape.uid, centre: rotationCentre(shape), moved: false });
      return true;
    }
    const vertex = this.vertexAt(shape, sx, sy);
    if (vertex) {
      if (event.shiftKey) {
        this.store.checkpoint();
        if (removeVertex(shape, vertex.ring, vertex.index)) {
          this.store.activeVertex = null;
          this.store.change({ only: shape.uid });
        } else {
          this.store.undoStack.pop();
          this.notify(`A ${shape.type} keeps at least its fewest points; delete the label instead.`);
        }
        return true;
      }
      this.store.select(shape.uid, { vertex: { ring: vertex.ring, index: vertex.index } });
      this.startDrag(event, { kind: "vertex", uid: shape.uid, ring: vertex.ring, index: vertex.index, moved: false });
      return true;
    }
    if (shape.type === "point" || shape.type === "rectangle") return false;
    const edge = nearestEdge(shape, point[0], point[1]);
    if (edge && edge.distance * this.view.scale <= 6) {
      this.store.checkpoint();
      const [x, y] = this.clampPoint([edge.x, edge.y]);
      const index = insertVertex(shape, edge.ring, edge.index, x, y);
      this.store.select(shape.uid, { vertex: { ring: edge.ring, index } });
      this.store.change({ only: shape.uid });
      this.startDrag(event, { kind: "vertex", uid: shape.uid, ring: edge.ring, index, moved: true });
      return true;
    }
    return false;
  }

  startShape(event, point, sx, sy) {
    const type = this.currentClass.entry.type;
    const start = this.placePoint(point);
    if (type === "point") {
      this.create([start]);
    } else if (type === "rectangle") {
      this.startDrag(event, { kind: "rectangle", start, sx, sy });
      this.updateOverlay();
    } else {
      this.drawing = [start];
      this.addRegion = event.shiftKey;
      this.updateOverlay();
    }
  }

  addDrawingPoint(point, sx, sy) {
    const type = this.currentClass.entry.type;
    const first = this.drawing[0];
    const [fx, fy] = this.view.toScreen(first[0], first[1]);
    if (type !== "line" && this.drawing.length >= 3 && Math.hypot(fx - sx, fy - sy) <= CLOSE_DISTANCE) {
      this.finishDrawing();
      return;
    }
    this.drawing.push(this.placePoint(point));
    this.updateOverlay();
  }

  /** Enter or a double click: the polygon, line or segmentation ring is done (Shift: add it to the selected label). */
  finishDrawing({ shiftKey = false } = {}) {
    if (!this.drawing) return false;
    if (shiftKey) this.addRegion = true;
    const type = this.currentClass.entry.type;
    // A double click adds its position twice; drop points that sit on their predecessor.
    const points = [];
    for (const p of this.drawing) {
      const last = points[points.length - 1];
      if (last && Math.hypot(last[0] - p[0], last[1] - p[1]) * this.view.scale < 3) continue;
      points.push(p);
    }
    const fewest = type === "line" ? 2 : 3;
    if (points.length < fewest) {
      this.notify(`A ${type === "line" ? "line" : "polygon"} needs at least ${fewest} points; keep clicking.`);
      return true;
    }
    const addRegion = this.addRegion;
    this.drawing = null;
    this.addRegion = false;
    this.create(points, { addRegion });
    this.updateOverlay();
    return true;
  }

  removeLastDrawingPoint() {
    if (!this.drawing) return false;
    this.drawing.pop();
    if (!this.drawing.length) this.drawing = null;
    this.updateOverlay();
    return true;
  }

  finishRectangle(start, point) {
    const end = this.placePoint(point);
    this.rectStart = null;
    if (Math.abs(end[0] - start[0]) < 1 || Math.abs(end[1] - start[1]) < 1) {
      this.notify("A rectangle needs a width and a height; drag or click two opposite corners.");
      this.updateOverlay();
      return;
    }
    const shape = [start, end];
    this.create([
      [Math.min(shape[0][0], shape[1][0]), Math.min(shape[0][1], shape[1][1])],
      [Math.max(shape[0][0], shape[1][0]), Math.max(shape[0][1], shape[1][1])],
    ]);
    this.updateOverlay();
  }

  /** The label a nested class is drawn into: the selected parent, or the parent of the selected sibling. */
  parentFor(parentEntry) {
    const selected = this.store.find(this.store.selectedUid);
    if (!selected) return null;
    if (!selected.parent && selected.shape.key === parentEntry.key) return selected.shape;
    if (selected.parent && selected.parent.key === parentEntry.key) return selected.parent;
    return null;
  }

  /** The segmentation label a new polygon joins: the one "Add region" chose, or the selected one with Shift. */
  regionTargetFor(entry, addRegion) {
    if (entry.type !== "segmentation") return null;
    if (this.regionTarget) {
      const target = this.store.find(this.regionTarget);
      this.regionTarget = null;
      if (target && target.shape.key === entry.key) return target.shape;
    }
    if (!addRegion) return null;
    const selected = this.store.find(this.store.selectedUid);
    if (selected && selected.shape.type === "segmentation" && selected.shape.key === entry.key) return selected.shape;
    this.notify(`Shift adds a polygon to the selected “${entry.title}”; none is selected, so this is a new label.`);
    return null;
  }

  /** Start drawing a polygon that joins a segmentation label (the "Add region" action). */
  addRegionTo(uid, item) {
    this.setClass(item);
    this.regionTarget = uid;
    this.store.select(uid);
    this.emitMode();
  }

  /** A new shape of the current class. `rings`: a segmentation's polygons (shells, then holes)
   *  all at once, as the assist tools answer them; `points` is then the first ring. */
  create(points, { addRegion = false, rings = null } = {}) {
    const { entry, parent: parentEntry } = this.currentClass;
    const target = this.regionTargetFor(entry, addRegion);
    if (target) {
      this.store.checkpoint();
      target.points.push(...(rings || [points]));
      this.store.select(target.uid);
      this.store.change({ only: target.uid });
      return;
    }
    if (parentEntry) {
      // The selected parent (or the parent of the selected sibling) takes the new shape when
      // it holds it: drawing wheel after wheel of one car. Elsewhere, containment decides.
      const parent = this.parentFor(parentEntry);
      if (parent && (!isArea(parent) || containsAll(parent, points))) {
        this.addShape(entry, points, parent.uid, rings);
        return;
      }
      this.placeNested(entry, parentEntry, points, rings);
      return;
    }
    this.addShape(entry, points, null, rings);
  }

  /** A new segmentation label from a brush stroke's rings, placed as a drawn polygon is (nested classes too). */
  createRings(entry, rings) {
    const item = this.currentClass?.entry.key === entry.key ? this.currentClass : null;
    const parentEntry = item?.parent || null;
    const all = rings.flat();
    if (!parentEntry) return this.addShape(entry, rings[0], null, rings);
    const parent = this.parentFor(parentEntry);
    if (parent && (!isArea(parent) || containsAll(parent, all))) return this.addShape(entry, rings[0], parent.uid, rings);
    this.placeNested(entry, parentEntry, all, rings);
    return null;
  }

  addShape(entry, points, parentUid, rings = null) {
    this.store.checkpoint();
    const shape = this.store.add(
      {
        key: entry.key,
        type: entry.type,
        points: entry.type === "segmentation" ? rings || [points] : points,
        answers: {},
        source: "manual",
        score: null,
        model_version: "",
        children: [],
      },
      parentUid,
    );
    this.store.select(shape.uid);
    return shape;
  }

  /**
   * A nested shape drawn with no parent selected: the smallest parent-class label that
   * contains all its points takes it; when none does, or two overlapping ones do, the page
   * asks (the "choose-parent" event); with no parent-class label at all it says why.
   */
  placeNested(entry, parentEntry, points, rings = null) {
    const parents = this.store.labels.filter((label) => label.key === parentEntry.key);
    if (!parents.length) {
      this.notify(`“${entry.title}” is drawn inside a “${parentEntry.title}”, and this image has none yet: draw the ${parentEntry.title} first.`);
      return;
    }
    const containing = parents
      .filter((parent) => containsAll(parent, points))
      .sort((a, b) => area(a) - area(b));
    const smallest = containing[0];
    // Nested parents (one inside the other): the innermost is meant. Overlapping ones: ask.
    if (smallest && containing.slice(1).every((other) => boxInside(bounds(smallest), bounds(other)))) {
      this.addShape(entry, points, smallest.uid, rings);
      return;
    }
    const candidates = containing.length ? containing : parents;
    const reason = containing.length
      ? `The new “${entry.title}” is inside ${containing.length} “${parentEntry.title}” labels: which one does it belong to?`
      : `No “${parentEntry.title}” contains the new “${entry.title}”: which one does it belong to?`;
    this.dispatchEvent(
      new CustomEvent("choose-parent", {
        detail: {
          reason,
          candidates,
          place: (parentUid) => this.addShape(entry, points, parentUid, rings),
          cancel: () => this.notify(`The “${entry.title}” was not placed: it needs a “${parentEntry.title}” to go inside.`),
        },
      }),
    );
  }

  startDrag(event, drag) {
    this.drag = drag;
    try {
      this.canvas.setPointerCapture(event.pointerId);
    } catch {
      // synthetic events have no pointer to capture
    }
  }

  onPointerMove(event) {
    this.shiftHeld = event.shiftKey;
    const [sx, sy] = this.screenPoint(event);
    const point = this.view.toImage(sx, sy);
    this.cursor = point;
    const drag = this.drag;
    if (drag) {
      this.continueDrag(drag, sx, sy, point);
    } else if (this.mode === "select" || event.ctrlKey) {
      const hit = this.shapeAt(point[0], point[1]);
      const uid = hit ? hit.shape.uid : null;
      if (uid !== this.renderer.hoverUid) {
        this.renderer.hoverUid = uid;
        this.renderer.invalidate();
      }
      if (!this.spaceHeld) this.canvas.style.cursor = uid ? (uid === this.store.selectedUid ? "move" : "pointer") : "default";
    }
    this.dispatchEvent(new CustomEvent("cursor"));
    if (this.drawing || this.rectStart || this.mode === "draw" || this.brush?.pending.length) this.updateOverlay();
  }

  continueDrag(drag, sx, sy, point) {
    if (drag.kind === "pan") {
      this.view.x = drag.x + (sx - drag.sx);
      this.view.y = drag.y + (sy - drag.sy);
      this.renderer.invalidate();
      this.dispatchEvent(new CustomEvent("view"));
      return;
    }
    if (drag.kind === "rectangle" || drag.kind === "box") {
      this.updateOverlay();
      return;
    }
    if (drag.kind === "paint") {
      this.brush.extend(point);
      this.updateOverlay();
      return;
    }
    const found = this.store.find(drag.uid);
    if (!found) return;
    const shape = found.shape;
    if (drag.kind === "rotate") {
      if (!drag.moved) {
        this.store.checkpoint();
        drag.moved = true;
      }
      dragRotation(shape, drag.centre, point[0], point[1], this.shiftHeld);
      this.store.change({ only: shape.uid });
      return;
    }
    if (drag.kind === "vertex") {
      if (!drag.moved) {
        this.store.checkpoint();
        drag.moved = true;
      }
      const [x, y] = this.placePoint(point, shape.uid);
      moveVertex(shape, drag.ring, drag.index, x, y);
      this.store.change({ only: shape.uid });
      this.updateOverlay();
    } else if (drag.kind === "move") {
      if (!drag.moved) {
        const [startX, startY] = this.view.toScreen(drag.start[0], drag.start[1]);
        if (Math.hypot(sx - startX, sy - startY) < CLICK_SLOP) return;
        this.store.checkpoint();
        drag.moved = true;
        drag.shapes = drag.multi ? this.movable(this.store.selectedUids()) : [shape, ...shape.children];
        drag.origin = JSON.stringify(drag.shapes.map((s) => s.points));
        drag.box = this.unionBounds(drag.shapes);
      }
      const origin = JSON.parse(drag.origin);
      const [dx, dy] = clampDelta(
        drag.box,
        roundCoordinate(point[0] - drag.start[0]),
        roundCoordinate(point[1] - drag.start[1]),
        this.image.width,
        this.image.height,
      );
      drag.shapes.forEach((s, i) => {
        s.points = origin[i];
        translate(s, dx, dy);
        roundShape(s);
      });
      this.store.change(drag.shapes.length === 1 ? { only: shape.uid } : {});
    }
  }

  unionBounds(shapes) {
    const box = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };
    for (const shape of shapes) {
      const b = this.renderer.boundsOf(shape);
      box.minX = Math.min(box.minX, b.minX);
      box.minY = Math.min(box.minY, b.minY);
      box.maxX = Math.max(box.maxX, b.maxX);
      box.maxY = Math.max(box.maxY, b.maxY);
    }
    return box;
  }

  onPointerUp(event) {
    const drag = this.drag;
    if (!drag) return;
    const [sx, sy] = this.screenPoint(event);
    if (drag.kind === "paint") {
      this.drag = null;
      this.brush.finish();
      this.updateOverlay();
      return;
    }
    if (drag.kind === "rectangle") {
      this.drag = null;
      if (Math.hypot(sx - drag.sx, sy - drag.sy) < CLICK_SLOP) {
        this.rectStart = drag.start; // a click: the next click sets the opposite corner
        this.updateOverlay();
      } else {
        this.finishRectangle(drag.start, this.view.toImage(sx, sy));
      }
      return;
    }
    if (drag.kind === "box") {
      this.drag = null;
      const end = this.view.toImage(sx, sy);
      if (Math.hypot(sx - drag.sx, sy - drag.sy) >= CLICK_SLOP) {
        const inside = shapesInBox(this.store, (shape) => this.renderer.boundsOf(shape), [drag.start, end], (shape, parent) => this.selectable(shape, parent));
        this.store.selectMany(drag.add ? [...this.store.selectedUids(), ...inside.filter((uid) => !this.store.selection.has(uid))] : inside);
      }
      this.updateOverlay();
      return;
    }
    if (drag.kind === "move" && drag.multi && !drag.moved) this.store.select(drag.uid);
    if (drag.kind === "vertex") {
      const shape = this.store.find(drag.uid)?.shape;
      if (shape?.type === "rectangle" && drag.moved) {
        normalizeRectangle(shape);
        this.store.activeVertex = null;
        this.store.change({ only: shape.uid });
      }
    }
    this.endDrag();
  }

  endDrag() {
    this.drag = null;
  }

  onDoubleClick(event) {
    event.preventDefault();
    if (this.drawing) this.finishDrawing({ shiftKey: event.shiftKey });
  }

  onWheel(event) {
    event.preventDefault();
    const [sx, sy] = this.screenPoint(event);
    const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    this.renderer.noteZoom();
    this.view.zoomAt(sx, sy, Math.exp(-delta * 0.0015));
    this.renderer.invalidate();
    this.dispatchEvent(new CustomEvent("view"));
  }

  // --- keyboard actions --------------------------------------------------------------------

  zoom(factor) {
    this.view.zoomAt(this.renderer.cssWidth / 2, this.renderer.cssHeight / 2, factor);
    this.renderer.invalidate();
    this.dispatchEvent(new CustomEvent("view"));
  }

  fit() {
    this.renderer.fit();
    this.dispatchEvent(new CustomEvent("view"));
  }

  panBy(dx, dy) {
    this.view.x += dx;
    this.view.y += dy;
    this.renderer.invalidate();
    this.dispatchEvent(new CustomEvent("view"));
  }

  /** Move the selected label (and its nested labels) by whole image pixels. */
  nudge(dx, dy) {
    const shapes = this.movable(this.store.selectedUids());
    if (!shapes.length) return false;
    const now = performance.now();
    if (now - this.lastNudge > 800) this.store.checkpoint();
    this.lastNudge = now;
    const [cx, cy] = clampDelta(this.unionBounds(shapes), dx, dy, this.image.width, this.image.height);
    for (const s of shapes) {
      translate(s, cx, cy);
      roundShape(s);
    }
    this.store.change(shapes.length === 1 ? { only: shapes[0].uid } : {});
    return true;
  }

  /** Turn the selected box of a rotatable class by 1° (`large`: 15°), clockwise for +1. */
  rotateSelected(direction, large) {
    const found = this.store.find(this.store.selectedUid);
    if (!found || this.readOnly || !canRotate(this.config, found.shape, found.parent)) return false;
    const now = performance.now();
    if (now - this.lastNudge > 800) this.store.checkpoint();
    this.lastNudge = now;
    turnBy(found.shape, direction, large);
    this.store.change({ only: found.shape.uid });
    return true;
  }

  /** The shapes a move takes: the selected ones and their nested labels, less the locked. */
  movable(uids) {
    return movableShapes(this.store, uids.filter((uid) => !this.visibility?.isLockedUid(uid)));
  }

  /** Delete: the selected labels (less the locked), else the active vertex if there is one (and the shape keeps enough), else the label. */
  deleteSelection() {
    const all = this.store.selectedUids();
    const many = all.filter((uid) => !this.visibility?.isLockedUid(uid));
    if (all.length && !many.length) {
      this.notify("Locked labels are not deleted; unlock them in the label list first.");
      return true;
    }
    if (many.length > 1) {
      this.store.checkpoint();
      for (const uid of many) this.store.remove(uid);
      this.notify(`Deleted ${many.length} labels.`);
      return true;
    }
    const found = this.store.find(this.store.selectedUid);
    if (!found) return false;
    const vertex = this.store.activeVertex;
    if (vertex && found.shape.type !== "rectangle" && found.shape.type !== "point") {
      this.store.checkpoint();
      if (removeVertex(found.shape, vertex.ring, vertex.index)) {
        this.store.activeVertex = null;
        this.store.change({ only: found.shape.uid });
        return true;
      }
      this.store.undoStack.pop();
    }
    this.store.checkpoint();
    this.store.remove(found.shape.uid);
    return true;
  }

  /** Select the next (or previous) label in the list order. */
  cycleSelection(direction) {
    const order = [...this.store.walk()].map(([shape]) => shape.uid);
    if (!order.length) return;
    const at = order.indexOf(this.store.selectedUid);
    const next = at < 0 ? (direction > 0 ? 0 : order.length - 1) : (at + direction + order.length) % order.length;
    this.store.select(order[next]);
  }

  updateOverlay() {
    if (this.brush && (this.painting || this.brush.pending.length || this.brush.stroke)) {
      const cursor = this.painting && this.cursor && !this.spaceHeld ? this.cursor : null;
      this.renderer.overlay = { brush: this.brush.overlay(cursor), color: this.currentClass?.entry.drawColor || "#fff" };
      this.renderer.invalidate();
      return;
    }
    const color = this.currentClass?.entry.drawColor || "#fff";
    const placing = this.mode === "draw" || this.drag?.kind === "vertex";
    const cursor = this.cursor ? (placing ? this.placePoint(this.cursor, this.drag?.uid) : this.clampPoint(this.cursor)) : null;
    let overlay = null;
    if (this.drawing) overlay = { color, points: this.drawing, cursor };
    else if (this.drag?.kind === "rectangle" && cursor) overlay = { color, rectangle: [this.drag.start, cursor] };
    else if (this.rectStart && cursor) overlay = { color, rectangle: [this.rectStart, cursor] };
    else if (this.drag?.kind === "box" && cursor) overlay = { color: "#fff", rectangle: [this.drag.start, cursor], dashed: true };
    if (this.mode === "draw" && cursor) overlay = { ...(overlay || { color }), cursor, crosshair: true };
    if (placing && this.snapped && cursor) overlay = { ...(overlay || { color }), snap: cursor };
    this.renderer.overlay = overlay;
    this.renderer.invalidate();
  }
}

function roundShape(shape) {
  const round = (points) => points.map(([x, y]) => [roundCoordinate(x), roundCoordinate(y)]);
  shape.points = shape.type === "segmentation" ? shape.points.map(round) : round(shape.points);
}

function isArea(shape) {
  return shape.type === "rectangle" || shape.type === "polygon" || shape.type === "segmentation";
}

/** Whether every point lies inside (or within half a pixel of the outline of) an area shape. */
function containsAll(shape, points) {
  if (shape.type === "rectangle") {
    const box = bounds(shape);
    return points.every(([x, y]) => x >= box.minX && x <= box.maxX && y >= box.minY && y <= box.maxY);
  }
  return isArea(shape) && points.every(([x, y]) => hitShape(shape, x, y, 0.5));
}

function boxInside(inner, outer) {
  return inner.minX >= outer.minX && inner.maxX <= outer.maxX && inner.minY >= outer.minY && inner.maxY <= outer.maxY;
}
