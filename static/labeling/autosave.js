// No lost work: autosave about a second after each change, retry with backoff while the
// server cannot be reached, and keep a local draft in localStorage until the server has it.
//
// States: "saved", "pending" (a change waits for its save), "saving", "offline" (retrying),
// "conflict" (someone else saved: nothing is saved until the user chooses), "invalid" (the
// server refused the document), "signed-out".

import { errorOf } from "./api.js";
import { mergeDocuments } from "./merge.js";

const SAVE_DELAY = 1000;
const DRAFT_DELAY = 300;
const MAX_BACKOFF = 30000;

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

  async _save() {
    const revision = this.store.revision;
    const body = this.store.toDocument();
    this.setState("saving");
    const result = await this.api.put(this.url, body);
    if (result.ok) {
      this.backoff = 0;
      this.store.version = result.data?.version ?? this.store.version + 1;
      this.savedRevision = revision;
      this.base = body;
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
      this.setState("invalid", errorOf(result));
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
