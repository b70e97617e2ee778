// Draws the image and the labels on one canvas, on requestAnimationFrame, only when dirty.
//
// Labels live in image pixels; the view maps them to the screen (screen = image * scale +
// offset, in CSS pixels). Shapes that are not selected are drawn in batches, one Path2D
// per class and style, rebuilt only when the document or the selection changes, so that
// panning and zooming a thousand polygons costs a handful of fill and stroke calls.

import { bounds, isClosed, rectangleCorners, rings, vertices } from "./geometry.js";
import { canRotate, drawHandle } from "./rotation.js";

const MIN_SCALE = 0.02;
const MAX_SCALE = 40;
export const HANDLE_RADIUS = 5;
// The cached base layer is used up to this size (device pixels); beyond, labels are drawn directly.
const LAYER_MAX_PIXELS = 24_000_000;
const ZOOM_SETTLE_MS = 150;

export class View {
  constructor() {
    this.scale = 1;
    this.x = 0;
    this.y = 0;
  }

  toImage(sx, sy) {
    return [(sx - this.x) / this.scale, (sy - this.y) / this.scale];
  }

  toScreen(ix, iy) {
    return [ix * this.scale + this.x, iy * this.scale + this.y];
  }

  zoomAt(sx, sy, factor) {
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = scale;
    this.x = sx - ix * scale;
    this.y = sy - iy * scale;
  }

  fit(width, height, viewWidth, viewHeight) {
    const margin = 16;
    this.scale = Math.max(MIN_SCALE, Math.min((viewWidth - 2 * margin) / width, (viewHeight - 2 * margin) / height));
    this.x = (viewWidth - width * this.scale) / 2;
    this.y = (viewHeight - height * this.scale) / 2;
  }
}

export class Renderer {
  constructor({ canvas, store, config, image, onFirstPaint }) {
    this._frame = this._frame.bind(this);
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.store = store;
    this.config = config;
    this.image = image; // {element, width, height, loaded}
    this.view = new View();
    this.dirty = true;
    this.hidden = false;
    this.hoverUid = null;
    this.overlay = null; // set by the canvas controller: the shape being drawn, the cursor
    this.batches = null;
    this.batchKey = "";
    this.frameTimes = []; // ms spent drawing each frame, for the benchmark
    this.onFirstPaint = onFirstPaint;
    this.painted = false;
    this.layer = null;
    this.zoomingUntil = 0;
    this.cssWidth = 0;
    this.cssHeight = 0;
    this.boundsCache = new WeakMap();
    this.batchRevision = 0;
    store.addEventListener("change", (event) => {
      // A drag changes only the selected shape, which is drawn apart from the batches.
      const only = event.detail.only ? store.find(event.detail.only)?.shape : null;
      if (only && event.detail.only === store.selectedUid) {
        this.boundsCache.delete(only);
      } else {
        this.boundsCache = new WeakMap();
        this.batchRevision++;
      }
      this.invalidate();
    });
    store.addEventListener("select", () => this.invalidate());
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
    this.resize();
  }

  /** Brightness, contrast and gamma of the image (a canvas filter); the labels keep their colours. */
  setImageFilter(filter, tag = filter) {
    // `tag` changes with the SVG filter's parameters too (the gamma), which the string does not name.
    if (tag === (this.imageFilterTag || "")) return;
    this.imageFilter = filter;
    this.imageFilterTag = tag;
    this.layer = null; // a fresh canvas: a context may keep the SVG filter it resolved
    this.invalidate();
  }

  /** Hide or lock changed: hidden labels leave the batches. */
  visibilityChanged() {
    this.batchRevision++;
    this.invalidate();
  }

  _visible(shape, parent) {
    return !this.visibility || !this.visibility.isHidden(shape, parent);
  }

  invalidate() {
    if (this.dirty && this._scheduled) return;
    this.dirty = true;
    if (!this._scheduled) {
      this._scheduled = true;
      requestAnimationFrame(this._frame);
    }
  }

