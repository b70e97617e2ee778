// Merge after a conflict: keep their version and apply my unsaved changes on top of it.
//
// Three documents: `base`, the version I started from (the last one the server gave me or
// took from me); `mine`, what I have now; `theirs`, what the server has now. My changes are
// what differs between base and mine:
// - a label (with its nested labels) I added is added to theirs;
// - a label I deleted is deleted from theirs, if theirs still has it unchanged;
// - a label I changed is a deletion of the old one and an addition of the new one: if they
//   changed or deleted the same label, both versions stay (nothing is lost; the annotator
//   sees two shapes and deletes one);
// - a task question I answered differently from base takes my answer; the others keep theirs.
// A label is known by its content: ids are left out, since a label added since the last load
// has one on the server and none here.

import { storedLabel } from "./store.js";

function withoutIds({ id: _id, children, ...label }) {
  return { ...label, children: (children || []).map(withoutIds) };
}

function labelKey(label) {
  return JSON.stringify(withoutIds(storedLabel(label)));
}

function counts(labels) {
  const found = new Map();
  for (const label of labels) {
    const key = labelKey(label);
    found.set(key, (found.get(key) || 0) + 1);
  }
  return found;
}

/** The merged document ({answers, labels}) and what was applied ({added, removed, answers}). */
export function mergeDocuments(base, mine, theirs) {
  const unchanged = counts(base.labels || []);
  const added = [];
  for (const label of mine.labels || []) {
    const key = labelKey(label);
    const left = unchanged.get(key) || 0;
    if (left > 0) unchanged.set(key, left - 1);
    else added.push(label);
  }
  // What is left of base is what I removed (or changed away).
  const removed = unchanged;
  let removedCount = 0;
  const labels = [];
  for (const label of theirs.labels || []) {
    const key = labelKey(label);
    const left = removed.get(key) || 0;
    if (left > 0) {
      removed.set(key, left - 1);
      removedCount++;
    } else {
      labels.push(label);
    }
  }
  labels.push(...added);

  const answers = { ...(theirs.answers || {}) };
  const baseAnswers = base.answers || {};
  const myAnswers = mine.answers || {};
  let answered = 0;
  for (const key of new Set([...Object.keys(baseAnswers), ...Object.keys(myAnswers)])) {
    if (JSON.stringify(baseAnswers[key]) === JSON.stringify(myAnswers[key])) continue;
    answered++;
    if (key in myAnswers) answers[key] = myAnswers[key];
    else delete answers[key];
  }
  return {
    document: { answers, labels: JSON.parse(JSON.stringify(labels)) },
    applied: { added: added.length, removed: removedCount, answers: answered },
  };
}
