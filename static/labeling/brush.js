// The brush and the eraser of segmentation classes.
//
// A stroke is painted on an offscreen mask at image resolution (only the part of the image in
// view, so that a large image costs no more than the screen shows). When the stroke ends its
// mask goes to the server (POST /api/tasks/{id}/brush) with the label's rings, which adds or
// cuts it and traces the result with the importers' own tracer (formats.codecs.mask_polygons):
// a painted label and an imported mask follow one rule. The label then changes as any edit
// does: one undo step per stroke, saved by autosave.
//
// Pixel (i, j) of the mask is the image point (i, j), the tracer's convention: the stroke is
// drawn half a pixel shifted, so that a pixel is painted when its point lies under the brush.
// The brush's size is its diameter in image pixels (a stroke covers the same pixels at any
// zoom); the circle cursor shows it on screen.

const SIZE_KEY = "labelsite.brushSize";
export const MIN_SIZE = 1;
export const MAX_SIZE = 400;
const DEFAULT_SIZE = 20;
// Pixels of the offscreen mask at most (the part of the image in view): zoom in beyond it.
const MAX_MASK_PIXELS = 40_000_000;

function storedSize() {
  try {
    const size = Number(window.localStorage.getItem(SIZE_KEY));
    return Number.isFinite(size) && size >= MIN_SIZE && size <= MAX_SIZE ? size : DEFAULT_SIZE;
  } catch {
    return DEFAULT_SIZE;
  }
}

/** Row-major runs of the painted pixels (alpha >= 128), starting with an unpainted run. */
export function maskRuns(data) {
  const counts = [];
  let painted = false;
  let run = 0;
  for (let i = 3; i < data.length; i += 4) {
    const on = data[i] >= 128;
    if (on !== painted) {
      counts.push(run);
      run = 0;
      painted = on;
    }
    run++;
  }
  counts.push(run);
  return counts;
}

export class BrushTool {
  constructor({ controller, store, renderer, image, api, url, notify }) {
    this.controller = controller;
    this.store = store;
    this.renderer = renderer;
    this.image = image;
    this.api = api;
    this.url = url;
    this.notify = notify;
    this.size = storedSize();
    this.stroke = null; // the stroke being painted
    this.pending = []; // strokes sent to the server, still shown until their result lands
    this.queue = Promise.resolve(); // strokes apply one after another, each on the last one's result
  }

  get radius() {
    return this.size / 2;
  }

  /** `[` and `]`: a fifth smaller or larger, by at least one pixel. */
  resize(direction) {
    const step = Math.max(1, Math.round(this.size * 0.2));
    this.size = Math.min(MAX_SIZE, Math.max(MIN_SIZE, this.size + direction * step));
    try {
      window.localStorage.setItem(SIZE_KEY, String(this.size));
    } catch {
      // a private window keeps the size for this page only
    }
    this.controller.dispatchEvent(new CustomEvent("mode"));
    this.controller.updateOverlay();
  }

  /** A press with the brush or the eraser: start a stroke (answers false when there is nothing to paint on). */
  start(point, { shiftKey, erase }) {
    const entry = this.controller.currentClass?.entry;
    let target = null;
    if (erase) {
      target = this.eraseTarget(point);
      if (!target) {
        this.notify("The eraser works on a segmentation label: select one (or press on one) first.");
        return false;
      }
    } else if (this.controller.regionTarget || shiftKey) {
      // The page's rule for segmentation: a stroke is a new label unless one says "add to the selected one".
      target = this.controller.regionTarget ? { uid: this.controller.regionTarget, resolveLater: false } : { resolveLater: true };
      this.controller.regionTarget = null;
    }
    const area = this.maskWindow();
    if (!area) {
      this.notify("Zoom in to paint: the brush paints at most 40 megapixels of the image at a time.");
      return false;
    }
    const canvas = document.createElement("canvas");
    canvas.width = area.width;
    canvas.height = area.height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const color = erase ? "#ffffff" : entry?.drawColor || "#ffffff";
    ctx.translate(0.5 - area.x, 0.5 - area.y);
    ctx.fillStyle = color;
    ctx.strokeStyle = color;
    ctx.lineWidth = this.size;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    this.stroke = {
      erase,
      entry,
      addTo: target,
      canvas,
      ctx,
      area,
      last: point,
      box: { minX: point[0], minY: point[1], maxX: point[0], maxY: point[1] },
    };
    ctx.beginPath();
    ctx.arc(point[0], point[1], this.radius, 0, Math.PI * 2);
    ctx.fill();
    return true;
  }

  /** The label an eraser stroke cuts: the selected segmentation label, else the one under the press. */
  eraseTarget(point) {
    const selected = this.store.find(this.store.selectedUid);
    if (selected?.shape.type === "segmentation" && this.controller.selectable(selected.shape, selected.parent)) {
      return { uid: selected.shape.uid, resolveLater: false };
    }
    const hit = this.controller.shapeAt(point[0], point[1]);
    if (hit?.shape.type !== "segmentation") return null;
    this.store.select(hit.shape.uid);
    return { uid: hit.shape.uid, resolveLater: false };
  }