  boundsOf(shape) {
    let box = this.boundsCache.get(shape);
    if (!box) {
      box = bounds(shape);
      this.boundsCache.set(shape, box);
    }
    return box;
  }

  resize() {
    const parent = this.canvas.parentElement;
    const width = parent.clientWidth, height = parent.clientHeight;
    if (!width || !height) return;
    const first = !this.cssWidth;
    this.dpr = window.devicePixelRatio || 1;
    this.cssWidth = width;
    this.cssHeight = height;
    this.canvas.width = Math.round(width * this.dpr);
    this.canvas.height = Math.round(height * this.dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    if (first) this.fit();
    this.invalidate();
  }

  fit() {
    this.view.fit(this.image.width, this.image.height, this.cssWidth, this.cssHeight);
    this.invalidate();
  }

  _frame() {
    this._scheduled = false;
    if (!this.dirty) return;
    this.dirty = false;
    const started = performance.now();
    this.draw();
    const spent = performance.now() - started;
    this.frameTimes.push(spent);
    if (this.frameTimes.length > 2000) this.frameTimes.splice(0, 1000);
    if (!this.painted && this.image.settled) {
      this.painted = true;
      this.onFirstPaint?.();
    }
  }

  // --- batches of unselected shapes -----------------------------------------------------

  _batchesFor() {
    const key = `${this.batchRevision}:${this.store.selectedUid}`;
    if (this.batches && this.batchKey === key) return this.batches;
    const batches = new Map();
    const points = [];
    const scores = [];
    for (const [shape, parent] of this.store.walk()) {
      if (shape.uid === this.store.selectedUid || !this._visible(shape, parent)) continue;
      const entry = this.config.entryFor(shape, parent);
      const color = entry?.drawColor || "#999";
      const prediction = shape.source === "prediction";
      if (prediction && shape.score != null) scores.push(shape);
      if (shape.type === "point") {
        points.push({ shape, color, prediction });
        continue;
      }
      const batchKey = `${color}|${prediction ? "d" : "s"}`;
      let batch = batches.get(batchKey);
      if (!batch) {
        batch = { color, prediction, closed: new Path2D(), open: new Path2D() };
        batches.set(batchKey, batch);
      }
      addShapePath(isClosed(shape.type) ? batch.closed : batch.open, shape);
    }
    this.batches = { batches: [...batches.values()], points, scores };
    this.batchKey = key;
    return this.batches;
  }

  // --- drawing ---------------------------------------------------------------------------

  draw() {
    const { ctx, view, dpr } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#262a31";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const layer = this._layer();
    if (layer) {
      // The image and the unselected labels, rendered once per zoom level: panning is one blit.
      const k = view.scale / layer.scale;
      ctx.setTransform(dpr * k, 0, 0, dpr * k, dpr * view.x, dpr * view.y);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(layer.canvas, 0, 0, layer.canvas.width / dpr, layer.canvas.height / dpr);
    } else {
      this._drawBase();
    }
    if (!this.hidden) this._drawLive();
    this._drawOverlay();
  }

  /** The cached base layer, rebuilt when the labels, the selection or the zoom changed. */
  _layer() {
    const { view, dpr } = this;
    const width = Math.ceil(this.image.width * view.scale * dpr);
    const height = Math.ceil(this.image.height * view.scale * dpr);
    if (width * height > LAYER_MAX_PIXELS || width > 8192 || height > 8192) {
      this.layer = null;
      return null;
    }
    const key = `${this.batchRevision}:${this.store.selectedUid}:${this.hidden}:${this.image.loaded}:${dpr}:${this.imageFilterTag || ""}`;
    const layer = this.layer;
    const zooming = performance.now() < this.zoomingUntil;
    if (layer && layer.key === key && (layer.scale === view.scale || zooming)) {
      if (layer.scale !== view.scale) this._redrawAfterZoom();
      return layer;
    }
    const canvas = layer?.canvas || document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const saved = { ctx: this.ctx, view: this.view };
    this.ctx = canvas.getContext("2d");
    this.view = new View();
    this.view.scale = view.scale;
    try {
      this._drawBase();
    } finally {
      this.ctx = saved.ctx;
      this.view = saved.view;
    }
    this.layer = { canvas, key, scale: view.scale };
    return this.layer;
  }

  /** Wheel zooming shows the last layer scaled; the sharp one is drawn when the wheel rests. */
  noteZoom() {
    this.zoomingUntil = performance.now() + ZOOM_SETTLE_MS;
  }

  _redrawAfterZoom() {
    clearTimeout(this._zoomTimer);
    this._zoomTimer = setTimeout(() => this.invalidate(), ZOOM_SETTLE_MS + 10);
  }

  /** The image and every unselected label, in this.ctx with this.view. */
  _drawBase() {
    const { ctx, view, dpr } = this;
    ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.x, dpr * view.y);
    if (this.image.loaded) {
      ctx.imageSmoothingEnabled = view.scale < 2;
      if (this.imageFilter) ctx.filter = this.imageFilter;
      ctx.drawImage(this.image.element, 0, 0, this.image.width, this.image.height);
      ctx.filter = "none";
    } else {
      ctx.fillStyle = "#3a3f48";
      ctx.fillRect(0, 0, this.image.width, this.image.height);
    }
    if (this.hidden) return;
    const { batches, points, scores } = this._batchesFor();
    const lineWidth = 1.5 / view.scale;
    for (const batch of batches) {
      ctx.strokeStyle = batch.color;
      ctx.fillStyle = batch.color;
      ctx.lineWidth = lineWidth;
      ctx.setLineDash(batch.prediction ? [6 / view.scale, 4 / view.scale] : []);
      ctx.globalAlpha = batch.prediction ? 0.08 : 0.2;
      ctx.fill(batch.closed);
      ctx.globalAlpha = 1;
      ctx.stroke(batch.closed);
      ctx.stroke(batch.open);
    }
    ctx.setLineDash([]);
    // Points and scores are drawn in screen pixels.
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (const { shape, color, prediction } of points) this._drawPoint(shape, color, prediction, false);
    if (scores.length && scores.length <= 400) {
      ctx.font = "12px system-ui, sans-serif";
      ctx.textBaseline = "bottom";
      for (const shape of scores) {
        const box = this.boundsOf(shape);
        const [sx, sy] = view.toScreen(box.minX, box.minY);
        const text = `${Math.round(shape.score * 100)}%`;
        ctx.fillStyle = "rgba(0,0,0,0.6)";
        ctx.fillRect(sx, sy - 16, ctx.measureText(text).width + 6, 16);
        ctx.fillStyle = "#fff";
        ctx.fillText(text, sx + 3, sy - 2);
      }
    }
  }

