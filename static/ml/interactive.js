// Model assist on the labeling page: with an interactive model server connected to the project,
// a point or a box drawn while "Ask the model" is on is not kept as a label: it goes to the
// server as Label Studio's interactive `context`, and the regions that come back appear as
// predictions to accept or dismiss (the prediction panel's keys: A, X, Shift+A, Shift+X).
//
// Kept apart from main.js, which only starts it: it watches the store for new shapes and adds
// the answers through the store, so the canvas and the panels need to know nothing of it.

import { el } from "../labeling/dom.js";

const PROMPT_TYPES = new Set(["point", "rectangle"]);

export class ModelAssist {
  constructor({ store, config, api, taskId, readOnly, toast, anchor }) {
    this.store = store;
    this.config = config;
    this.api = api;
    this.taskId = taskId;
    this.toast = toast;
    this.backends = [];
    this.on = false;
    this.busy = false;
    this.known = new Set([...store.walk()].map(([shape]) => shape.uid));
    if (readOnly || !anchor) return;
    this.load(anchor);
  }

  async load(anchor) {
    const task = await this.api.get(`/api/tasks/${this.taskId}`);
    if (!task.ok) return;
    const listed = await this.api.get(`/api/projects/${task.data.project_id}/ml-backends/interactive`);
    if (!listed.ok || !listed.data.length) return;
    this.backends = listed.data;
    this.render(anchor);
    this.store.addEventListener("change", (event) => this.onChange(event.detail || {}));
  }

  render(anchor) {
    this.select = el("select", { id: "ml-assist-backend", ariaLabel: "Model server" });
    for (const backend of this.backends) {
      const label = backend.model_version ? `${backend.title} (${backend.model_version})` : backend.title;
      this.select.append(el("option", { value: backend.id, textContent: label }));
    }
    this.toggle = el("button", {
      type: "button",
      id: "ml-assist-toggle",
      className: "button button--small",
      textContent: "Ask the model",
      title: "Draw a point or a box: the model answers with a region",
    });
    this.toggle.setAttribute("aria-pressed", "false");
    this.toggle.addEventListener("click", () => this.setOn(!this.on));
    this.status = el("p", { id: "ml-assist-status", className: "muted small", textContent: "" });
    this.status.setAttribute("role", "status");
    const section = el("section", { className: "lb-panel", id: "ml-assist" }, [
      el("h2", { textContent: "Model assist" }),
      ...(this.backends.length > 1 ? [this.select] : []),
      el("div", { className: "row" }, [this.toggle]),
      this.status,
    ]);
    anchor.after(section);
    this.say("Off. Turn it on, then click with a point class or draw a box.");
  }

  say(text) {
    this.status.textContent = text;
  }

  setOn(on) {
    this.on = on;
    this.toggle.setAttribute("aria-pressed", on ? "true" : "false");
    this.toggle.classList.toggle("button--primary", on);
    this.say(on ? "On: the next point or box you draw goes to the model." : "Off.");
  }

  onChange(detail) {
    if (!detail.structure) return;
    const fresh = [];
    for (const [shape, parent] of this.store.walk()) {
      if (this.known.has(shape.uid)) continue;
      this.known.add(shape.uid);
      if (!parent && shape.source === "manual" && PROMPT_TYPES.has(shape.type)) fresh.push(shape);
    }
    if (!this.on || this.busy || detail.source === "history" || fresh.length !== 1) return;
    this.ask(fresh[0]);
  }

  async ask(prompt) {
    this.busy = true;
    const shape = { key: prompt.key, type: prompt.type, points: prompt.points };
    // The click or box was a question to the model, not a label: it leaves the document.
    this.store.remove(prompt.uid);
    this.say("Asking the model…");
    const started = performance.now();
    const backend = this.backends.length > 1 ? this.select.value : this.backends[0].id;
    const result = await this.api.post(`/api/ml-backends/${backend}/interactive`, { task_id: this.taskId, shape });
    this.busy = false;
    if (!result.ok) {
      const message = result.data?.error?.message || `The model server did not answer (${result.status}).`;
      this.say(message);
      this.toast(message);
      return;
    }
    const labels = result.data.labels || [];
    if (!labels.length) {
      this.say("The model found nothing there.");
      return;
    }
    this.store.checkpoint();
    let last = null;
    for (const label of labels) {
      last = this.store.add({ ...label, children: label.children || [] });
      this.known.add(last.uid);
    }
    this.store.change({ structure: true, source: "predictions" });
    this.store.select(last.uid);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    this.say(`${labels.length} region(s) in ${seconds} s: accept (A) or dismiss (X).`);
  }
}
