// The project's label configuration tree, indexed for the page.

export const GEOMETRY_TYPES = new Set(["rectangle", "polygon", "line", "point", "segmentation"]);
export const QUESTION_TYPES = new Set(["select", "checklist", "freetext"]);

// Used for classes without a colour of their own: distinct, readable on photos.
const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990"];

export class Config {
  constructor(tree) {
    this.tree = tree;
    this.byId = new Map();
    this.parentOf = new Map();
    let paletteIndex = 0;
    const visit = (entries, parent) => {
      for (const entry of entries) {
        this.byId.set(entry.id, entry);
        this.parentOf.set(entry.id, parent);
        if (GEOMETRY_TYPES.has(entry.type)) {
          entry.drawColor = validColor(entry.color) || PALETTE[paletteIndex++ % PALETTE.length];
        }
        visit(entry.children || [], parent ? parent : entry);
      }
    };
    // Every entry under a root geometry has that geometry as its "parent class"; nested
    // geometries are the geometry children of a root geometry (one level deep).
    for (const root of tree) {
      this.byId.set(root.id, root);
      this.parentOf.set(root.id, null);
      if (GEOMETRY_TYPES.has(root.type)) root.drawColor = validColor(root.color) || PALETTE[paletteIndex++ % PALETTE.length];
      visit(root.children || [], root);
    }
    this._cache = new Map();
  }

  get globalQuestions() {
    return this.tree.filter((entry) => QUESTION_TYPES.has(entry.type));
  }

  /** Geometry classes one can draw: roots, each followed by its nested geometry classes. */
  drawableClasses() {
    const out = [];
    for (const root of this.tree) {
      if (!GEOMETRY_TYPES.has(root.type)) continue;
      out.push({ entry: root, parent: null });
      for (const child of root.children || []) {
        if (GEOMETRY_TYPES.has(child.type)) out.push({ entry: child, parent: root });
      }
    }
    return out;
  }

  questionsOf(entry) {
    return (entry?.children || []).filter((child) => QUESTION_TYPES.has(child.type));
  }

  /** The entry of a label: a root class, or a nested class of its parent label's class. */
  entryFor(shape, parentShape) {
    const cacheKey = parentShape ? `${parentShape.key}/${shape.key}` : shape.key;
    if (this._cache.has(cacheKey)) return this._cache.get(cacheKey);
    let entry;
    if (parentShape) {
      const parentEntry = this.tree.find((e) => e.key === parentShape.key && GEOMETRY_TYPES.has(e.type));
      entry = (parentEntry?.children || []).find((e) => e.key === shape.key && GEOMETRY_TYPES.has(e.type));
    } else {
      entry = this.tree.find((e) => e.key === shape.key && GEOMETRY_TYPES.has(e.type));
    }
    this._cache.set(cacheKey, entry || null);
    return entry || null;
  }

  /** The root geometry class a nested class belongs to (null for a root class). */
  parentClassOf(entry) {
    const parent = this.parentOf.get(entry.id);
    return parent && GEOMETRY_TYPES.has(parent.type) ? parent : null;
  }
}

// Colours come from users: only plain colour syntax reaches the canvas and the page.
const SAFE_COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30}|rgba?\([0-9\s.,%]{1,40}\))$/;

export function validColor(value) {
  return typeof value === "string" && SAFE_COLOR.test(value) ? value : "";
}
