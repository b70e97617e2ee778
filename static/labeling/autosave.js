// No lost work: autosave about a second after each change, retry with backoff while the
// server cannot be reached, and keep a local draft in localStorage until the server has it.
//
// A save sends only what changed since the last one the server took (PATCH of the task's
// annotation): labels added (with the client `uid` the server answers their ids for),
// changed (by id, only the fields that differ), deleted (ids), and the task's answers when
// they changed. So a one-vertex edit on a task with a thousand shapes sends one label.
//
// States: "saved", "pending" (a change waits for its save), "saving", "offline" (retrying),
// "conflict" (someone else saved: nothing is saved until the user chooses), "invalid" (the
// server refused the document), "signed-out".

import { errorOf } from "./api.js";
import { mergeDocuments } from "./merge.js";
import { storedLabel } from "./store.js";

const SAVE_DELAY = 1000;
const DRAFT_DELAY = 300;
const MAX_BACKOFF = 30000;

/** A label's saved fields, without its id and nested labels: what a change is compared on. */
function ownFields(shape) {
  const { id: _id, children: _children, ...fields } = storedLabel(shape);
  return fields;
}

/** What the server has, by label id: the JSON of each label's own fields. */
function savedIndex(labels) {
  const index = new Map();
  for (const label of labels) {
    if (Number.isInteger(label.id)) index.set(label.id, JSON.stringify(ownFields(label)));
    for (const child of label.children || []) {
      if (Number.isInteger(child.id)) index.set(child.id, JSON.stringify(ownFields(child)));
    }
  }
  return index;
}

export class Autosave extends EventTarget {
  constructor({ store, api, url, taskId }) {
    super();
    this.store = store;
    this.api = api;
    this.url = url;
    this.draftKey = `labelsite:draft:${taskId}`;
    this.state = "saved";
    this.savedRevision = store.revision;
    // The version my edits started from: what a merge after a conflict compares mine with.
    this.base = store.toDocument();
    // What the server has (by label id), and the ids it gave the labels this page added (by
    // uid: undo brings back snapshots taken before the id came).
    this.saved = savedIndex(this.base.labels);
    this.savedAnswers = JSON.stringify(store.answers || {});
    this.idsByUid = new Map();
    this.timer = null;
    this.draftTimer = null;
    this.inFlight = null;
    this.backoff = 0;
    this.error = null;
    store.addEventListener("change", () => this.onChange());
    window.addEventListener("online", () => {
      if (this.state === "offline") this.saveNow();
    });
  }

  get hasUnsaved() {
    return this.store.revision !== this.savedRevision;
  }

  setState(state, error = null) {
    this.state = state;
    this.error = error;
    this.dispatchEvent(new CustomEvent("state"));
  }