  /** What changes while one works: the hovered and the selected label, with its handles. */
  _drawLive() {
    const { ctx, dpr } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    let hovered = this.hoverUid && this.hoverUid !== this.store.selectedUid ? this.store.find(this.hoverUid) : null;
    if (hovered && !this._visible(hovered.shape, hovered.parent)) hovered = null;
    if (hovered) this._drawShapeScreen(hovered.shape, hovered.parent, { width: 3, alpha: 0.3 });
    // The other members of a multi-selection: highlighted, without handles.
    if (this.store.selection.size > 1) {
      for (const uid of this.store.selection) {
        const other = uid !== this.store.selectedUid ? this.store.find(uid) : null;
        if (other && this._visible(other.shape, other.parent)) this._drawShapeScreen(other.shape, other.parent, { width: 2.5, alpha: 0.35 });
      }
    }
    const selected = this.store.find(this.store.selectedUid);
    if (!selected || !this._visible(selected.shape, selected.parent)) return;
    this._drawShapeScreen(selected.shape, selected.parent, { width: 2.5, alpha: 0.35 });
    // The nested labels of a selected parent stay visible above its fill.
    for (const child of selected.shape.children) {
      if (!this._visible(child, selected.shape)) continue;
      const color = this.config.entryFor(child, selected.shape)?.drawColor || "#999";
      if (child.type === "point") this._drawPoint(child, color, child.source === "prediction", false);
      else this._drawShapeScreen(child, selected.shape, { width: 1.5, alpha: 0 });
    }
    this._drawHandles(selected.shape, selected.parent);
  }

