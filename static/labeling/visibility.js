// Hide and lock, per label and per class. A view setting of this page, never saved into the
// labels: hidden labels are not drawn and cannot be clicked; locked ones are drawn but the
// canvas passes over them (no selecting, moving, editing or deleting there), so that one can
// draw and select around finished work. A nested label follows its parent.

export class Visibility extends EventTarget {
  constructor({ store, config }) {
    super();
    this.store = store;
    this.config = config;
    this.hiddenLabels = new Set();
    this.lockedLabels = new Set();
    this.hiddenClasses = new Set(); // entry ids
    this.lockedClasses = new Set();
  }

  _has(labels, classes, shape, parent) {
    if (labels.has(shape.uid) || classes.has(this.config.entryFor(shape, parent)?.id)) return true;
    return parent ? this._has(labels, classes, parent, null) : false;
  }

  isHidden(shape, parent) {
    return this._has(this.hiddenLabels, this.hiddenClasses, shape, parent);
  }

  isLocked(shape, parent) {
    return this._has(this.lockedLabels, this.lockedClasses, shape, parent);
  }

  isLockedUid(uid) {
    const found = this.store.find(uid);
    return Boolean(found && this.isLocked(found.shape, found.parent));
  }

  selectable(shape, parent) {
    return !this.isHidden(shape, parent) && !this.isLocked(shape, parent);
  }

  /** Hide (or lock) the labels, or show (unlock) them when every one already is. */
  toggleLabels(kind, uids) {
    const set = kind === "hide" ? this.hiddenLabels : this.lockedLabels;
    const all = uids.every((uid) => set.has(uid));
    for (const uid of uids) {
      if (all) set.delete(uid);
      else set.add(uid);
    }
    this._changed();
    return !all;
  }

  toggleClass(kind, entryId) {
    const set = kind === "hide" ? this.hiddenClasses : this.lockedClasses;
    if (set.has(entryId)) set.delete(entryId);
    else set.add(entryId);
    this._changed();
    return set.has(entryId);
  }

  _changed() {
    // A hidden label cannot stay selected: nothing would show what the keys act on.
    const visible = this.store.selectedUids().filter((uid) => {
      const found = this.store.find(uid);
      return found && !this.isHidden(found.shape, found.parent);
    });
    if (visible.length !== this.store.selectedUids().length) this.store.selectMany(visible);
    this.dispatchEvent(new CustomEvent("change"));
  }
}
