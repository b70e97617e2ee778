"""Label configurations of other tools turned into our entry tree (`label_config_replace` input).

- Label Studio's XML config (`<View>` with `<Image>` object tags and control tags): every
  `<Label>` of a RectangleLabels / PolygonLabels / KeyPointLabels / PolygonLabels / BrushLabels
  control becomes a root geometry class; `<Choices>` a select (or checklist with
  `choice="multiple"`) and `<TextArea>` a freetext question. A control with
  `perRegion="true"` becomes a child question of every class drawn on the same object. Schema
  ids are `ls:<control name>` for a question and `ls:<control name>:<label value>` for a class,
  so that an import can map a result by `from_name` and value without guessing.
- Ango Hub's category schema (`{"tools", "classifications", "relations"}`): tools become
  geometry classes, classifications questions, nested `classifications` children; every
  `schemaId` (of categories and of options) is kept verbatim, the tool `color` too.
- Labelbox's ontology (`OntologyBuilder.asdict()` of the `labelbox` SDK, the app's ontology JSON,
  or an object holding it under `normalized`): tools become geometry classes, classifications
  questions; a tool's `classifications` and an option's `options` (questions asked when that
  answer is chosen) become children of the tool or of the question. `featureSchemaId` (what
  Labelbox NDJSON names `schemaId`) is kept as the schema id of entries and options.

Both return `(entries, warnings)`: warnings name what we cannot represent (a tool type we do
not have, relations) and were left out. The checks of the tree itself stay with
`label_config_replace`, which reports them with their paths.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labelsite.errors import ErrorDetail, ValidationFailed
from labelsite.jsondepth import json_depth_check
from projects.label_config import (
    FREETEXT_MAX_LENGTH,
    KEY_MAX_LENGTH,
    SCHEMA_ID_MAX_LENGTH,
    IndexedEntry,
    LabelConfigIndex,
)

_NOT_KEY = re.compile(r"[^a-zA-Z0-9_ -]+")


def key_from_text(text: str, taken: set[str] | None = None) -> str:
    """A valid entry or option key from a name or title: other characters become `_`, lower case,
    at most 56 characters, unique among `taken` (which it extends) by a numbered suffix."""
    base = _NOT_KEY.sub("_", text.strip()).strip("_ ").lower()[:KEY_MAX_LENGTH] or "entry"
    key = base
    if taken is not None:
        counter = 2
        while key in taken:
            suffix = f"_{counter}"
            key = f"{base[: KEY_MAX_LENGTH - len(suffix)]}{suffix}"
            counter += 1
        taken.add(key)
    return key


@dataclass
class ConvertedConfig:
    entries: list[dict[str, Any]]
    warnings: list[ErrorDetail] = field(default_factory=list)


# --- Label Studio XML ---------------------------------------------------------------------

#: Control tag (lower case) -> our geometry type.
LS_GEOMETRY_CONTROLS = {
    "rectanglelabels": "rectangle",
    "polygonlabels": "polygon",
    "keypointlabels": "point",
    "brushlabels": "segmentation",
}
LS_QUESTION_CONTROLS = {"choices", "textarea"}
LS_IMAGE_OBJECTS = {"image"}


def ls_schema_id(control: str, value: str | None = None) -> str:
    """The schema id we give the entry of a Label Studio control (and label value)."""
    schema_id = f"ls:{control}" if value is None else f"ls:{control}:{value}"
    return schema_id[:SCHEMA_ID_MAX_LENGTH]


def _xml_root(xml: str) -> ET.Element:
    if "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper():
        raise ValidationFailed(
            code="invalid_label_studio_config",
            message="The Label Studio config must not declare a DOCTYPE or entities; remove them.",
            details=[ErrorDetail(path="config", code="xml_doctype", message="Remove the <!DOCTYPE ...> declaration.")],
        )
    try:
        return ET.fromstring(xml)  # noqa: S314 - no DOCTYPE, so no entity expansion
    except ET.ParseError as exc:
        line, column = exc.position
        raise ValidationFailed(
            code="invalid_label_studio_config",
            message=f"The Label Studio config is not valid XML at line {line}, column {column + 1}: {exc.msg}.",
            details=[ErrorDetail(path=f"line {line}, column {column + 1}", code="xml_syntax", message=str(exc.msg))],
        ) from exc


def _value(element: ET.Element) -> str:
    return element.get("value") or element.get("alias") or ""


def ls_config_image_field(xml: str) -> str | None:
    """The data key of the config's first `<Image value="$key">`, if any."""
    for element in _xml_root(xml).iter():
        if element.tag.lower() in LS_IMAGE_OBJECTS:
            value = element.get("value") or ""
            if value.startswith("$"):
                return value[1:]
    return None


