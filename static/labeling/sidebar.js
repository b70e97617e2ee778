// The side panels: classes to draw, the labels of the task, the predictions to accept or dismiss.

import { el, kbd } from "./dom.js";
import { displayCombo } from "./keys.js";

const TYPE_NAMES = { rectangle: "rectangle", polygon: "polygon", line: "line", point: "point", segmentation: "segmentation" };
const LIST_LIMIT = 300; // rows drawn in the label list; the canvas shows them all

export function swatch(color) {
  const node = el("span", { className: "swatch", style: { backgroundColor: color || "#999" } });
  node.setAttribute("aria-hidden", "true");
  return node;
}

export class ClassList {
  constructor(container, { config, controller, keymap }) {
    this.container = container;
    this.controller = controller;
    this.keymap = keymap;
    this.buttons = new Map();
    this.keyLabels = new Map(); // action id -> the <kbd> showing its key
    const list = el("ul", { className: "class-list" });
    const select = el("button", { type: "button", className: "tool", dataset: { tool: "select" } }, [
      el("span", { className: "tool__icon", textContent: "↖" }),
      el("span", { className: "tool__title", textContent: "Select and edit" }),
      this.keyLabel("tool.select"),
    ]);
    select.addEventListener("click", () => controller.setSelectMode());
    list.append(el("li", {}, [select]));
    this.selectButton = select;
    for (const item of config.drawableClasses()) {
      const { entry, parent } = item;
      const button = el(
        "button",
        { type: "button", className: `tool${parent ? " tool--nested" : ""}`, dataset: { key: entry.key, type: entry.type } },
        [
          swatch(entry.drawColor),
          el("span", { className: "tool__text" }, [
            el("span", { className: "tool__title", textContent: entry.title }),
            el("span", {
              className: "tool__type muted small",
              textContent: parent ? `${TYPE_NAMES[entry.type]} inside ${parent.title}` : TYPE_NAMES[entry.type],
            }),
          ]),
          this.keyLabel(`class:${entry.id}`),
        ],
      );
      button.title = entry.title;
      button.addEventListener("click", () => controller.setClass(item));
      this.buttons.set(item, button);
      list.append(el("li", {}, [button]));
    }
    container.replaceChildren(list);
    controller.addEventListener("mode", () => this.update());
    keymap.addEventListener("change", () => this.updateKeys());
    this.update();
    this.updateKeys();
  }

  keyLabel(id) {
    const node = kbd("");
    this.keyLabels.set(id, node);
    return node;
  }

  updateKeys() {
    for (const [id, node] of this.keyLabels) {
      const key = this.keymap.keysOf(id)[0];
      node.textContent = key ? displayCombo(key) : "";
      node.hidden = !key;
    }
  }

  update() {
    const current = this.controller.mode === "draw" ? this.controller.currentClass : null;
    this.selectButton.setAttribute("aria-pressed", String(!current));
    // By entry id: the keyboard and the class list build their own items for a class.
    for (const [item, button] of this.buttons) button.setAttribute("aria-pressed", String(item.entry.id === current?.entry.id));
  }
}

export class LabelList {
  constructor(container, { store, config, countElement }) {
    this.container = container;
    this.store = store;
    this.config = config;
    this.countElement = countElement;
    this.rows = new Map();
    store.addEventListener("change", (e) => {
      if (e.detail.structure || e.detail.source === "predictions") this.render();
    });
    store.addEventListener("select", () => this.markSelected());
    this.render();
  }

  render() {
    this.rows.clear();
    const list = el("ul", { className: "label-list" });
    let n = 0;
    let total = 0;
    for (const [shape, parent] of this.store.walk()) {
      total++;
      if (n >= LIST_LIMIT) continue;
      n++;
      const entry = this.config.entryFor(shape, parent);
      const button = el(
        "button",
        { type: "button", className: `label-row${parent ? " label-row--nested" : ""}`, dataset: { uid: shape.uid } },
        [
          swatch(entry?.drawColor),
          // The title gets the row's width; the type goes under it rather than squeezing it.
          el("span", { className: "label-row__text" }, [
            el("span", { className: "label-row__title", textContent: entry ? entry.title : shape.key }),
            el("span", { className: "label-row__type muted small", textContent: shape.type }),
          ]),
          shape.source === "prediction"
            ? el("span", { className: "badge badge--prediction", textContent: shape.score != null ? `${Math.round(shape.score * 100)}%` : "prediction" })
            : null,
          shape.source === "import" ? el("span", { className: "badge", textContent: "imported" }) : null,
        ],
      );
      button.addEventListener("click", () => this.store.select(shape.uid));
      this.rows.set(shape.uid, button);
      list.append(el("li", {}, [button]));
    }
    if (total > n) list.append(el("li", { className: "muted small", textContent: `… and ${total - n} more on the canvas` }));
    if (!total) list.append(el("li", { className: "muted small", textContent: "No labels yet: choose a class and draw." }));
    this.container.replaceChildren(list);
    this.countElement.textContent = String(total);
    this.markSelected();
  }

  markSelected() {
    for (const [uid, row] of this.rows) {
      const selected = uid === this.store.selectedUid;
      row.classList.toggle("label-row--selected", selected);
      if (selected) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
    this.rows.get(this.store.selectedUid)?.scrollIntoView({ block: "nearest" });
  }
}

export class PredictionPanel {
  constructor(section, { store, config, actions }) {
    this.section = section;
    this.list = section.querySelector("[data-predictions]");
    this.count = section.querySelector("[data-prediction-count]");
    this.store = store;
    this.config = config;
    this.actions = actions;
    section.querySelector("[data-accept-all]").addEventListener("click", () => actions.acceptAll());
    section.querySelector("[data-dismiss-all]").addEventListener("click", () => actions.dismissAll());
    store.addEventListener("change", (e) => {
      if (e.detail.structure || e.detail.source === "predictions") this.render();
    });
    this.render();
  }

  render() {
    const predictions = [...this.store.walk()].filter(([shape]) => shape.source === "prediction");
    this.section.hidden = predictions.length === 0;
    this.count.textContent = String(predictions.length);
    const list = el("ul", { className: "prediction-list" });
    for (const [shape, parent] of predictions.slice(0, 50)) {
      const entry = this.config.entryFor(shape, parent);
      const accept = el("button", { type: "button", className: "button button--small", textContent: "Accept" });
      accept.addEventListener("click", () => this.actions.accept(shape.uid));
      const dismiss = el("button", { type: "button", className: "button button--small button--quiet", textContent: "Dismiss" });
      dismiss.addEventListener("click", () => this.actions.dismiss(shape.uid));
      const name = el("button", { type: "button", className: "link-button" }, [
        swatch(entry?.drawColor),
        el("span", { className: "prediction__title", textContent: entry ? entry.title : shape.key }),
        el("span", { className: "prediction__score muted small", textContent: shape.score != null ? `${Math.round(shape.score * 100)}%` : "" }),
      ]);
      name.addEventListener("click", () => this.store.select(shape.uid));
      list.append(el("li", { className: "prediction", dataset: { uid: shape.uid } }, [name, accept, dismiss]));
    }
    if (predictions.length > 50) list.append(el("li", { className: "muted small", textContent: `… and ${predictions.length - 50} more` }));
    this.list.replaceChildren(list);
  }
}