  /** The part of the image in view (and a brush's width around it), in whole image pixels. */
  maskWindow() {
    const { view, cssWidth, cssHeight } = this.renderer;
    const [left, top] = view.toImage(0, 0);
    const [right, bottom] = view.toImage(cssWidth, cssHeight);
    const margin = this.size + 2;
    const x = Math.max(0, Math.floor(left - margin));
    const y = Math.max(0, Math.floor(top - margin));
    const x1 = Math.min(Math.ceil(this.image.width), Math.ceil(right + margin));
    const y1 = Math.min(Math.ceil(this.image.height), Math.ceil(bottom + margin));
    if (x1 <= x || y1 <= y || (x1 - x) * (y1 - y) > MAX_MASK_PIXELS) return null;
    return { x, y, width: x1 - x, height: y1 - y };
  }

  extend(point) {
    const stroke = this.stroke;
    if (!stroke) return;
    const { ctx } = stroke;
    ctx.beginPath();
    ctx.moveTo(stroke.last[0], stroke.last[1]);
    ctx.lineTo(point[0], point[1]);
    ctx.stroke();
    stroke.last = point;
    stroke.box.minX = Math.min(stroke.box.minX, point[0]);
    stroke.box.minY = Math.min(stroke.box.minY, point[1]);
    stroke.box.maxX = Math.max(stroke.box.maxX, point[0]);
    stroke.box.maxY = Math.max(stroke.box.maxY, point[1]);
    this.renderer.invalidate();
  }

  cancel() {
    if (!this.stroke) return false;
    this.stroke = null;
    this.renderer.invalidate();
    return true;
  }

  /** The stroke ends: its mask goes to the server, after the strokes before it. */
  finish() {
    const stroke = this.stroke;
    this.stroke = null;
    if (!stroke) return;
    const { area, box } = stroke;
    // The painted pixels' box, in the mask: the stroke's path and a brush's radius around it.
    const pad = this.radius + 2;
    const x0 = Math.max(0, Math.floor(box.minX - pad) - area.x);
    const y0 = Math.max(0, Math.floor(box.minY - pad) - area.y);
    const x1 = Math.min(area.width, Math.ceil(box.maxX + pad) - area.x + 1);
    const y1 = Math.min(area.height, Math.ceil(box.maxY + pad) - area.y + 1);
    if (x1 <= x0 || y1 <= y0) return;
    const counts = maskRuns(stroke.ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data);
    if (counts.length < 2) {
      this.notify("The stroke covered no pixel of the image; paint on the image.");
      this.renderer.invalidate();
      return;
    }
    stroke.mask = { x: area.x + x0, y: area.y + y0, width: x1 - x0, height: y1 - y0, counts };
    this.pending.push(stroke);
    this.renderer.invalidate();
    this.queue = this.queue.then(() => this.apply(stroke)).finally(() => {
      this.pending = this.pending.filter((other) => other !== stroke);
      this.renderer.invalidate();
      this.controller.dispatchEvent(new CustomEvent("brush-applied"));
    });
  }

  /** The label the stroke changes, now (an earlier stroke may have made or removed it). */
  targetOf(stroke) {
    const entry = stroke.entry;
    if (!stroke.addTo) return null;
    if (!stroke.addTo.resolveLater) return this.store.find(stroke.addTo.uid)?.shape || null;
    const selected = this.store.find(this.store.selectedUid)?.shape;
    if (selected && selected.type === "segmentation" && selected.key === entry?.key) return selected;
    this.notify(`Shift adds the stroke to the selected “${entry?.title}”; none is selected, so this is a new label.`);
    return null;
  }

  async apply(stroke) {
    const target = this.targetOf(stroke);
    if (stroke.erase && !target) return; // the label went away meanwhile
    const result = await this.api.post(this.url, { rings: target ? target.points : [], stroke: stroke.mask, erase: stroke.erase });
    if (!result.ok) {
      const message = result.data?.error?.message || (result.network ? "the server cannot be reached" : `the server answered ${result.status}`);
      this.notify(`The stroke was not applied: ${message}`);
      return;
    }
    const rings = result.data.rings;
    if (target && !this.store.find(target.uid)) return;
    if (!rings.length) {
      if (!target) {
        this.notify("The stroke was too thin to make a region; paint with a larger brush (]).");
        return;
      }
      this.store.checkpoint();
      this.store.remove(target.uid);
      this.notify("The eraser removed the whole label.", ["Undo", () => this.store.undo()]);
      return;
    }
    if (target) {
      this.store.checkpoint();
      target.points = rings;
      this.store.select(target.uid);
      this.store.change({});
      return;
    }
    this.controller.createRings(stroke.entry, rings);
  }

  /** What the renderer draws over the labels: the strokes in flight and the circle cursor. */
  overlay(cursor) {
    const strokes = [...this.pending, ...(this.stroke ? [this.stroke] : [])].map((stroke) => ({
      canvas: stroke.canvas,
      x: stroke.area.x,
      y: stroke.area.y,
      erase: stroke.erase,
    }));
    return { strokes, cursor, radius: this.radius, erase: this.controller.paint === "eraser" };
  }
}