def ls_config_to_entries(xml: str) -> ConvertedConfig:
    """Our entry tree from a Label Studio labeling config (XML)."""
    root = _xml_root(xml)
    entries: list[dict[str, Any]] = []
    warnings: list[ErrorDetail] = []
    root_keys: set[str] = set()
    per_region: list[tuple[str, dict[str, Any]]] = []  # (toName, question)
    classes_by_object: dict[str, list[dict[str, Any]]] = {}
    shortcuts: set[str] = set()
    for position, element in enumerate(root.iter()):
        tag = element.tag.lower()
        name = element.get("name") or ""
        path = f"{element.tag}[name={name!r}]" if name else f"{element.tag}#{position}"
        if tag in LS_GEOMETRY_CONTROLS:
            entry_type = LS_GEOMETRY_CONTROLS[tag]
            for label in element:
                if label.tag.lower() != "label":
                    continue
                value = _value(label)
                if not value:
                    warnings.append(ErrorDetail(path, "label_without_value", "A <Label> without a value was left out."))
                    continue
                key = key_from_text(value, root_keys)
                entry: dict[str, Any] = {
                    "key": key,
                    "title": value[:128],
                    "type": entry_type,
                    "schema_id": ls_schema_id(name, value),
                    "color": (label.get("background") or "")[:32],
                    "children": [],
                }
                if entry_type == "rectangle" and tag == "rectanglelabels":
                    # Label Studio lets its boxes turn unless the control says canRotate="false".
                    entry["rotatable"] = (element.get("canRotate") or "true").lower() != "false"
                hotkey = label.get("hotkey") or ""
                if re.fullmatch(r"[0-9a-zA-Z]", hotkey) and hotkey.lower() not in shortcuts:
                    entry["shortcut"] = hotkey
                    shortcuts.add(hotkey.lower())
                entries.append(entry)
                classes_by_object.setdefault(element.get("toName") or "", []).append(entry)
        elif tag in LS_QUESTION_CONTROLS:
            question = _ls_question(element, tag, name, root_keys if element.get("perRegion") != "true" else None)
            if element.get("perRegion") == "true":
                per_region.append((element.get("toName") or "", question))
            else:
                entries.append(question)
        elif tag.endswith("labels") or tag in {"rating", "number", "datetime", "taxonomy", "ranker", "relations"}:
            warnings.append(
                ErrorDetail(path, "unsupported_control", f"The control <{element.tag}> has no counterpart; left out.")
            )
    for to_name, question in per_region:
        targets = classes_by_object.get(to_name, [])
        if not targets:
            warnings.append(
                ErrorDetail(
                    f"{question['title']}",
                    "per_region_without_class",
                    f"The per-region control {question['title']!r} names no object with region labels; left out.",
                )
            )
        for target in targets:
            target["children"].append({**question, "schema_id": f"{question['schema_id']}@{target['key']}"[:64]})
    return ConvertedConfig(entries=entries, warnings=warnings)


def _ls_question(element: ET.Element, tag: str, name: str, root_keys: set[str] | None) -> dict[str, Any]:
    key = key_from_text(name, root_keys)
    question: dict[str, Any] = {
        "key": key,
        "title": (element.get("name") or key)[:128],
        "schema_id": ls_schema_id(name),
        "required": element.get("required") == "true",
    }
    if tag == "textarea":
        question.update(type="freetext", max_length=FREETEXT_MAX_LENGTH)
        return question
    multiple = element.get("choice") == "multiple"
    option_keys: set[str] = set()
    options = []
    for choice in element.iter():
        if choice.tag.lower() != "choice":
            continue
        value = _value(choice)
        if value:
            options.append({"key": key_from_text(value, option_keys), "label": value})
    question.update(type="checklist" if multiple else "select", options=options)
    return question


# --- our configuration as Label Studio XML --------------------------------------------------

