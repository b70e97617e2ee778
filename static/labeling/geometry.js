// Pure geometry on points in image pixels: hit tests, bounds, edits. No DOM here.

/** The rings of a shape: one for most types, several for a segmentation, none for a point. */
export function rings(shape) {
  if (shape.type === "segmentation") return shape.points;
  if (shape.type === "rectangle") return [rectangleCorners(shape.points)];
  return [shape.points];
}

/** The four corners of a rectangle stored as two opposite corners. */
export function rectangleCorners(points) {
  const [[x1, y1], [x2, y2]] = points;
  return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]];
}

export function isClosed(type) {
  return type === "polygon" || type === "rectangle" || type === "segmentation";
}

export function bounds(shape) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const visit = (points) => {
    for (const [x, y] of points) {
      if (x < minX) minX = x;
      if (y < minY) minY = y;
      if (x > maxX) maxX = x;
      if (y > maxY) maxY = y;
    }
  };
  if (shape.type === "segmentation") shape.points.forEach(visit);
  else visit(shape.points);
  return { minX, minY, maxX, maxY };
}

export function distanceToSegment(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax, dy = by - ay;
  const length2 = dx * dx + dy * dy;
  let t = length2 ? ((px - ax) * dx + (py - ay) * dy) / length2 : 0;
  t = Math.max(0, Math.min(1, t));
  const cx = ax + t * dx, cy = ay + t * dy;
  return { distance: Math.hypot(px - cx, py - cy), x: cx, y: cy, t };
}

export function pointInRing(x, y, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The nearest edge of a shape to (x, y): {ring, index (insert after), distance, x, y}. */
export function nearestEdge(shape, x, y) {
  let best = null;
  rings(shape).forEach((ring, ringIndex) => {
    const closed = isClosed(shape.type);
    const last = closed ? ring.length : ring.length - 1;
    for (let i = 0; i < last; i++) {
      const hit = distanceToSegment(x, y, ring[i], ring[(i + 1) % ring.length]);
      if (!best || hit.distance < best.distance) best = { ring: ringIndex, index: i, ...hit };
    }
  });
  return best;
}

/** Whether (x, y) touches the shape: inside a closed shape, or within `tolerance` of its outline. */
export function hitShape(shape, x, y, tolerance) {
  const box = shape._bounds || bounds(shape);
  if (x < box.minX - tolerance || x > box.maxX + tolerance || y < box.minY - tolerance || y > box.maxY + tolerance) {
    return false;
  }
  if (shape.type === "point") {
    const [[px, py]] = shape.points;
    return Math.hypot(px - x, py - y) <= tolerance * 1.5;
  }
  if (isClosed(shape.type)) {
    let inside = false;
    for (const ring of rings(shape)) if (pointInRing(x, y, ring)) inside = !inside;
    if (inside) return true;
  }
  const edge = nearestEdge(shape, x, y);
  return Boolean(edge && edge.distance <= tolerance);
}

export function area(shape) {
  const box = shape._bounds || bounds(shape);
  return Math.max(1, (box.maxX - box.minX) * (box.maxY - box.minY));
}

/** Every vertex of a shape as {ring, index, x, y}; a rectangle shows its four corners. */
export function vertices(shape) {
  const out = [];
  if (shape.type === "rectangle") {
    rectangleCorners(shape.points).forEach(([x, y], index) => out.push({ ring: 0, index, x, y }));
    return out;
  }
  rings(shape).forEach((ring, ringIndex) => ring.forEach(([x, y], index) => out.push({ ring: ringIndex, index, x, y })));
  return out;
}

/** Move vertex (ring, index) of a shape to (x, y), in place. A rectangle moves the dragged corner. */
export function moveVertex(shape, ring, index, x, y) {
  if (shape.type === "rectangle") {
    const [[x1, y1], [x2, y2]] = shape.points;
    // Corners in order: top-left, top-right, bottom-right, bottom-left (of the stored pair).
    const nx1 = index === 0 || index === 3 ? x : x1;
    const nx2 = index === 1 || index === 2 ? x : x2;
    const ny1 = index === 0 || index === 1 ? y : y1;
    const ny2 = index === 2 || index === 3 ? y : y2;
    shape.points = [[nx1, ny1], [nx2, ny2]];
    return;
  }
  const target = shape.type === "segmentation" ? shape.points[ring] : shape.points;
  target[index] = [x, y];
}

/** Put a rectangle's corners in order (top left, bottom right) after a drag flipped them. */
export function normalizeRectangle(shape) {
  if (shape.type !== "rectangle") return;
  const [[x1, y1], [x2, y2]] = shape.points;
  shape.points = [[Math.min(x1, x2), Math.min(y1, y2)], [Math.max(x1, x2), Math.max(y1, y2)]];
}

export const MIN_POINTS = { point: 1, line: 2, polygon: 3, segmentation: 3, rectangle: 2 };

/** Remove a vertex if the ring keeps enough points; answers whether it did. */
export function removeVertex(shape, ring, index) {
  if (shape.type === "rectangle" || shape.type === "point") return false;
  const target = shape.type === "segmentation" ? shape.points[ring] : shape.points;
  if (target.length <= MIN_POINTS[shape.type]) {
    // A segmentation may lose a whole ring when it has others.
    if (shape.type === "segmentation" && shape.points.length > 1) {
      shape.points.splice(ring, 1);
      return true;
    }
    return false;
  }
  target.splice(index, 1);
  return true;
}

export function insertVertex(shape, ring, afterIndex, x, y) {
  const target = shape.type === "segmentation" ? shape.points[ring] : shape.points;
  target.splice(afterIndex + 1, 0, [x, y]);
  return afterIndex + 1;
}

/** Translate a shape in place by (dx, dy). */
export function translate(shape, dx, dy) {
  const move = (points) => points.map(([x, y]) => [x + dx, y + dy]);
  shape.points = shape.type === "segmentation" ? shape.points.map(move) : move(shape.points);
}

/** Clamp (dx, dy) so that a shape with these bounds stays inside a width x height image. */
export function clampDelta(box, dx, dy, width, height) {
  const cx = Math.min(Math.max(dx, -box.minX), width - box.maxX);
  const cy = Math.min(Math.max(dy, -box.minY), height - box.maxY);
  return [cx, cy];
}

/** Image coordinates are kept to a tenth of a pixel. */
export function roundCoordinate(value) {
  return Math.round(value * 10) / 10;
}
