// Working on several labels at once: which shapes a multi-selection moves, and which labels a
// selection box takes. Kept apart from the canvas controller, which only calls these.

/**
 * The shapes that move when `uids` move: each selected root with its nested labels, and each
 * selected nested label whose parent is not selected too (it would move twice otherwise).
 */
export function movableShapes(store, uids) {
  const chosen = new Set(uids);
  const shapes = [];
  for (const uid of uids) {
    const found = store.find(uid);
    if (!found) continue;
    if (found.parent && chosen.has(found.parent.uid)) continue;
    shapes.push(found.shape, ...(found.parent ? [] : found.shape.children));
  }
  return shapes;
}

/** The labels (roots and nested) whose outline lies wholly inside the box (image pixels). */
export function shapesInBox(store, boundsOf, box, accept = () => true) {
  const minX = Math.min(box[0][0], box[1][0]), maxX = Math.max(box[0][0], box[1][0]);
  const minY = Math.min(box[0][1], box[1][1]), maxY = Math.max(box[0][1], box[1][1]);
  const uids = [];
  for (const [shape, parent] of store.walk()) {
    if (!accept(shape, parent)) continue;
    const b = boundsOf(shape);
    if (b.minX >= minX && b.maxX <= maxX && b.minY >= minY && b.maxY <= maxY) uids.push(shape.uid);
  }
  return uids;
}