#: Our geometry type -> the Label Studio control that draws it, and the control's name when the
#: class did not come from Label Studio (the same names as the Label Studio export writes).
LS_CONTROL_OF_TYPE: dict[str, tuple[str, str]] = {
    "rectangle": ("RectangleLabels", "rectangle"),
    "polygon": ("PolygonLabels", "polygon"),
    "line": ("PolygonLabels", "line"),
    "point": ("KeyPointLabels", "keypoint"),
    "segmentation": ("BrushLabels", "segmentation"),
}


def _ls_names(schema_id: str) -> tuple[str, str | None] | None:
    """(control, label value) of a schema id made from Label Studio XML (`ls:<control>[:<value>]`)."""
    if not schema_id.startswith("ls:"):
        return None
    control, _, value = schema_id[3:].partition(":")
    control = control.split("@", 1)[0]
    return (control, value or None) if control else None


def ls_class_controls(index: LabelConfigIndex) -> dict[str, tuple[str, str, str]]:
    """Root geometry class id -> (control tag, control name, label value) in the Label Studio XML
    of `label_config_to_ls_xml`: a class made from Label Studio XML keeps its control and value
    (schema id `ls:<control>:<value>`), the others go to a control per geometry type named
    `rectangle`, `polygon`, `line`, `keypoint`, `segmentation`, with their titles as values."""
    tags: dict[str, str] = {}
    values: dict[str, set[str]] = {}
    placed: dict[str, tuple[str, str, str]] = {}
    for entry in index.roots.values():
        if not entry.is_geometry:
            continue
        tag, default_name = LS_CONTROL_OF_TYPE[entry.type]
        names = _ls_names(entry.schema_id)
        choices = [(names[0], names[1])] if names is not None and names[1] is not None else []
        choices.append((default_name, entry.title))
        for name, value in choices:
            if tags.setdefault(name, tag) != tag or value in values.setdefault(name, set()):
                continue
            values[name].add(value)
            placed[entry.id] = (tag, name, value)
            break
    return placed


def label_config_to_ls_xml(index: LabelConfigIndex, *, image_field: str = "image") -> str:
    """The project's configuration as a Label Studio labeling config (XML), for Label Studio's ML
    backends (`ml/`): what they parse to know the classes, and what our Label Studio reader maps
    their answers back through.

    Classes go to controls as `ls_class_controls` places them, so a backend written for the Label
    Studio config a project came from sees that config's names. Global questions become `Choices`
    / `TextArea` named by their Label Studio name or key (child questions by the key path
    `parent/child`); a class's questions become `perRegion` controls. Nested geometry classes
    have no Label Studio counterpart and are left out (the reader nests a region by `parentID`).
    """
    image = image_field or "image"
    root = ET.Element("View")
    ET.SubElement(root, "Image", name="image", value=f"${image}")
    controls: dict[str, ET.Element] = {}
    control_labels: dict[str, set[str]] = {}

    def control(name: str, tag: str, **attrs: str) -> ET.Element | None:
        found = controls.get(name)
        if found is None:
            found = controls[name] = ET.SubElement(root, tag, {"name": name, "toName": "image", **attrs})
            control_labels[name] = set()
        return found if found.tag == tag else None

    for entry_id, (tag, name, value) in ls_class_controls(index).items():
        element = control(name, tag)
        if element is None:
            continue
        entry = index.entries[entry_id]
        attrs = {"value": value}
        if entry.color:
            attrs["background"] = entry.color
        ET.SubElement(element, "Label", attrs)

    def question(entry: IndexedEntry, name: str, per_region: bool) -> None:
        extra = {"perRegion": "true"} if per_region else {}
        if entry.type == "freetext":
            control(name, "TextArea", **extra)
            return
        element = control(name, "Choices", choice="multiple" if entry.type == "checklist" else "single", **extra)
        if element is None:
            return
        for option in entry.options:
            if option.label not in control_labels[name]:
                control_labels[name].add(option.label)
                ET.SubElement(element, "Choice", value=option.label)

    def questions(entry: IndexedEntry, prefix: str, per_region: bool) -> None:
        names = _ls_names(entry.schema_id)
        name = names[0] if names is not None and not prefix else f"{prefix}{entry.key}"
        question(entry, name, per_region)
        for child in index.children_of(entry.id):
            if child.is_classification:
                questions(child, f"{name}/", per_region)

    for entry in index.roots.values():
        if entry.is_classification:
            questions(entry, "", per_region=False)
    for entry in index.roots.values():
        if entry.is_geometry:
            for child in index.children_of(entry.id):
                if child.is_classification:
                    questions(child, "", per_region=True)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


