// The configuration editor's live preview: the labeling page's class list and question panel as
// annotators will meet them, drawn from the entries being edited (saved or not).

const GEOMETRY = new Set(["rectangle", "polygon", "line", "point", "segmentation"]);
const TOOL = { rectangle: "▭", polygon: "⬠", line: "╱", point: "•", segmentation: "▨" };

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function title(entry) {
  return entry.title || entry.key || "(no title yet)";
}

/** A question as the page asks it: radio buttons, checkboxes or a text field, then its follow-ups. */
function question(entry, name) {
  const box = el("fieldset", { class: "preview__question" }, el("legend", { text: `${title(entry)}${entry.required ? " *" : ""}` }));
  if (entry.type === "freetext") {
    box.append(el("input", { type: "text", "aria-label": title(entry), maxlength: entry.max_length || 255, placeholder: `up to ${entry.max_length || 255} characters` }));
  } else {
    for (const option of entry.options) {
      const kind = entry.type === "checklist" ? "checkbox" : "radio";
      box.append(el("label", { class: "preview__option" }, el("input", { type: kind, name }), document.createTextNode(` ${option.label || option.key || "(option)"}`)));
    }
    if (!entry.options.length) box.append(el("p", { class: "muted small", text: "No options yet." }));
  }
  entry.children.filter((c) => !GEOMETRY.has(c.type)).forEach((child, i) => box.append(question(child, `${name}-${i}`)));
  return box;
}

function swatch(colour) {
  const node = el("span", { class: "preview__swatch" });
  // through the CSSOM: the pages' CSP refuses style attributes
  node.style.background = /^#[0-9a-f]{6}$/i.test(colour || "") ? colour : "#888888";
  return node;
}

/** The class list: each drawable class with its colour, tool and key; nested ones under their parent. */
function classes(entries, list, parent) {
  for (const entry of entries) {
    if (!GEOMETRY.has(entry.type)) continue;
    const asked = entry.children.filter((c) => !GEOMETRY.has(c.type)).map(title);
    list.append(
      el(
        "li",
        { class: "preview__class" },
        swatch(entry.color),
        el("span", { class: "preview__tool", "aria-hidden": "true", text: TOOL[entry.type] }),
        el("span", { class: "preview__name", text: parent ? `${title(entry)} (in ${title(parent)})` : title(entry) }),
        entry.shortcut ? el("kbd", { text: entry.shortcut }) : null,
        asked.length ? el("span", { class: "muted small preview__asked", text: `asks ${asked.join(", ")}` }) : null,
      ),
    );
    classes(entry.children, list, entry);
  }
}

export function renderPreview(entries) {
  const root = document.getElementById("config-preview");
  if (!root) return;
  const list = el("ul", { class: "preview__classes" });
  classes(entries, list, null);
  const questions = entries.filter((e) => !GEOMETRY.has(e.type));
  const panel = el("div", { class: "preview__questions" });
  questions.forEach((entry, i) => panel.append(question(entry, `preview-q${i}`)));
  root.replaceChildren(
    el("h3", { text: "Classes" }),
    list.childElementCount ? list : el("p", { class: "muted small", text: "No class to draw yet." }),
    el("h3", { text: "Questions about the image" }),
    questions.length ? panel : el("p", { class: "muted small", text: "No question about the whole image." }),
  );
}