  _drawPoint(shape, color, prediction, selected) {
    const { ctx, view } = this;
    const [sx, sy] = view.toScreen(shape.points[0][0], shape.points[0][1]);
    ctx.beginPath();
    ctx.arc(sx, sy, selected ? 6 : 4.5, 0, Math.PI * 2);
    ctx.fillStyle = prediction ? "rgba(255,255,255,0.6)" : color;
    ctx.fill();
    ctx.lineWidth = selected ? 2.5 : 1.5;
    ctx.strokeStyle = prediction ? color : "#fff";
    ctx.setLineDash(prediction ? [3, 2] : []);
    ctx.stroke();
    ctx.setLineDash([]);
  }

  _screenPath(shape) {
    const path = new Path2D();
    const { view } = this;
    if (shape.type === "point") return path;
    const closed = isClosed(shape.type);
    for (const ring of rings(shape)) {
      ring.forEach(([x, y], i) => {
        const [sx, sy] = view.toScreen(x, y);
        if (i === 0) path.moveTo(sx, sy);
        else path.lineTo(sx, sy);
      });
      if (closed) path.closePath();
    }
    return path;
  }

  _drawShapeScreen(shape, parent, { width, alpha }) {
    const { ctx } = this;
    const color = this.config.entryFor(shape, parent)?.drawColor || "#999";
    if (shape.type === "point") {
      this._drawPoint(shape, color, shape.source === "prediction", true);
      return;
    }
    const path = this._screenPath(shape);
    ctx.setLineDash(shape.source === "prediction" ? [6, 4] : []);
    if (isClosed(shape.type)) {
      ctx.globalAlpha = alpha;
      ctx.fillStyle = color;
      ctx.fill(path);
      ctx.globalAlpha = 1;
    }
    ctx.lineWidth = width + 2;
    ctx.strokeStyle = "rgba(0,0,0,0.55)";
    ctx.stroke(path);
    ctx.lineWidth = width;
    ctx.strokeStyle = color;
    ctx.stroke(path);
    ctx.setLineDash([]);
  }