# --- Ango Hub category schema -------------------------------------------------------------

ANGO_TOOLS = {
    "bounding-box": "rectangle",
    "polygon": "polygon",
    "polyline": "line",
    "point": "point",
    "segmentation": "segmentation",
}
ANGO_CLASSIFICATIONS = {
    "radio": "select",
    "single-dropdown": "select",
    "checkbox": "checklist",
    "multi-dropdown": "checklist",
    "tree-dropdown": "select",
    "text": "freetext",
}


def ango_schema_text_to_entries(text: str) -> ConvertedConfig:
    """`ango_schema_to_entries` of a schema given as JSON text (the converter's `source`).

    The nesting is measured first: `json.loads` recurses once per level, and 100,000 `[` were a 500.
    """
    json_depth_check(text, path="source")
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(
            code="invalid_json",
            message=f"The category schema is not valid JSON: {exc}.",
            details=[ErrorDetail(path="source", code="invalid_json", message=str(exc))],
        ) from exc
    return ango_schema_to_entries(schema)


def ango_schema_to_entries(schema: Mapping[str, Any]) -> ConvertedConfig:
    """Our entry tree from an Ango category schema; schema ids (entries and options) verbatim."""
    if not isinstance(schema, Mapping):
        raise ValidationFailed(
            code="invalid_category_schema",
            message='An Ango category schema is an object {"tools": [...], "classifications": [...]}.',
        )
    warnings: list[ErrorDetail] = []
    entries: list[dict[str, Any]] = []
    root_keys: set[str] = set()
    for group, mapping in (("tools", ANGO_TOOLS), ("classifications", ANGO_CLASSIFICATIONS)):
        categories = schema.get(group) or []
        if not isinstance(categories, Sequence) or isinstance(categories, str):
            raise ValidationFailed(
                code="invalid_category_schema",
                message=f"{group!r} of a category schema must be a list.",
                details=[ErrorDetail(path=group, code="invalid_type", message="Give a list of categories.")],
            )
        for position, category in enumerate(categories):
            entry = _ango_category(category, mapping, f"{group}[{position}]", root_keys, warnings)
            if entry is not None:
                entries.append(entry)
    if schema.get("relations"):
        warnings.append(
            ErrorDetail("relations", "unsupported_relations", "Relations have no counterpart yet; they were left out.")
        )
    return ConvertedConfig(entries=entries, warnings=warnings)


def _ango_category(
    category: Any, mapping: dict[str, str], path: str, keys: set[str], warnings: list[ErrorDetail]
) -> dict[str, Any] | None:
    if not isinstance(category, Mapping):
        warnings.append(ErrorDetail(path, "invalid_category", "A category must be an object; left out."))
        return None
    tool = str(category.get("tool") or "")
    entry_type = mapping.get(tool) or ANGO_CLASSIFICATIONS.get(tool)
    title = str(category.get("title") or tool or "untitled")
    if entry_type is None:
        warnings.append(
            ErrorDetail(
                f"{path}.tool",
                "unsupported_tool",
                f"The {tool!r} category {title!r} has no counterpart; it was left out.",
            )
        )
        return None
    entry: dict[str, Any] = {
        "key": key_from_text(title, keys),
        "title": title[:128],
        "type": entry_type,
        "required": bool(category.get("required")),
        "color": str(category.get("color") or "")[:32],
    }
    if category.get("schemaId"):
        entry["schema_id"] = str(category["schemaId"])
    if entry_type == "freetext":
        entry["max_length"] = FREETEXT_MAX_LENGTH
    shortcut = str(category.get("shortcutKey") or "")
    if re.fullmatch(r"[0-9a-zA-Z]", shortcut):
        entry["shortcut"] = shortcut
    if entry_type in ("select", "checklist"):
        option_keys: set[str] = set()
        options = []
        for option in category.get("options") or []:
            if not isinstance(option, Mapping) or option.get("value") in (None, ""):
                continue
            value = str(option["value"])
            spec = {"key": key_from_text(value, option_keys), "label": value}
            if option.get("schemaId"):
                spec["schema_id"] = str(option["schemaId"])
            options.append(spec)
        entry["options"] = options
    child_keys: set[str] = set()
    children = []
    for position, child in enumerate(category.get("classifications") or []):
        converted = _ango_category(
            child, ANGO_CLASSIFICATIONS, f"{path}.classifications[{position}]", child_keys, warnings
        )
        if converted is not None:
            children.append(converted)
    entry["children"] = children
    return entry


