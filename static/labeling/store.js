// The task's annotation document in memory: labels (with nested children) and answers,
// the selection, and undo/redo as snapshots.
//
// Every change goes through `change()`, which bumps `revision` and tells listeners
// (renderer, panels, autosave). Shapes get a client-only `uid` that survives undo/redo
// (snapshots are JSON) and is stripped before saving.

const HISTORY_LIMIT = 100;
let nextUid = 1;

export function newUid() {
  return `s${nextUid++}`;
}

function withUids(labels) {
  for (const label of labels) {
    if (!label.uid) label.uid = newUid();
    label.children = label.children || [];
    label.answers = label.answers || {};
    withUids(label.children);
  }
  return labels;
}

/** A label as the API stores it: the saved fields with their defaults, no client-only `uid`. */
export function storedLabel(label) {
  return {
    // A stored label goes back with its id, so that it keeps its author.
    ...(Number.isInteger(label.id) ? { id: label.id } : {}),
    key: label.key,
    type: label.type,
    points: label.points,
    rotation: label.rotation || 0,
    answers: label.answers || {},
    source: label.source || "manual",
    score: label.score ?? null,
    model_version: label.model_version || "",
    children: (label.children || []).map(storedLabel),
  };
}

export class Store extends EventTarget {
  constructor(document) {
    super();
    this.version = document.version;
    this.state = document.state;
    this.answers = document.answers || {};
    this.labels = withUids(document.labels || []);
    this.revision = 0;
    this.selectedUid = null; // the label whose handles and questions show
    this.selection = new Set(); // every selected label (Shift+click, a selection box); holds selectedUid
    this.activeVertex = null; // {ring, index} of the selected shape
    this.undoStack = [];
    this.redoStack = [];
    this._index = null;
  }

  // --- reading -----------------------------------------------------------------------

  /** Every shape with its parent (null for roots), parents before children. */
  *walk() {
    for (const label of this.labels) {
      yield [label, null];
      for (const child of label.children) yield [child, label];
    }
  }

  find(uid) {
    if (!uid) return null;
    if (!this._index) {
      this._index = new Map();
      this.labels.forEach((label, position) => {
        this._index.set(label.uid, { shape: label, parent: null, list: this.labels, path: `labels[${position}]` });
        label.children.forEach((child, childPosition) => {
          this._index.set(child.uid, {
            shape: child,
            parent: label,
            list: label.children,
            path: `labels[${position}].children[${childPosition}]`,
          });
        });
      });
    }
    return this._index.get(uid) || null;
  }

  get selected() {
    return this.find(this.selectedUid)?.shape || null;
  }

  count() {
    let n = 0;
    for (const _ of this.walk()) n++;
    return n;
  }

  // --- changing ----------------------------------------------------------------------

  snapshot() {
    return JSON.stringify({ answers: this.answers, labels: this.labels });
  }

  /** Remember the state before a change, for undo. */
  checkpoint() {
    this.undoStack.push(this.snapshot());
    if (this.undoStack.length > HISTORY_LIMIT) this.undoStack.shift();
    this.redoStack = [];
  }

  /** Announce a change. `structure`: shapes were added or removed; `source`: who made it;
   *  `only`: the uid of the one shape whose points changed (a drag). */
  change({ structure = false, source = "", only = null } = {}) {
    this.revision++;
    if (structure) this._index = null;
    this.dispatchEvent(new CustomEvent("change", { detail: { structure, source, only } }));
  }

  _restore(snapshot) {
    const data = JSON.parse(snapshot);
    this.answers = data.answers;
    this.labels = data.labels;
    this._index = null;
    if (!this.find(this.selectedUid)) this.selectedUid = null;
    this.selection = new Set([...this.selection].filter((uid) => this.find(uid)));
    this.activeVertex = null;
    this.change({ structure: true, source: "history" });
    this.dispatchEvent(new CustomEvent("select"));
  }

  undo() {
    if (!this.undoStack.length) return false;
    this.redoStack.push(this.snapshot());
    this._restore(this.undoStack.pop());
    return true;
  }

  redo() {
    if (!this.redoStack.length) return false;
    this.undoStack.push(this.snapshot());
    this._restore(this.redoStack.pop());
    return true;
  }

  /** Replace the whole document (a restored draft), undoably. */
  replace(document) {
    this.checkpoint();
    this.answers = document.answers || {};
    this.labels = withUids(document.labels || []);
    this._index = null;
    this.selectedUid = null;
    this.selection = new Set();
    this.change({ structure: true, source: "history" });
    this.dispatchEvent(new CustomEvent("select"));
  }

  select(uid, { vertex = null } = {}) {
    const single = this.selection.size === (uid ? 1 : 0) && (!uid || this.selection.has(uid));
    if (this.selectedUid === uid && vertex === this.activeVertex && single) return;
    const same = this.selectedUid === uid;
    this.selectedUid = uid;
    this.selection = new Set(uid ? [uid] : []);
    this.activeVertex = vertex;
    this.dispatchEvent(new CustomEvent("select", { detail: { same } }));
  }

  /** Select several labels at once; the last one shows its handles and questions. */
  selectMany(uids) {
    const known = uids.filter((uid) => this.find(uid));
    this.selection = new Set(known);
    this.selectedUid = known.length ? known[known.length - 1] : null;
    this.activeVertex = null;
    this.dispatchEvent(new CustomEvent("select", { detail: { same: false } }));
  }

  /** Shift+click: add a label to the selection, or take it out. */
  toggleSelected(uid) {
    const next = new Set(this.selection);
    if (next.has(uid)) next.delete(uid);
    else next.add(uid);
    const uids = [...next];
    if (next.has(uid)) {
      uids.splice(uids.indexOf(uid), 1);
      uids.push(uid);
    }
    this.selectMany(uids);
  }

  /** The selected labels, in document order. */
  selectedUids() {
    if (this.selection.size <= 1) return this.selectedUid ? [this.selectedUid] : [];
    return [...this.walk()].map(([shape]) => shape.uid).filter((uid) => this.selection.has(uid));
  }

  add(shape, parentUid = null) {
    shape.uid = shape.uid || newUid();
    shape.children = shape.children || [];
    shape.answers = shape.answers || {};
    const parent = parentUid ? this.find(parentUid)?.shape : null;
    (parent ? parent.children : this.labels).push(shape);
    this.change({ structure: true });
    return shape;
  }

  remove(uid) {
    const found = this.find(uid);
    if (!found) return false;
    found.list.splice(found.list.indexOf(found.shape), 1);
    this._index = null;
    this.selection.delete(uid);
    for (const child of found.shape.children) this.selection.delete(child.uid);
    if (this.selectedUid === uid || !this.find(this.selectedUid)) {
      this.selectedUid = this.selection.size ? [...this.selection].pop() : null;
      this.activeVertex = null;
    }
    this.change({ structure: true });
    this.dispatchEvent(new CustomEvent("select"));
    return true;
  }

  // --- the document the API stores -----------------------------------------------------

  toDocument() {
    return { version: this.version, answers: this.answers, labels: this.labels.map(storedLabel) };
  }
}
