// How the image is viewed, never what is saved: brightness, contrast and gamma (applied to
// the image only, not to the labels drawn over it), 1:1, and the side panels collapsed or
// shown. The adjustments are kept in this browser, so they follow the annotator from task
// to task of a dark or washed-out dataset.

const STORAGE_KEY = "labelsite.imageAdjust";
const DEFAULTS = { brightness: 100, contrast: 100, gamma: 100 }; // percent; gamma 100 = 1.0

export class ViewControls {
  constructor({ renderer, controller, body, form, gammaFilter, onChange }) {
    this.renderer = renderer;
    this.controller = controller;
    this.body = body;
    this.form = form;
    this.gammaFilter = gammaFilter; // the <feComponentTransfer> of the SVG filter
    this.onChange = onChange;
    this.values = { ...DEFAULTS, ...this.load() };
    for (const name of Object.keys(DEFAULTS)) {
      const input = form.elements[name];
      input.value = String(this.values[name]);
      input.addEventListener("input", () => this.set(name, Number(input.value)));
    }
    form.addEventListener("submit", (event) => event.preventDefault());
    form.querySelector("[data-reset]").addEventListener("click", () => this.reset());
    // Narrow windows start with the questions panel folded away, over the canvas when opened.
    if (window.matchMedia("(max-width: 1199px)").matches) body.dataset.right = "closed";
    this.apply();
  }

  load() {
    try {
      const stored = JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}");
      return Object.fromEntries(Object.entries(stored).filter(([k, v]) => k in DEFAULTS && Number.isFinite(v)));
    } catch {
      return {};
    }
  }

  set(name, value) {
    this.values[name] = value;
    this.form.elements[name].value = String(value);
    localStorage.setItem(STORAGE_KEY, JSON.stringify(this.values));
    this.apply();
  }

  reset() {
    for (const [name, value] of Object.entries(DEFAULTS)) this.set(name, value);
  }

  apply() {
    const { brightness, contrast, gamma } = this.values;
    for (const name of Object.keys(DEFAULTS)) {
      const output = this.form.querySelector(`output[for="${name}"]`);
      if (output) output.textContent = name === "gamma" ? (this.values[name] / 100).toFixed(2) : `${this.values[name]}%`;
    }
    // Gamma as an SVG transfer function: out = in ^ (1 / gamma), so gamma > 1 lifts the shadows.
    const exponent = String(100 / gamma);
    for (const func of this.gammaFilter.children) func.setAttribute("exponent", exponent);
    const parts = [];
    if (gamma !== 100) parts.push(`url(#${this.gammaFilter.parentElement.id})`);
    if (brightness !== 100) parts.push(`brightness(${brightness / 100})`);
    if (contrast !== 100) parts.push(`contrast(${contrast / 100})`);
    this.renderer.setImageFilter(parts.join(" "), `${parts.join(" ")}|${gamma}`);
    this.onChange?.();
  }

  get adjusted() {
    return Object.entries(DEFAULTS).some(([name, value]) => this.values[name] !== value);
  }

  /** The image at its own size, one image pixel to one screen pixel, centred. */
  actualSize() {
    const view = this.renderer.view;
    const [cx, cy] = view.toImage(this.renderer.cssWidth / 2, this.renderer.cssHeight / 2);
    view.scale = 1;
    view.x = this.renderer.cssWidth / 2 - cx;
    view.y = this.renderer.cssHeight / 2 - cy;
    this.renderer.invalidate();
    this.controller.dispatchEvent(new CustomEvent("view"));
  }

  togglePanel(side) {
    const open = this.panelOpen(side);
    this.body.dataset[side] = open ? "closed" : "open";
    this.onChange?.();
  }

  panelOpen(side) {
    return this.body.dataset[side] !== "closed";
  }
}