# --- Labelbox ontology --------------------------------------------------------------------

LABELBOX_TOOLS = {
    "rectangle": "rectangle",
    "polygon": "polygon",
    "line": "line",
    "point": "point",
    "superpixel": "segmentation",
    "raster-segmentation": "segmentation",
}
LABELBOX_CLASSIFICATIONS = {"radio": "select", "dropdown": "select", "checklist": "checklist", "text": "freetext"}


def labelbox_ontology_text_to_entries(text: str) -> ConvertedConfig:
    """`labelbox_ontology_to_entries` of an ontology given as JSON text (the converter's `source`)."""
    json_depth_check(text, path="source")
    try:
        ontology = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(
            code="invalid_json",
            message=f"The Labelbox ontology is not valid JSON: {exc}.",
            details=[ErrorDetail(path="source", code="invalid_json", message=str(exc))],
        ) from exc
    return labelbox_ontology_to_entries(ontology)


def labelbox_ontology_to_entries(ontology: Any) -> ConvertedConfig:
    """Our entry tree from a Labelbox ontology; `featureSchemaId`s kept as schema ids."""
    if isinstance(ontology, Mapping) and isinstance(ontology.get("normalized"), Mapping):
        ontology = ontology["normalized"]  # the SDK's Ontology as an object: {"id", "name", "normalized"}
    if not isinstance(ontology, Mapping) or not ({"tools", "classifications"} & set(ontology)):
        raise ValidationFailed(
            code="invalid_labelbox_ontology",
            message='A Labelbox ontology is an object {"tools": [...], "classifications": [...]}.',
            details=[ErrorDetail("source", "invalid_type", "Paste the ontology JSON that Labelbox exports.")],
        )
    converter = _LabelboxOntology()
    root_keys: set[str] = set()
    for group, mapping in (("tools", LABELBOX_TOOLS), ("classifications", LABELBOX_CLASSIFICATIONS)):
        features = ontology.get(group) or []
        if not isinstance(features, Sequence) or isinstance(features, str):
            raise ValidationFailed(
                code="invalid_labelbox_ontology",
                message=f"{group!r} of a Labelbox ontology must be a list.",
                details=[ErrorDetail(f"/{group}", "invalid_type", "Give a list of features.")],
            )
        for position, feature in enumerate(features):
            entry = converter.feature(feature, mapping, f"/{group}/{position}", root_keys, None)
            if entry is not None:
                converter.entries.append(entry)
    for group in ("relationships", "relations"):
        if ontology.get(group):
            converter.warn(f"/{group}", "unsupported_relations", "Relationships have no counterpart; left out.")
    return ConvertedConfig(entries=converter.entries, warnings=converter.warnings)


