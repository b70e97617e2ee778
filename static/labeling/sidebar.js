// The side panels: classes to draw, the labels of the task, the predictions to accept or dismiss.

import { el, kbd } from "./dom.js";
import { displayCombo } from "./keys.js";

const TYPE_NAMES = { rectangle: "rectangle", polygon: "polygon", line: "line", point: "point", segmentation: "segmentation" };

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

const ROW_HEIGHT = 34; // px, the least a row takes; long titles wrap and make their row taller
const OVERSCAN = 6;

/**
 * Every label of the task, grouped by class, with a short id ("#3", "#3.1" for a nested
 * label), hide and lock toggles per label and per class, a class filter and a search over
 * answers. Only the rows in view exist in the DOM, so 10,000 labels scroll as lightly as 10.
 */
export class LabelList {
  constructor(container, { store, config, countElement, visibility, filter, search }) {
    this.container = container;
    this.store = store;
    this.config = config;
    this.countElement = countElement;
    this.visibility = visibility;
    this.filter = filter;
    this.search = search;
    this.rows = new Map();
    this.items = [];
    this.spacer = el("div", { className: "vlist" });
    this.spacer.setAttribute("role", "list");
    container.replaceChildren(this.spacer);
    for (const item of config.drawableClasses()) {
      filter.append(el("option", { value: item.entry.id, textContent: item.parent ? `${item.entry.title} (in ${item.parent.title})` : item.entry.title }));
    }
    filter.addEventListener("change", () => this.render());
    search.addEventListener("input", () => this.render());
    store.addEventListener("change", (e) => {
      if (e.detail.structure || e.detail.source === "predictions" || e.detail.source === "questions") this.render();
    });
    store.addEventListener("select", () => {
      this.scrollToSelected();
      this.paint();
    });
    visibility.addEventListener("change", () => this.paint());
    container.addEventListener("scroll", () => {
      if (this._frame) return;
      this._frame = requestAnimationFrame(() => {
        this._frame = null;
        this.paint();
      });
    });
    new ResizeObserver(() => this.paint()).observe(container);
    this.render();
  }

  /** The rows: a heading per class, then its labels, each nested label under its parent. */
  render() {
    const classId = this.filter.value;
    const query = this.search.value.trim().toLowerCase();
    const groups = new Map();
    let total = 0;
    this.store.labels.forEach((label, i) => {
      const entry = this.config.entryFor(label, null);
      const rows = [{ kind: "label", shape: label, parent: null, id: `#${i + 1}`, entry }];
      label.children.forEach((child, j) => {
        rows.push({ kind: "label", shape: child, parent: label, id: `#${i + 1}.${j + 1}`, entry: this.config.entryFor(child, label) });
      });
      total += rows.length;
      const key = entry ? entry.id : `?${label.key}`;
      if (!groups.has(key)) groups.set(key, { entry, key: label.key, rows: [] });
      const group = groups.get(key);
      for (const row of rows) if (this.matches(row, classId, query)) group.rows.push(row);
    });
    const order = new Map(this.config.drawableClasses().map(({ entry }, i) => [entry.id, i]));
    const sorted = [...groups.values()].sort((a, b) => (order.get(a.entry?.id) ?? 1e9) - (order.get(b.entry?.id) ?? 1e9));
    this.items = [];
    for (const group of sorted) {
      if (!group.rows.length) continue;
      this.items.push({ kind: "group", entry: group.entry, key: group.key, count: group.rows.length });
      this.items.push(...group.rows);
    }
    this.total = total;
    this.countElement.textContent = String(total);
    this.layout();
  }

