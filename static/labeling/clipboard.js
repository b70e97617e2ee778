// Copy, paste and duplicate labels, and copy all labels of the previous task.
//
// The clipboard lives in sessionStorage so that it survives moving to the next task (a
// sequence of frames is labelled by pasting forward); it holds the labels as the API stores
// them, with their nested labels and answers. Pasted labels are clipped to the image.

import { bounds, clampDelta, hitShape, roundCoordinate, translate } from "./geometry.js";
import { newUid, storedLabel } from "./store.js";

const STORAGE_KEY = "labelsite.clipboard";
const DUPLICATE_OFFSET = 10; // image pixels: a duplicate (or a paste into its own task) shows beside its original

export class Clipboard {
  constructor({ store, config, image, taskId, notify }) {
    this.store = store;
    this.config = config;
    this.image = image;
    this.taskId = taskId;
    this.notify = notify;
    this.pastes = 0; // pastes of the current clipboard into its own task, each one offset further
  }

  read() {
    try {
      return JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    } catch {
      return null;
    }
  }

  /** The selected labels as clipboard items: a root label with its nested labels, or a nested label alone. */
  itemsOf(uids) {
    const items = [];
    const roots = new Set(uids.filter((uid) => !this.store.find(uid)?.parent));
    for (const uid of uids) {
      const found = this.store.find(uid);
      if (!found) continue;
      // A nested label whose parent is copied too comes along with it.
      if (found.parent && roots.has(found.parent.uid)) continue;
      items.push({ label: storedLabel(found.shape), parentKey: found.parent ? found.parent.key : null, parentUid: found.parent?.uid || null });
    }
    return items;
  }

  copy(uids) {
    const items = this.itemsOf(uids);
    if (!items.length) {
      this.notify("Select a label to copy it.");
      return false;
    }
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ taskId: this.taskId, items }));
    this.pastes = 0;
    this.notify(`Copied ${describe(items)}.`);
    return true;
  }

  /** Paste where the labels were copied from (the same place in the next frame); in their own task, offset. */
  paste() {
    const clip = this.read();
    if (!clip?.items?.length) {
      this.notify("Nothing to paste: select labels and press Ctrl+C first.");
      return false;
    }
    let offset = 0;
    if (clip.taskId === this.taskId) offset = DUPLICATE_OFFSET * ++this.pastes;
    return this.place(clip.items, { offset, verb: "Pasted" });
  }

  duplicate(uids) {
    const items = this.itemsOf(uids);
    if (!items.length) {
      this.notify("Select a label to duplicate it.");
      return false;
    }
    return this.place(items, { offset: DUPLICATE_OFFSET, verb: "Duplicated", keepInside: true });
  }

  /** Every label of another task's document (the previous task), in one undoable step. */
  placeDocument(labels) {
    if (!labels.length) {
      this.notify("The previous task has no labels to copy.");
      return false;
    }
    return this.place(
      labels.map((label) => ({ label: storedLabel(label), parentKey: null, parentUid: null })),
      { offset: 0, verb: "Copied from the previous task" },
    );
  }

  place(items, { offset, verb, keepInside = false }) {
    const { width, height } = this.image;
    const selected = this.store.find(this.store.selectedUid);
    const added = [];
    const skipped = [];
    const pending = [];
    for (const item of items) {
      const label = structuredClone(item.label);
      const parent = item.parentKey ? this.parentFor(item, label, selected) : null;
      const title = this.titleOf(label, item.parentKey);
      if (!this.classExists(label, item.parentKey)) {
        skipped.push(`${title} (no such class here)`);
        continue;
      }
      if (item.parentKey && !parent) {
        skipped.push(`${title} (select a ${item.parentKey} to paste it into)`);
        continue;
      }
      if (offset) {
        const box = unionBounds([label, ...(label.children || [])]);
        const [dx, dy] = keepInside ? clampDelta(box, offset, offset, width, height) : [offset, offset];
        for (const shape of [label, ...(label.children || [])]) translate(shape, dx, dy);
      }
      const clipped = clipToImage(label, width, height);
      if (!clipped) {
        skipped.push(`${title} (outside the image)`);
        continue;
      }
      clipped.children = (clipped.children || []).map((child) => clipToImage(child, width, height)).filter(Boolean);
      pending.push({ label: withNewUids(clipped), parentUid: parent?.uid || null });
    }
    if (pending.length) {
      this.store.checkpoint();
      for (const { label, parentUid } of pending) {
        for (const shape of [label, ...label.children]) {
          shape.source = "manual";
          shape.score = null;
        }
        added.push(this.store.add(label, parentUid).uid);
      }
      this.store.selectMany(added);
    }
    let message = pending.length ? `${verb}: ${describe(pending)}.` : "Nothing was pasted.";
    if (skipped.length) message += ` Left out: ${skipped.join(", ")}.`;
    this.notify(message);
    return pending.length > 0;
  }

  classExists(label, parentKey) {
    const parent = parentKey ? { key: parentKey } : null;
    const entry = this.config.entryFor(label, parent);
    return Boolean(entry && entry.type === label.type);
  }

  titleOf(label, parentKey) {
    return this.config.entryFor(label, parentKey ? { key: parentKey } : null)?.title || label.key;
  }

  /** A nested label alone goes into the selected parent, its own parent, or the one that contains it. */
  parentFor(item, label, selected) {
    if (selected) {
      if (!selected.parent && selected.shape.key === item.parentKey) return selected.shape;
      if (selected.parent?.key === item.parentKey) return selected.parent;
    }
    const own = item.parentUid ? this.store.find(item.parentUid) : null;
    if (own && !own.parent && own.shape.key === item.parentKey) return own.shape;
    const pts = label.type === "segmentation" ? label.points.flat() : label.points;
    return (
      this.store.labels.find(
        (candidate) => candidate.key === item.parentKey && pts.every(([x, y]) => hitShape(candidate, x, y, 0.5)),
      ) || null
    );
  }
}