class _LabelboxOntology:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.warnings: list[ErrorDetail] = []
        self.schema_ids: set[str] = set()

    def warn(self, path: str, code: str, message: str) -> None:
        self.warnings.append(ErrorDetail(path, code, message))

    def schema_id(self, node: Mapping[str, Any], path: str) -> str | None:
        """`featureSchemaId`; a feature schema used twice in the ontology (Labelbox lets a question be
        reused) keeps it once, the other places their `schemaNodeId` (our schema ids are unique)."""
        feature_id = node.get("featureSchemaId")
        node_id = node.get("schemaNodeId")
        for candidate in (feature_id, node_id):
            if not isinstance(candidate, str) or not 0 < len(candidate) <= SCHEMA_ID_MAX_LENGTH:
                continue
            if candidate not in self.schema_ids:
                self.schema_ids.add(candidate)
                if candidate != feature_id and isinstance(feature_id, str) and feature_id:
                    self.warn(
                        f"{path}/featureSchemaId",
                        "reused_feature_schema",
                        f"The feature schema {feature_id!r} is used twice; this place keeps its schemaNodeId "
                        f"{candidate!r}, so NDJSON lines reach it by name or by that id.",
                    )
                return candidate
        return None

    def feature(
        self,
        feature: Any,
        mapping: Mapping[str, str],
        path: str,
        keys: set[str] | None,
        tree_keys: set[str] | None,
    ) -> dict[str, Any] | None:
        if not isinstance(feature, Mapping):
            self.warn(path, "invalid_feature", "A feature must be an object; left out.")
            return None
        kind = str(feature.get("tool") or feature.get("type") or "")
        entry_type = mapping.get(kind)
        name = str(feature.get("name") or feature.get("instructions") or "").strip()
        if entry_type is None:
            self.warn(
                f"{path}/{'tool' if 'tool' in feature else 'type'}",
                "unsupported_tool",
                f"The {kind!r} feature {name!r} has no counterpart; it was left out.",
            )
            return None
        if not name:
            self.warn(f"{path}/name", "feature_without_name", "A feature without a name was left out.")
            return None
        # Keys are unique among the roots, and within a root's whole tree (`label_config_validate`).
        tree = tree_keys if tree_keys is not None else set()
        key = key_from_text(name, keys if tree_keys is None else tree)
        tree.add(key)
        entry: dict[str, Any] = {
            "key": key,
            "title": name[:128],
            "type": entry_type,
            "required": bool(feature.get("required")),
            "color": str(feature.get("color") or "")[:32],
        }
        schema_id = self.schema_id(feature, path)
        if schema_id is not None:
            entry["schema_id"] = schema_id
        if entry_type == "freetext":
            entry["max_length"] = FREETEXT_MAX_LENGTH
        children: list[dict[str, Any]] = []
        for position, child in enumerate(feature.get("classifications") or []):
            converted = self.feature(child, LABELBOX_CLASSIFICATIONS, f"{path}/classifications/{position}", None, tree)
            if converted is not None:
                children.append(converted)
        if entry_type in ("select", "checklist"):
            option_keys: set[str] = set()
            options = []
            for position, option in enumerate(feature.get("options") or []):
                option_path = f"{path}/options/{position}"
                if not isinstance(option, Mapping) or option.get("value") in (None, ""):
                    self.warn(option_path, "option_without_value", "An option without a value was left out.")
                    continue
                value = str(option["value"])
                spec = {"key": key_from_text(value, option_keys), "label": str(option.get("label") or value)[:128]}
                option_id = self.schema_id(option, option_path)
                if option_id is not None:
                    spec["schema_id"] = option_id
                options.append(spec)
                # Questions asked when this answer is chosen: children of the question (NDJSON
                # nests their answers under the chosen answer, and finds them there).
                for inner, child in enumerate(option.get("options") or []):
                    converted = self.feature(
                        child, LABELBOX_CLASSIFICATIONS, f"{option_path}/options/{inner}", None, tree
                    )
                    if converted is not None:
                        children.append(converted)
            entry["options"] = options
        entry["children"] = children
        return entry


__all__ = [
    "ConvertedConfig",
    "ango_schema_text_to_entries",
    "ango_schema_to_entries",
    "key_from_text",
    "labelbox_ontology_text_to_entries",
    "labelbox_ontology_to_entries",
    "ls_config_image_field",
    "ls_config_to_entries",
    "ls_schema_id",
]


# --- CVAT for images 1.1 ------------------------------------------------------------------

#: A CVAT label's `<type>` or a shape element's tag -> our geometry type ("tag": image-level).
CVAT_KINDS = {
    "rectangle": "rectangle",
    "box": "rectangle",
    "polygon": "polygon",
    "polyline": "line",
    "points": "point",
    "mask": "segmentation",
    "tag": "tag",
}
#: The schema id of the image-level checklist that holds CVAT's tags (one option per tag label).
CVAT_TAGS_SCHEMA_ID = "cvat:tags"


def cvat_schema_id(*parts: str) -> str:
    """The schema id we give an entry made from CVAT: `cvat:<label>:<type>[:<attribute>]`."""
    return ":".join(("cvat", *parts))[:SCHEMA_ID_MAX_LENGTH]


