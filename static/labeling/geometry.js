// Pure geometry on points in image pixels: hit tests, bounds, edits. No DOM here.

/** The rings of a shape: one for most types, several for a segmentation, none for a point. */
export function rings(shape) {
  if (shape.type === "segmentation") return shape.points;
  if (shape.type === "rectangle") return [rectangleCorners(shape.points, shape.rotation)];
  return [shape.points];
}

/** The four corners of a rectangle stored as two opposite corners, turned by `rotation`
 *  (degrees clockwise on screen, about the unrotated box's top-left corner, as the server and
 *  Label Studio keep it): top-left, top-right, bottom-right, bottom-left of the box's own frame. */
export function rectangleCorners(points, rotation = 0) {
  const [[x1, y1], [x2, y2]] = points;
  // Unturned: in the stored pair's order, which a corner drag (moveVertex) indexes by.
  if (!rotation) return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]];
  const left = Math.min(x1, x2), top = Math.min(y1, y2);
  const w = Math.abs(x2 - x1), h = Math.abs(y2 - y1);
  const local = [[0, 0], [w, 0], [w, h], [0, h]];
  return local.map(([cx, cy]) => toWorld(left, top, rotation, cx, cy));
}

/** A point (cx, cy) of a box's own frame (origin its top-left corner) in image pixels. */
function toWorld(left, top, rotation, cx, cy) {
  const r = (rotation * Math.PI) / 180;
  const cos = Math.cos(r), sin = Math.sin(r);
  return [left + cx * cos - cy * sin, top + cx * sin + cy * cos];
}

/** Degrees in (-180, 180], the form the server stores, to a hundredth of a degree. */
export function normalizeRotation(degrees) {
  let turned = degrees % 360;
  if (turned > 180) turned -= 360;
  else if (turned <= -180) turned += 360;
  turned = Math.round(turned * 100) / 100;
  return turned === -180 ? 180 : turned === 0 ? 0 : turned;
}

/** The centre of a (rotated) rectangle in image pixels. */
export function rectangleCentre(shape) {
  const [[x1, y1], [x2, y2]] = shape.points;
  const left = Math.min(x1, x2), top = Math.min(y1, y2);
  return toWorld(left, top, shape.rotation || 0, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2);
}

/** Turn a rectangle to `degrees` about its centre, in place: the centre stays where it is, the
 *  stored top-left corner (the pivot of the stored rotation) moves. */
export function setRectangleRotation(shape, degrees) {
  const [[x1, y1], [x2, y2]] = shape.points;
  const w = Math.abs(x2 - x1), h = Math.abs(y2 - y1);
  const [mx, my] = rectangleCentre(shape);
  const rotation = normalizeRotation(degrees);
  const r = (rotation * Math.PI) / 180;
  const cos = Math.cos(r), sin = Math.sin(r);
  const left = mx - ((w / 2) * cos - (h / 2) * sin);
  const top = my - ((w / 2) * sin + (h / 2) * cos);
  shape.points = keepPivotInside([[left, top], [left + w, top + h]]);
  shape.rotation = rotation;
}

/** Stored corners are pixels from the top left (the server refuses negative ones): a box whose
 *  pivot a turn near the image's edge took outside is shifted back in. */
function keepPivotInside(points) {
  const [[x1, y1], [x2, y2]] = points;
  const dx = Math.max(0, -Math.min(x1, x2)), dy = Math.max(0, -Math.min(y1, y2));
  return [[x1 + dx, y1 + dy], [x2 + dx, y2 + dy]];
}

/** Where the rotation handle of a rectangle is: beyond the middle of its top edge (in its own
 *  frame), `offset` image pixels out. */
export function rotationHandlePoint(shape, offset) {
  const [[x1, y1], [x2, y2]] = shape.points;
  const left = Math.min(x1, x2), top = Math.min(y1, y2);
  return toWorld(left, top, shape.rotation || 0, Math.abs(x2 - x1) / 2, -offset);
}

/** The rotation that points the handle of a rectangle centred at `centre` at (x, y). */
export function rotationToward(centre, x, y) {
  // The handle sits straight above the centre (screen angle -90°) when the box is not turned.
  return normalizeRotation((Math.atan2(y - centre[1], x - centre[0]) * 180) / Math.PI + 90);
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
  else if (shape.type === "rectangle" && shape.rotation) visit(rectangleCorners(shape.points, shape.rotation));
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
    rectangleCorners(shape.points, shape.rotation).forEach(([x, y], index) => out.push({ ring: 0, index, x, y }));
    return out;
  }
  rings(shape).forEach((ring, ringIndex) => ring.forEach(([x, y], index) => out.push({ ring: ringIndex, index, x, y })));
  return out;
}

/** Move vertex (ring, index) of a shape to (x, y), in place. A rectangle moves the dragged corner. */
export function moveVertex(shape, ring, index, x, y) {
  if (shape.type === "rectangle" && shape.rotation) {
    resizeRotatedRectangle(shape, index, x, y);
    return;
  }
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

/** Resize a rotated rectangle in its own frame: corner `index` goes to (x, y), the opposite corner
 *  stays. The box does not flip over (at least a pixel wide and high), so the corner dragged
 *  keeps its index for the whole drag. */
function resizeRotatedRectangle(shape, index, x, y) {
  const rotation = shape.rotation;
  const corners = rectangleCorners(shape.points, rotation);
  const [fx, fy] = corners[(index + 2) % 4];
  const r = (rotation * Math.PI) / 180;
  const cos = Math.cos(r), sin = Math.sin(r);
  // The dragged point seen from the fixed corner, in the box's own axes.
  let dx = (x - fx) * cos + (y - fy) * sin;
  let dy = -(x - fx) * sin + (y - fy) * cos;
  const signX = index === 1 || index === 2 ? 1 : -1; // right-hand corners lie at +x of the fixed one
  const signY = index === 2 || index === 3 ? 1 : -1;
  dx = signX * Math.max(1, signX * dx);
  dy = signY * Math.max(1, signY * dy);
  // The box's top-left corner in its own axes, from the fixed corner, then in image pixels.
  const lx = Math.min(0, dx), ly = Math.min(0, dy);
  const left = fx + lx * cos - ly * sin;
  const top = fy + lx * sin + ly * cos;
  shape.points = keepPivotInside([[left, top], [left + Math.abs(dx), top + Math.abs(dy)]]);
}

/** Put a rectangle's corners in order (top left, bottom right) after a drag flipped them. */
export function normalizeRectangle(shape) {
  if (shape.type !== "rectangle" || shape.rotation) return; // a rotated one never flips
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