function describe(items) {
  const n = items.length;
  const nested = items.reduce((sum, item) => sum + (item.label.children?.length || 0), 0);
  return `${n} label${n === 1 ? "" : "s"}${nested ? ` with ${nested} nested` : ""}`;
}

function withNewUids(label) {
  label.uid = newUid();
  label.children = (label.children || []).map(withNewUids);
  label.answers = label.answers || {};
  return label;
}

function unionBounds(shapes) {
  const box = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };
  for (const shape of shapes) {
    const b = bounds(shape);
    box.minX = Math.min(box.minX, b.minX);
    box.minY = Math.min(box.minY, b.minY);
    box.maxX = Math.max(box.maxX, b.maxX);
    box.maxY = Math.max(box.maxY, b.maxY);
  }
  return box;
}

// --- clipping to the image (pure) ----------------------------------------------------------

/** The shape cut to the 0..width x 0..height image, or null when nothing of it is left inside. */
export function clipToImage(shape, width, height) {
  const inside = ([x, y]) => x >= 0 && x <= width && y >= 0 && y <= height;
  const round = (points) => points.map(([x, y]) => [roundCoordinate(x), roundCoordinate(y)]);
  const out = { ...shape };
  if (shape.type === "point") {
    return inside(shape.points[0]) ? out : null;
  }
  if (shape.type === "rectangle") {
    const b = bounds(shape);
    const x1 = Math.max(0, b.minX), y1 = Math.max(0, b.minY);
    const x2 = Math.min(width, b.maxX), y2 = Math.min(height, b.maxY);
    if (x2 - x1 < 1 || y2 - y1 < 1) return null;
    out.points = round([[x1, y1], [x2, y2]]);
    return out;
  }
  if (shape.type === "polygon") {
    const ring = clipRing(shape.points, width, height);
    if (ring.length < 3) return null;
    out.points = round(ring);
    return out;
  }
  if (shape.type === "segmentation") {
    const ringsLeft = shape.points.map((ring) => clipRing(ring, width, height)).filter((ring) => ring.length >= 3);
    if (!ringsLeft.length) return null;
    out.points = ringsLeft.map(round);
    return out;
  }
  if (shape.type === "line") {
    const run = clipLine(shape.points, width, height);
    if (run.length < 2) return null;
    out.points = round(run);
    return out;
  }
  return out;
}

/** Sutherland–Hodgman against the four image edges. */
function clipRing(ring, width, height) {
  const edges = [
    [(p) => p[0] >= 0, (a, b) => cut(a, b, 0, (-a[0]) / (b[0] - a[0]))],
    [(p) => p[0] <= width, (a, b) => cut(a, b, 0, (width - a[0]) / (b[0] - a[0]))],
    [(p) => p[1] >= 0, (a, b) => cut(a, b, 1, (-a[1]) / (b[1] - a[1]))],
    [(p) => p[1] <= height, (a, b) => cut(a, b, 1, (height - a[1]) / (b[1] - a[1]))],
  ];
  let output = ring;
  for (const [isIn, intersect] of edges) {
    const input = output;
    output = [];
    for (let i = 0; i < input.length; i++) {
      const current = input[i];
      const previous = input[(i + input.length - 1) % input.length];
      if (isIn(current)) {
        if (!isIn(previous)) output.push(intersect(previous, current));
        output.push(current);
      } else if (isIn(previous)) {
        output.push(intersect(previous, current));
      }
    }
    if (!output.length) return [];
  }
  // Drop repeated points that clipping along an edge leaves behind.
  const same = (p, q) => Math.hypot(p[0] - q[0], p[1] - q[1]) < 1e-6;
  const kept = [];
  for (const p of output) if (!kept.length || !same(kept[kept.length - 1], p)) kept.push(p);
  while (kept.length > 1 && same(kept[0], kept[kept.length - 1])) kept.pop();
  return kept;
}

function cut(a, b, axis, t) {
  const p = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
  p[axis] = axis === 0 ? Math.round(p[0] * 1e6) / 1e6 : Math.round(p[1] * 1e6) / 1e6;
  return p;
}

/** The longest run of a polyline that lies inside the image (Liang–Barsky per segment). */
function clipLine(points, width, height) {
  const runs = [];
  let run = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const segment = clipSegment(points[i], points[i + 1], width, height);
    if (!segment) {
      if (run.length) runs.push(run);
      run = [];
      continue;
    }
    const [a, b] = segment;
    const last = run[run.length - 1];
    if (!last || last[0] !== a[0] || last[1] !== a[1]) {
      if (run.length) runs.push(run);
      run = [a];
    }
    run.push(b);
  }
  if (run.length) runs.push(run);
  return runs.sort((r1, r2) => r2.length - r1.length)[0] || [];
}

function clipSegment([x0, y0], [x1, y1], width, height) {
  let t0 = 0, t1 = 1;
  const dx = x1 - x0, dy = y1 - y0;
  for (const [p, q] of [[-dx, x0], [dx, width - x0], [-dy, y0], [dy, height - y0]]) {
    if (p === 0) {
      if (q < 0) return null;
      continue;
    }
    const r = q / p;
    if (p < 0) t0 = Math.max(t0, r);
    else t1 = Math.min(t1, r);
    if (t0 > t1) return null;
  }
  return [[x0 + t0 * dx, y0 + t0 * dy], [x0 + t1 * dx, y0 + t1 * dy]];
}