def cvat_label_of_schema_id(schema_id: str) -> str | None:
    """The CVAT label name an entry was made from (`cvat:<label>:<type>`), else None."""
    if not schema_id.startswith("cvat:") or schema_id == CVAT_TAGS_SCHEMA_ID or schema_id.startswith("cvat:tag:"):
        return None
    label, _, kind = schema_id[len("cvat:") :].rpartition(":")
    return label if label and kind in CVAT_KINDS.values() else None


@dataclass
class _CvatLabel:
    name: str
    color: str
    declared: str
    path: str
    attributes: list[ET.Element]
    kinds: list[str] = field(default_factory=list)
    occluded: set[str] = field(default_factory=set)


def _cvat_root(xml: str) -> ET.Element:
    if "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper():
        raise ValidationFailed(
            code="invalid_cvat_xml",
            message="The CVAT XML must not declare a DOCTYPE or entities; remove them.",
            details=[ErrorDetail(path="source", code="xml_doctype", message="Remove the <!DOCTYPE ...> declaration.")],
        )
    try:
        root = ET.fromstring(xml)  # noqa: S314 - no DOCTYPE, so no entity expansion
    except ET.ParseError as exc:
        line, column = exc.position
        raise ValidationFailed(
            code="invalid_cvat_xml",
            message=f"The CVAT XML is not valid XML at line {line}, column {column + 1}: {exc.msg}.",
            details=[ErrorDetail(path=f"line {line}, column {column + 1}", code="xml_syntax", message=str(exc.msg))],
        ) from exc
    if root.tag != "annotations":
        raise ValidationFailed(
            code="invalid_cvat_xml",
            message=f"A CVAT for images 1.1 file starts with <annotations>, not <{root.tag}>; paste annotations.xml.",
            details=[ErrorDetail(path="/", code="not_cvat", message="Paste the annotations.xml that CVAT exports.")],
        )
    return root