  onChange() {
    if (this.state === "conflict") {
      this.writeDraftSoon();
      return;
    }
    if (this.state !== "offline" && this.state !== "signed-out") this.setState("pending");
    this.writeDraftSoon();
    if (this.state === "offline") return; // the retry timer saves the newest document
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.saveNow(), SAVE_DELAY);
  }

  /** Save now (if there is anything to save); resolves when this save has ended. */
  async saveNow() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) {
      await this.inFlight;
      if (this.hasUnsaved && this.state !== "conflict") return this.saveNow();
      return;
    }
    if (!this.hasUnsaved || this.state === "conflict") return;
    this.inFlight = this._save();
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
  }

  /** The changes since the last save: the request body, and what the server has once it took them. */
  changes() {
    const added = [];
    const changed = [];
    const sent = { added: [], changed: [] }; // uids, by position: to place the server's problems
    const next = new Map(); // id -> own fields' JSON, of the labels that stay stored
    const pending = []; // [uid, own fields' JSON] of the added labels
    const storedIdOf = new Map(); // uid -> id, of the labels that stay stored
    for (const [shape, parent] of this.store.walk()) {
      const fields = ownFields(shape);
      const json = JSON.stringify(fields);
      const id = Number.isInteger(shape.id) ? shape.id : this.idsByUid.get(shape.uid);
      // A label is stored when the server has its id and no other label here claimed it first
      // (a merge after a conflict may keep two versions of one label).
      if (Number.isInteger(id) && this.saved.has(id) && !next.has(id) && (!parent || storedIdOf.has(parent.uid))) {
        next.set(id, json);
        storedIdOf.set(shape.uid, id);
        const before = JSON.parse(this.saved.get(id));
        const change = {};
        for (const [name, value] of Object.entries(fields)) {
          if (JSON.stringify(value) !== JSON.stringify(before[name])) change[name] = value;
        }
        delete change.type; // the type follows the class
        if (Object.keys(change).length) {
          changed.push({ id, ...change });
          sent.changed.push(shape.uid);
        }
        continue;
      }
      const item = { uid: shape.uid, ...fields };
      if (parent) item.parent = storedIdOf.get(parent.uid) ?? parent.uid;
      added.push(item);
      sent.added.push(shape.uid);
      pending.push([shape.uid, json]);
    }
    const deleted = [...this.saved.keys()].filter((id) => !next.has(id));
    const body = { version: this.store.version, added, changed, deleted };
    const answers = JSON.stringify(this.store.answers || {});
    if (answers !== this.savedAnswers) body.answers = this.store.answers || {};
    return { body, sent, next, pending, answers };
  }

  /** A problem of a save, at the place of its label in the document ("labels[3].points"). */
  documentPath(path, sent) {
    const match = /^(added|changed)\[(\d+)\](.*)$/.exec(path);
    if (!match) return path;
    const uid = sent[match[1]][Number(match[2])];
    const found = this.store.find(uid);
    return found ? `${found.path}${match[3]}` : path;
  }

  async _save() {
    const revision = this.store.revision;
    const document = this.store.toDocument();
    const { body, sent, next, pending, answers } = this.changes();
    this.setState("saving");
    const result = await this.api.patch(this.url, body);
    if (result.ok) {
      this.backoff = 0;
      this.store.version = result.data?.version ?? this.store.version + 1;
      this.savedRevision = revision;
      const ids = result.data?.ids || {};
      for (const [uid, json] of pending) {
        const id = ids[uid];
        if (!Number.isInteger(id)) continue;
        this.idsByUid.set(uid, id);
        next.set(id, json);
        const found = this.store.find(uid);
        if (found) found.shape.id = id;
      }
      this.saved = next;
      this.savedAnswers = answers;
      this.base = document;
      if (this.hasUnsaved) {
        this.setState("pending");
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.saveNow(), SAVE_DELAY);
      } else {
        this.clearDraft();
        this.setState("saved");
      }
      this.dispatchEvent(new CustomEvent("saved", { detail: result.data }));
      return;
    }
    if (result.status === 409) {
      this.setState("conflict", errorOf(result));
      return;
    }
    if (result.status === 401 || result.status === 403) {
      this.setState("signed-out", errorOf(result));
      return;
    }
    if (result.status === 400 || result.status === 404 || result.status === 413) {
      const error = errorOf(result);
      error.details = error.details.map((detail) => ({ ...detail, path: this.documentPath(detail.path, sent) }));
      this.setState("invalid", error);
      return;
    }
    // No answer, or the server failed: try again later, backing off.
    this.backoff = Math.min(MAX_BACKOFF, this.backoff ? this.backoff * 2 : 1000);
    this.setState("offline", errorOf(result));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.saveNow(), this.backoff);
  }

  /** Save everything before leaving the task; answers whether the server has it all. */
  async flush() {
    if (this.state === "offline" || this.state === "invalid" || this.state === "signed-out") {
      this.backoff = 0;
    }
    await this.saveNow();
    return !this.hasUnsaved;
  }

  /** After a conflict: take their version and apply my unsaved changes on top of it (see
   *  merge.js), then save that. Answers what was applied, or null when theirs could not be read. */
  async merge() {
    const result = await this.api.get(this.url);
    if (!result.ok) return null;
    const theirs = result.data;
    const { document, applied } = mergeDocuments(this.base, this.store.toDocument(), theirs);
    this.store.version = theirs.version;
    this.base = { version: theirs.version, answers: theirs.answers || {}, labels: theirs.labels || [] };
    // The next save sends what differs from theirs.
    this.saved = savedIndex(this.base.labels);
    this.savedAnswers = JSON.stringify(this.base.answers);
    this.setState("pending");
    this.store.replace(document); // undoable: Ctrl+Z shows mine as it was before the merge
    await this.saveNow();
    return applied;
  }

  // --- the local draft ---------------------------------------------------------------------

  writeDraftSoon() {
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => this.writeDraft(), DRAFT_DELAY);
  }

  writeDraft() {
    if (!this.hasUnsaved) return;
    try {
      const document = this.store.toDocument();
      localStorage.setItem(
        this.draftKey,
        JSON.stringify({ version: this.store.version, savedAt: Date.now(), document }),
      );
    } catch {
      // storage full or disabled: the server copy is all there is
    }
  }

  readDraft() {
    try {
      const draft = JSON.parse(localStorage.getItem(this.draftKey) || "null");
      return draft && draft.document ? draft : null;
    } catch {
      return null;
    }
  }

  clearDraft() {
    clearTimeout(this.draftTimer);
    try {
      localStorage.removeItem(this.draftKey);
    } catch {
      // nothing to clear
    }
  }
}