  /**
   * Row heights and offsets: a title that wraps to more lines makes its row taller, never cut
   * or overlapping the next. Each kind of row (class, nesting, badge: a handful for 10,000
   * labels) is drawn once, unseen, at the list's width and measured, since a guess from the
   * text's width misses how words wrap.
   */
  layout() {
    this.width = this.container.clientWidth;
    const probe = el("div", { className: "vlist__probe" });
    this.spacer.append(probe);
    const heights = new Map();
    this.offsets = new Array(this.items.length + 1);
    this.offsets[0] = 0;
    this.items.forEach((item, i) => {
      const title = item.entry ? item.entry.title : item.key || item.shape.key;
      const key = item.kind === "group" ? `g|${title}` : `l|${title}|${item.parent ? 1 : 0}|${item.shape.source}`;
      if (!heights.has(key)) {
        const node = item.kind === "group" ? this.groupRow(item) : this.labelRow(item);
        probe.replaceChildren(node);
        heights.set(key, Math.max(item.kind === "group" ? 30 : ROW_HEIGHT, Math.ceil(node.getBoundingClientRect().height)));
      }
      item.height = heights.get(key);
      this.offsets[i + 1] = this.offsets[i] + item.height;
    });
    probe.remove();
    this.spacer.style.height = `${Math.max(this.offsets[this.items.length], ROW_HEIGHT)}px`;
    this.paint();
  }

  matches(row, classId, query) {
    if (classId && row.entry?.id !== classId) return false;
    if (!query) return true;
    const words = [row.id, row.entry?.title || row.shape.key, ...answerTexts(row.shape.answers, this.config.questionsOf(row.entry))];
    return words.some((word) => String(word).toLowerCase().includes(query));
  }

  /** Draw the rows in view (and a few around them). */
  paint() {
    this.rows.clear();
    const top = this.container.scrollTop;
    const height = this.container.clientHeight || 400;
    if (this.container.clientWidth !== this.width) {
      this.layout();
      return;
    }
    const first = Math.max(0, this.indexAt(top) - OVERSCAN);
    const last = Math.min(this.items.length, this.indexAt(top + height) + 1 + OVERSCAN);
    const nodes = [];
    for (let i = first; i < last; i++) {
      const node = this.items[i].kind === "group" ? this.groupRow(this.items[i]) : this.labelRow(this.items[i]);
      node.style.top = `${this.offsets[i]}px`;
      node.style.height = `${this.items[i].height}px`;
      nodes.push(node);
    }
    if (!this.items.length) {
      const text = this.total ? "No label matches the filter." : "No labels yet: choose a class and draw.";
      nodes.push(el("p", { className: "muted small vlist__empty", role: "listitem", textContent: text }));
    }
    this.spacer.replaceChildren(...nodes);
  }

  /** The row at a height of the list (binary search over the offsets). */
  indexAt(y) {
    let lo = 0, hi = this.items.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return Math.max(0, lo);
  }

  groupRow(item) {
    const entry = item.entry;
    const row = el("div", { className: "vlist__row label-group", role: "listitem", dataset: { group: entry?.id || item.key } }, [
      swatch(entry?.drawColor),
      el("span", { className: "label-group__title", textContent: entry ? entry.title : item.key }),
      el("span", { className: "muted small", textContent: String(item.count) }),
    ]);
    if (entry) {
      const title = entry.title;
      row.append(
        this.toggle("hide", this.visibility.hiddenClasses.has(entry.id), `Hide every ${title}`, () => this.visibility.toggleClass("hide", entry.id)),
        this.toggle("lock", this.visibility.lockedClasses.has(entry.id), `Lock every ${title}`, () => this.visibility.toggleClass("lock", entry.id)),
      );
    }
    return row;
  }