def _cvat_text(element: ET.Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def cvat_meta_to_entries(xml: str) -> ConvertedConfig:
    """Our entry tree from a CVAT for images 1.1 XML (`<meta>` and, for the kinds, its `<image>`s).

    A label becomes a geometry class of each kind its shapes in the file have (a label drawn as
    boxes and as polygons: `car` and `car_polygon`), else of its declared `<type>`; a label used
    as `<tag>` an option of the image-level checklist `tags`. Its attributes become child
    questions: select and radio a select, checkbox a select of `true`/`false`, text and number
    a free text. A class whose shapes are `occluded` in the file gets a select `occluded`.
    """
    root = _cvat_root(xml)
    warnings: list[ErrorDetail] = []
    labels: dict[str, _CvatLabel] = {}
    for position, element in enumerate(root.findall("./meta/*/labels/label")):
        name = _cvat_text(element, "name")
        path = f"/annotations/meta/labels/label[{position + 1}]"
        if not name:
            warnings.append(ErrorDetail(path, "label_without_name", "A <label> without a <name> was left out."))
            continue
        if _cvat_text(element, "parent"):
            warnings.append(
                ErrorDetail(path, "unsupported_skeleton", f"The skeleton point {name!r} has no counterpart; left out.")
            )
            continue
        labels.setdefault(
            name,
            _CvatLabel(
                name=name,
                color=_cvat_text(element, "color")[:32],
                declared=_cvat_text(element, "type") or "any",
                path=path,
                attributes=element.findall("./attributes/attribute"),
            ),
        )
    for image in root.iter("image"):
        for shape in image:
            kind = CVAT_KINDS.get(shape.tag) if shape.tag != "rectangle" else None
            name = shape.get("label") or ""
            if kind is None or name not in labels:
                continue
            if kind not in labels[name].kinds:
                labels[name].kinds.append(kind)
            if shape.get("occluded") == "1":
                labels[name].occluded.add(kind)
    entries: list[dict[str, Any]] = []
    root_keys: set[str] = set()
    tag_labels: list[_CvatLabel] = []
    for label in labels.values():
        kinds = list(label.kinds)
        declared = CVAT_KINDS.get(label.declared)
        if not kinds and declared is not None:
            kinds = [declared]
        elif declared is not None and declared in kinds:
            kinds.remove(declared)
            kinds.insert(0, declared)
        if not kinds:
            if label.declared in ("any", ""):
                kinds = ["rectangle"]
                warnings.append(
                    ErrorDetail(
                        label.path,
                        "label_kind_unknown",
                        f"The label {label.name!r} has no shapes in the file and no type; it became a rectangle "
                        "class (change its type in the editor if it is drawn otherwise).",
                    )
                )
            else:
                warnings.append(
                    ErrorDetail(
                        label.path,
                        "unsupported_label_type",
                        f"The {label.declared!r} label {label.name!r} has no counterpart; left out.",
                    )
                )
                continue
        geometry_kinds = [kind for kind in kinds if kind != "tag"]
        if "tag" in kinds:
            tag_labels.append(label)
        for number, kind in enumerate(geometry_kinds):
            first = number == 0
            entry: dict[str, Any] = {
                "key": key_from_text(label.name if first else f"{label.name}_{kind}", root_keys),
                "title": (label.name if first else f"{label.name} ({kind})")[:128],
                "type": kind,
                "schema_id": cvat_schema_id(label.name, kind),
                "color": label.color,
            }
            tree_keys = {entry["key"]}
            children = [
                _cvat_question(attribute, f"{label.path}/attributes/attribute[{i + 1}]", tree_keys, warnings, None)
                for i, attribute in enumerate(label.attributes)
            ]
            for child in children:
                child["schema_id"] = cvat_schema_id(label.name, kind, child["title"])
            if kind in label.occluded and "occluded" not in tree_keys:
                children.append(
                    {
                        "key": key_from_text("occluded", tree_keys),
                        "title": "occluded",
                        "type": "select",
                        "schema_id": cvat_schema_id(label.name, kind, "occluded"),
                        "options": [{"key": "true", "label": "true"}, {"key": "false", "label": "false"}],
                    }
                )
            entry["children"] = children
            entries.append(entry)
    if tag_labels:
        option_keys: set[str] = set()
        tags_key = key_from_text("tags", root_keys)
        tree_keys = {tags_key}
        children = []
        for label in tag_labels:
            for i, attribute in enumerate(label.attributes):
                question = _cvat_question(
                    attribute, f"{label.path}/attributes/attribute[{i + 1}]", tree_keys, warnings, label.name
                )
                question["schema_id"] = cvat_schema_id("tag", label.name, _cvat_text(attribute, "name"))
                children.append(question)
        entries.append(
            {
                "key": tags_key,
                "title": "Tags",
                "type": "checklist",
                "schema_id": CVAT_TAGS_SCHEMA_ID,
                "options": [
                    {
                        "key": key_from_text(label.name, option_keys),
                        "label": label.name[:128],
                        "schema_id": cvat_schema_id("tag", label.name),
                    }
                    for label in tag_labels
                ],
                "children": children,
            }
        )
    return ConvertedConfig(entries=entries, warnings=warnings)


def _cvat_question(
    attribute: ET.Element, path: str, tree_keys: set[str], warnings: list[ErrorDetail], tag: str | None
) -> dict[str, Any]:
    name = _cvat_text(attribute, "name") or "attribute"
    input_type = _cvat_text(attribute, "input_type").lower()
    key = key_from_text(f"{tag} {name}" if tag else name, tree_keys)
    question: dict[str, Any] = {"key": key, "title": (f"{tag}: {name}" if tag else name)[:128]}
    values = [line.strip() for line in (attribute.findtext("values") or "").splitlines() if line.strip()]
    if input_type in ("select", "radio"):
        option_keys: set[str] = set()
        question.update(
            type="select", options=[{"key": key_from_text(v, option_keys), "label": v[:128]} for v in values]
        )
    elif input_type == "checkbox":
        question.update(type="select", options=[{"key": "true", "label": "true"}, {"key": "false", "label": "false"}])
    else:
        question.update(type="freetext", max_length=FREETEXT_MAX_LENGTH)
        if input_type == "number":
            warnings.append(
                ErrorDetail(
                    f"{path}/input_type",
                    "number_as_text",
                    f"The number attribute {name!r} became a free text question (its range {'/'.join(values)} is "
                    "not checked); its values are kept as text.",
                )
            )
        elif input_type != "text":
            warnings.append(
                ErrorDetail(
                    f"{path}/input_type",
                    "unknown_input_type",
                    f"The attribute {name!r} has the input type {input_type!r}; it became a free text question.",
                )
            )
    return question
