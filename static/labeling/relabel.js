// Changing a label's class: which classes it may become, and what of it survives the change.

import { GEOMETRY_TYPES, QUESTION_TYPES } from "./config.js";

/**
 * The classes a label may switch to: same geometry type and same nesting level (a root
 * class among root classes; a nested class among the nested classes of its parent's class).
 */
export function classChoices(config, shape, parentShape) {
  const parentEntry = parentShape ? config.entryFor(parentShape, null) : null;
  return config
    .drawableClasses()
    .filter(({ entry, parent }) => entry.type === shape.type && (parent?.id || null) === (parentEntry?.id || null));
}

/**
 * Give `shape` the class `entry`, in place. Answers to questions the new class does not ask
 * (same key and type, and for a choice an option it still has) and nested labels of
 * classes it does not have are dropped; what was dropped is answered so the page can say it.
 */
export function relabel(config, shape, oldEntry, entry) {
  const dropped = [];
  shape.answers = keepAnswers(shape.answers || {}, config.questionsOf(entry), dropped, oldEntry ? config.questionsOf(oldEntry) : []);
  const nested = new Map(
    (entry.children || []).filter((child) => GEOMETRY_TYPES.has(child.type)).map((child) => [child.key, child.type]),
  );
  const children = shape.children || [];
  const kept = children.filter((child) => nested.get(child.key) === child.type);
  const droppedLabels = children.length - kept.length;
  shape.children = kept;
  shape.key = entry.key;
  return { droppedAnswers: dropped, droppedLabels };
}

function keepAnswers(tree, questions, dropped, oldQuestions) {
  const byKey = new Map(questions.map((question) => [question.key, question]));
  const oldByKey = new Map(oldQuestions.map((question) => [question.key, question]));
  const out = {};
  for (const [key, node] of Object.entries(tree)) {
    const question = byKey.get(key);
    const title = oldByKey.get(key)?.title || key;
    if (!question || !fits(question, node?.value)) {
      if (hasValue(node)) dropped.push(title);
      continue;
    }
    const childQuestions = (question.children || []).filter((child) => QUESTION_TYPES.has(child.type));
    const oldChildren = (oldByKey.get(key)?.children || []).filter((child) => QUESTION_TYPES.has(child.type));
    out[key] = { ...node, answers: keepAnswers(node.answers || {}, childQuestions, dropped, oldChildren) };
  }
  return out;
}

function fits(question, value) {
  if (value === null || value === undefined) return true;
  const options = new Set((question.options || []).map((option) => option.key));
  if (question.type === "select") return typeof value === "string" && options.has(value);
  if (question.type === "checklist") return Array.isArray(value) && value.every((v) => options.has(v));
  return question.type === "freetext" && typeof value === "string";
}

function hasValue(node) {
  if (!node) return false;
  const value = node.value;
  if (value !== null && value !== undefined && !(Array.isArray(value) && !value.length) && value !== "") return true;
  return Object.values(node.answers || {}).some(hasValue);
}
