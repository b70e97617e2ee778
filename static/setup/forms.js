// Conversions between our entry tree and DataGym's entry list, for the JSON view.

const GEOMETRY = new Set(["rectangle", "polygon", "line", "point", "segmentation"]);

export function isGeometry(type) {
  return GEOMETRY.has(type);
}

/** A clean copy of our tree (no editor ids), as the API accepts it. */
export function toLabelsite(entries) {
  return entries.map((e) => {
    const out = { key: e.key, title: e.title, type: e.type };
    if (e.schema_id) out.schema_id = e.schema_id;
    if (e.color) out.color = e.color;
    if (e.shortcut) out.shortcut = e.shortcut;
    if (e.required) out.required = true;
    if (e.type === "rectangle" && e.rotatable) out.rotatable = true;
    if (e.type === "freetext") out.max_length = e.max_length === "" || e.max_length == null ? null : Number(e.max_length);
    if (e.type === "select" || e.type === "checklist") {
      out.options = (e.options || []).map((o) => {
        const option = { key: o.key, label: o.label || o.key };
        if (o.schema_id) option.schema_id = o.schema_id;
        return option;
      });
    }
    out.children = toLabelsite(e.children || []);
    return out;
  });
}

export function toDatagym(entries) {
  return entries.map((e) => ({
    entryKey: e.key,
    entryValue: e.title,
    type: e.type === "segmentation" ? "IMAGE_SEGMENTATION" : e.type.toUpperCase(),
    color: e.color || null,
    shortcut: e.shortcut || null,
    required: Boolean(e.required),
    maxLength: e.type === "freetext" ? Number(e.max_length) || null : null,
    options: Object.fromEntries((e.options || []).map((o) => [o.key, o.label || o.key])),
    children: toDatagym(e.children || []),
  }));
}

/** Either form (entry by entry) into our tree; anything unreadable is kept for the server to name. */
export function fromAnyForm(entries) {
  if (!Array.isArray(entries)) throw new Error("The JSON must be an array of entries.");
  return entries.map((raw) => {
    if (raw === null || typeof raw !== "object") throw new Error("Each entry must be a JSON object.");
    const datagym = "entryKey" in raw || "entryValue" in raw;
    let type = String(raw.type || "").toLowerCase();
    if (type === "image_segmentation") type = "segmentation";
    let options = raw.options || [];
    if (!Array.isArray(options) && typeof options === "object") {
      options = Object.entries(options).map(([key, label]) => ({ key, label }));
    }
    return {
      key: (datagym ? raw.entryKey : raw.key) ?? "",
      title: (datagym ? raw.entryValue : raw.title) ?? "",
      type,
      schema_id: datagym ? null : raw.schema_id || null,
      color: raw.color || "",
      shortcut: raw.shortcut == null ? "" : String(raw.shortcut),
      required: Boolean(raw.required),
      rotatable: Boolean(raw.rotatable), // DataGym's form has no rotation
      max_length: (datagym ? raw.maxLength : raw.max_length) ?? (type === "freetext" && !datagym ? 255 : null),
      options: options.map((o) => ({ key: o.key ?? "", label: o.label ?? "", schema_id: o.schema_id || null })),
      children: fromAnyForm(raw.children || []),
    };
  });
}
