// Snapping: while drawing or editing, a vertex within a few screen pixels of another shape's
// vertex lands exactly on it, or else on the nearest point of its edge, so that neighbouring
// polygons share borders exactly. Vertices win over edges; hidden labels do not attract.

import { rings, roundCoordinate } from "./geometry.js";

export const SNAP_PIXELS = 8; // screen pixels

export class Snapper {
  constructor({ store, renderer }) {
    this.store = store;
    this.renderer = renderer;
    this.visibility = null;
    this.enabled = true;
  }

  /**
   * The point to use for `point` (image pixels): a neighbour's vertex or edge point within
   * reach, or `point` itself. `exclude` is the uid of the shape being edited (its own
   * vertices would hold the dragged one in place).
   */
  snap(point, { exclude = null } = {}) {
    if (!this.enabled) return { point, snapped: null };
    const reach = SNAP_PIXELS / this.renderer.view.scale;
    const [x, y] = point;
    let vertex = null;
    let vertexDistance = reach;
    let edge = null;
    let edgeDistance = reach;
    for (const [shape, parent] of this.store.walk()) {
      if (shape.uid === exclude) continue;
      if (this.visibility?.isHidden(shape, parent)) continue;
      const box = this.renderer.boundsOf(shape);
      if (x < box.minX - reach || x > box.maxX + reach || y < box.minY - reach || y > box.maxY + reach) continue;
      const closed = shape.type !== "line";
      for (const ring of shape.type === "point" ? [shape.points] : rings(shape)) {
        for (let i = 0; i < ring.length; i++) {
          const a = ring[i];
          const d = Math.hypot(a[0] - x, a[1] - y);
          if (d <= vertexDistance) {
            vertex = a;
            vertexDistance = d;
          }
          if (shape.type === "point" || (!closed && i === ring.length - 1)) continue;
          const b = ring[(i + 1) % ring.length];
          const near = nearestOnSegment(x, y, a, b);
          if (near.distance <= edgeDistance) {
            edge = near.point;
            edgeDistance = near.distance;
          }
        }
      }
    }
    if (vertex) return { point: [vertex[0], vertex[1]], snapped: "vertex" };
    if (edge) return { point: [roundCoordinate(edge[0]), roundCoordinate(edge[1])], snapped: "edge" };
    return { point, snapped: null };
  }
}

function nearestOnSegment(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax, dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length2)) : 0;
  const point = [ax + t * dx, ay + t * dy];
  return { point, distance: Math.hypot(px - point[0], py - point[1]) };
}