  _drawHandles(shape, parent) {
    const { ctx, view } = this;
    if (canRotate(this.config, shape, parent)) {
      drawHandle(ctx, shape, view, this.config.entryFor(shape, parent)?.drawColor || "#fff");
    }
    // The brush and the eraser edit pixels, not vertices: a traced outline's many handles would hide it.
    if (this.handlesHidden) return;
    const active = this.store.activeVertex;
    for (const vertex of vertices(shape)) {
      const [sx, sy] = view.toScreen(vertex.x, vertex.y);
      const isActive = active && active.ring === vertex.ring && active.index === vertex.index;
      const r = isActive ? HANDLE_RADIUS + 1 : HANDLE_RADIUS - 1;
      ctx.fillStyle = isActive ? "#ffd400" : "#fff";
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 1;
      ctx.fillRect(sx - r, sy - r, r * 2, r * 2);
      ctx.strokeRect(sx - r, sy - r, r * 2, r * 2);
    }
    // The class title of the selected label; a canvas draws text, never markup.
    const entry = this.config.entryFor(shape, parent);
    if (entry) {
      const box = this.boundsOf(shape);
      const [sx, sy] = view.toScreen(box.minX, box.maxY);
      ctx.font = "12px system-ui, sans-serif";
      ctx.textBaseline = "top";
      const text = entry.title;
      ctx.fillStyle = "rgba(0,0,0,0.7)";
      ctx.fillRect(sx, sy + 4, ctx.measureText(text).width + 8, 17);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, sx + 4, sy + 6);
    }
  }

  _drawOverlay() {
    const overlay = this.overlay;
    if (!overlay) return;
    const { ctx, view, dpr } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.strokeStyle = overlay.color;
    ctx.fillStyle = overlay.color;
    ctx.lineWidth = 2;
    ctx.setLineDash([]);
    if (overlay.brush) {
      this._drawBrush(overlay.brush);
      return;
    }
    if (overlay.rectangle) {
      const [[x1, y1], [x2, y2]] = overlay.rectangle;
      const [sx1, sy1] = view.toScreen(x1, y1);
      const [sx2, sy2] = view.toScreen(x2, y2);
      if (overlay.dashed) ctx.setLineDash([5, 4]);
      ctx.strokeRect(Math.min(sx1, sx2), Math.min(sy1, sy2), Math.abs(sx2 - sx1), Math.abs(sy2 - sy1));
      ctx.setLineDash([]);
    }
    if (overlay.points?.length) {
      ctx.beginPath();
      overlay.points.forEach(([x, y], i) => {
        const [sx, sy] = view.toScreen(x, y);
        if (i === 0) ctx.moveTo(sx, sy);
        else ctx.lineTo(sx, sy);
      });
      if (overlay.cursor) ctx.lineTo(...view.toScreen(overlay.cursor[0], overlay.cursor[1]));
      ctx.stroke();
      overlay.points.forEach(([x, y], i) => {
        const [sx, sy] = view.toScreen(x, y);
        ctx.beginPath();
        ctx.arc(sx, sy, i === 0 ? 5 : 3, 0, Math.PI * 2);
        ctx.fill();
      });
    }
    if (overlay.snap) {
      // Where the point will land: on a neighbour's vertex or edge.
      const [sx, sy] = view.toScreen(overlay.snap[0], overlay.snap[1]);
      ctx.strokeStyle = "#ffd400";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(sx, sy, 7, 0, Math.PI * 2);
      ctx.stroke();
    }
    if (overlay.crosshair && overlay.cursor) {
      const [sx, sy] = view.toScreen(overlay.cursor[0], overlay.cursor[1]);
      ctx.strokeStyle = "rgba(255,255,255,0.5)";
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(0, sy);
      ctx.lineTo(this.cssWidth, sy);
      ctx.moveTo(sx, 0);
      ctx.lineTo(sx, this.cssHeight);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  /** Brush strokes in flight (their mask, each mask pixel centred on its image point) and the circle cursor. */
  _drawBrush({ strokes, cursor, radius, erase }) {
    const { ctx, view, dpr } = this;
    ctx.save();
    ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.x, dpr * view.y);
    ctx.imageSmoothingEnabled = false;
    for (const stroke of strokes) {
      ctx.globalAlpha = stroke.erase ? 0.6 : 0.45;
      ctx.drawImage(stroke.canvas, stroke.x - 0.5, stroke.y - 0.5);
    }
    ctx.restore();
    if (!cursor) return;
    const [sx, sy] = view.toScreen(cursor[0], cursor[1]);
    const r = Math.max(radius * view.scale, 1.5);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.lineWidth = 1;
    ctx.setLineDash(erase ? [4, 3] : []);
    ctx.strokeStyle = "rgba(0,0,0,0.8)";
    ctx.beginPath();
    ctx.arc(sx, sy, r + 1, 0, Math.PI * 2);
    ctx.stroke();
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(sx, sy, r, 0, Math.PI * 2);
    ctx.stroke();
    ctx.setLineDash([]);
  }
}

/** Append a shape's outline (in image pixels) to a path. */
function addShapePath(path, shape) {
  const closed = isClosed(shape.type);
  const shapeRings = shape.type === "rectangle" ? [rectangleCorners(shape.points, shape.rotation)] : rings(shape);
  for (const ring of shapeRings) {
    for (let i = 0; i < ring.length; i++) {
      if (i === 0) path.moveTo(ring[i][0], ring[i][1]);
      else path.lineTo(ring[i][0], ring[i][1]);
    }
    if (closed) path.closePath();
  }
}