  labelRow(item) {
    const { shape, parent, entry, id } = item;
    const selected = this.store.selection.has(shape.uid);
    const hidden = this.visibility.isHidden(shape, parent);
    const button = el(
      "button",
      { type: "button", className: `label-row${parent ? " label-row--nested" : ""}${selected ? " label-row--selected" : ""}`, dataset: { uid: shape.uid } },
      [
        swatch(entry?.drawColor),
        el("span", { className: "label-row__text" }, [
          el("span", { className: "label-row__title", textContent: entry ? entry.title : shape.key }),
          el("span", { className: "label-row__type muted small" }, [
            el("span", { className: "label-row__id", textContent: id }),
            ` · ${shape.type}`,
          ]),
        ]),
        shape.source === "prediction"
          ? el("span", { className: "badge badge--prediction", textContent: shape.score != null ? `${Math.round(shape.score * 100)}%` : "prediction" })
          : null,
        shape.source === "import" ? el("span", { className: "badge", textContent: "imported" }) : null,
      ],
    );
    if (selected && shape.uid === this.store.selectedUid) button.setAttribute("aria-current", "true");
    // Shift+click adds to the selection, as on the canvas.
    button.addEventListener("click", (event) => {
      if (event.shiftKey) this.store.toggleSelected(shape.uid);
      else this.store.select(shape.uid);
    });
    this.rows.set(shape.uid, button);
    const title = `${entry ? entry.title : shape.key} ${id}`;
    return el("div", { className: `vlist__row label-item${hidden ? " label-item--hidden" : ""}`, role: "listitem" }, [
      button,
      this.toggle("hide", this.visibility.hiddenLabels.has(shape.uid), `Hide ${title}`, () => this.visibility.toggleLabels("hide", [shape.uid])),
      this.toggle("lock", this.visibility.lockedLabels.has(shape.uid), `Lock ${title}`, () => this.visibility.toggleLabels("lock", [shape.uid])),
    ]);
  }

  toggle(kind, pressed, label, action) {
    const button = el("button", { type: "button", className: `toggle toggle--${kind}`, title: label, ariaLabel: label, dataset: { toggle: kind } });
    button.append(icon(kind, pressed));
    button.setAttribute("aria-pressed", String(pressed));
    button.addEventListener("click", action);
    return button;
  }

  scrollToSelected() {
    const index = this.items.findIndex((item) => item.kind === "label" && item.shape.uid === this.store.selectedUid);
    if (index < 0) return;
    const top = this.offsets[index];
    const bottom = this.offsets[index + 1];
    const view = this.container;
    if (top < view.scrollTop) view.scrollTop = top;
    else if (bottom > view.scrollTop + view.clientHeight) view.scrollTop = bottom - view.clientHeight;
  }
}

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  // An eye, struck through when hidden; a padlock, shut when locked.
  hide: (on) => [
    ["path", { d: "M1 8s2.5-5 7-5 7 5 7 5-2.5 5-7 5-7-5-7-5z", fill: "none", stroke: "currentColor", "stroke-width": "1.4" }],
    ["circle", { cx: "8", cy: "8", r: "2", fill: "currentColor" }],
    ...(on ? [["path", { d: "M2 14L14 2", stroke: "currentColor", "stroke-width": "1.6" }]] : []),
  ],
  lock: (on) => [
    ["rect", { x: "3", y: "7", width: "10", height: "7", rx: "1", fill: on ? "currentColor" : "none", stroke: "currentColor", "stroke-width": "1.4" }],
    ["path", { d: on ? "M5 7V5a3 3 0 0 1 6 0v2" : "M5 7V5a3 3 0 0 1 5.8-1", fill: "none", stroke: "currentColor", "stroke-width": "1.4" }],
  ],
};

function icon(kind, on) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  for (const [tag, attributes] of ICONS[kind](on)) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    svg.append(node);
  }
  return svg;
}

/** The width of a text in the list's font, without laying it out in the page. */
/** The words of a label's answers, with the options' labels, for the search box. */
function answerTexts(answers, questions) {
  const texts = [];
  for (const [key, answer] of Object.entries(answers || {})) {
    const value = answer && typeof answer === "object" && "value" in answer ? answer.value : answer;
    const question = questions.find((q) => q.key === key);
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === null || item === undefined || typeof item === "object") continue;
      texts.push(String(item));
      const option = question?.options?.find((o) => o.key === item);
      if (option) texts.push(option.label);
    }
  }
  return texts;
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
