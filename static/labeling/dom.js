// Building DOM without markup strings: text always goes in as textContent.

/**
 * el("button", {className: "x", textContent: title, dataset: {key}}, [child, ...])
 * Properties are assigned; `dataset` is merged; `ariaLabel`, `role`, `title` and `hidden`
 * become attributes. Never takes HTML.
 */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "ariaLabel") node.setAttribute("aria-label", value);
    else if (name === "role") node.setAttribute("role", value);
    else if (name === "style") Object.assign(node.style, value);
    else node[name] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function kbd(text) {
  return el("kbd", { textContent: text });
}

const FOCUSABLE = "button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])";

/**
 * Keep Tab and Shift+Tab inside `container`, a dialog waiting for an answer: from its last
 * control Tab goes to its first, and back. Answers whether it took the key.
 */
export function trapTab(container, event) {
  if (event.key !== "Tab") return false;
  const items = [...container.querySelectorAll(FOCUSABLE)].filter((node) => !node.disabled && node.getClientRects().length);
  if (!items.length) return false;
  const at = items.indexOf(document.activeElement);
  const last = items.length - 1;
  const next = at < 0 ? (event.shiftKey ? last : 0) : event.shiftKey ? (at === 0 ? last : at - 1) : at === last ? 0 : at + 1;
  items[next].focus();
  event.preventDefault();
  return true;
}
