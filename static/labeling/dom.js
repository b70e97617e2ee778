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
