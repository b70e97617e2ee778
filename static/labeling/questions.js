// The questions panel: a form built from the configuration's classification entries.
//
// Select: radio buttons up to 3 options, a dropdown beyond; checklist: checkboxes;
// freetext: a text field with the question's max length. Child questions sit under their
// parent question. Every user string goes in as textContent.

import { el } from "./dom.js";

const RADIO_LIMIT = 3;
let formCounter = 0;

/**
 * Render `questions` answering into the live answer tree `tree` (mutated in place).
 * `path` is the API's path of this tree ("answers", "labels[2].answers"), used to point at
 * a question the server names in an error. `onChange({checkpoint})` is called before
 * (checkpoint) and after each edit.
 */
export function renderQuestions(container, { questions, tree, path, onEdit }) {
  container.replaceChildren();
  if (!questions.length) return;
  const list = el("div", { className: "questions" });
  for (const question of questions) list.append(renderQuestion(question, tree, `${path}.${question.key}`, onEdit));
  container.append(list);
}

function emptyValue(question) {
  return question.type === "checklist" ? [] : null;
}

function renderQuestion(question, tree, path, onEdit) {
  const id = `q${++formCounter}`;
  const node = () => {
    // Answer nodes are created on first edit, with the neutral value of their type.
    if (!tree[question.key]) tree[question.key] = { value: emptyValue(question), answers: {} };
    if (!tree[question.key].answers) tree[question.key].answers = {};
    return tree[question.key];
  };
  const current = tree[question.key]?.value ?? emptyValue(question);
  const wrapper = el("fieldset", { className: "question", dataset: { path, key: question.key } });
  const legend = el("legend", { className: "question__title" });
  legend.append(el("span", { textContent: question.title }));
  if (question.required) legend.append(el("span", { className: "badge badge--required", textContent: "required" }));
  wrapper.append(legend);

  const commit = (value, { checkpoint = true } = {}) => {
    onEdit(() => {
      node().value = value;
    }, { checkpoint });
    wrapper.classList.remove("question--problem");
  };

  const options = question.options || [];
  if (question.type === "select" && options.length <= RADIO_LIMIT) {
    const group = el("div", { className: "question__options", role: "radiogroup" });
    for (const option of options) {
      const input = el("input", { type: "radio", name: id, value: option.key, checked: current === option.key });
      input.addEventListener("change", () => commit(option.key));
      group.append(el("label", { className: "option" }, [input, el("span", { textContent: option.label || option.key })]));
    }
    if (!question.required) {
      const clear = el("button", { type: "button", className: "link-button", textContent: "clear" });
      clear.addEventListener("click", () => {
        group.querySelectorAll("input").forEach((input) => (input.checked = false));
        commit(null);
      });
      group.append(clear);
    }
    wrapper.append(group);
  } else if (question.type === "select") {
    const select = el("select", { id, ariaLabel: question.title });
    select.append(el("option", { value: "", textContent: "—" }));
    for (const option of options) {
      select.append(el("option", { value: option.key, textContent: option.label || option.key, selected: current === option.key }));
    }
    select.addEventListener("change", () => commit(select.value || null));
    wrapper.append(select);
  } else if (question.type === "checklist") {
    const group = el("div", { className: "question__options" });
    const checked = new Set(Array.isArray(current) ? current : []);
    for (const option of options) {
      const input = el("input", { type: "checkbox", value: option.key, checked: checked.has(option.key) });
      input.addEventListener("change", () => {
        const values = [...group.querySelectorAll("input:checked")].map((box) => box.value);
        commit(values);
      });
      group.append(el("label", { className: "option" }, [input, el("span", { textContent: option.label || option.key })]));
    }
    wrapper.append(group);
  } else if (question.type === "freetext") {
    const input = el("input", { type: "text", id, value: current ?? "", ariaLabel: question.title });
    if (question.max_length) input.maxLength = question.max_length;
    // One undo step per visit of the field, not per keystroke.
    let editedSinceFocus = false;
    input.addEventListener("focus", () => (editedSinceFocus = false));
    input.addEventListener("input", () => {
      commit(input.value === "" ? null : input.value, { checkpoint: !editedSinceFocus });
      editedSinceFocus = true;
    });
    wrapper.append(input);
    if (question.max_length) {
      wrapper.append(el("div", { className: "muted small", textContent: `at most ${question.max_length} characters` }));
    }
  }

  const children = (question.children || []).filter((c) => ["select", "checklist", "freetext"].includes(c.type));
  if (children.length) {
    const nested = el("div", { className: "question__children" });
    // The child answers live under this question's answer node, created when first needed.
    const childTree = new Proxy(
      {},
      {
        get: (_, key) => tree[question.key]?.answers?.[key],
        set: (_, key, value) => {
          node().answers[key] = value;
          return true;
        },
      },
    );
    for (const child of children) nested.append(renderQuestion(child, childTree, `${path}.answers.${child.key}`, onEdit));
    wrapper.append(nested);
  }
  return wrapper;
}
