"""The label configuration of a project: parse, validate, replace, read back, resolve.

A configuration is a forest of `LabelEntry` rows: geometries (label classes) and
classifications (questions), each with child questions and, for root geometries, nested
geometries. Two input forms are accepted, entry by entry (the keys tell which):

- Labelsite's own tree: `{"key", "title", "type", "schema_id"?, "color"?, "shortcut"?,
  "required"?, "rotatable"? (rectangles: the labeling page may turn their boxes), "max_length"?,
  "options"?: [{"key", "label", "schema_id"?}], "children"?}`;
  the output of `label_config_tree` is accepted as it is (its `id` is ignored).
- DataGym's entry list (PUT /api/v1/config): `{"entryKey", "entryValue", "type", "color"?,
  "shortcut"?, "required"?, "maxLength"?, "options"?: {key: label}, "children"?, "id"?}`;
  the output of `label_config_datagym_entries` is accepted too.

The rules are DataGym's (reference/datagym.md, section 3), with two differences of form:

- titles: an entry in DataGym's form keeps DataGym's `entryValue` rule (1-56 characters of
  its pattern); an entry in our form may have any printable title of 1-128 characters;
- free-text `max_length`: DataGym's form requires it (as DataGym does); our form defaults
  it to 255 when it is missing.

Keys are lower-cased before any uniqueness check, so `Car` and `car` at the root collide
(DataGym checks the raw keys and then stores both lower-cased). Segmentation counts as a
geometry for the nesting rule. Every error path is written in our field names, e.g.
`entries[2].children[0].key`, whichever form the entry came in.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from django.db import connection, transaction

from labelsite.errors import ErrorDetail, ValidationFailed
from projects.models import CLASSIFICATION_TYPES, GEOMETRY_TYPES, EntryType, LabelConfiguration, LabelEntry

EntryForm = Literal["labelsite", "datagym"]
FORM_LABELSITE: Final = "labelsite"
FORM_DATAGYM: Final = "datagym"

KEY_MAX_LENGTH = 56
KEY_PATTERN = r"^[a-zA-Z0-9_ -]*$"
DATAGYM_TITLE_MAX_LENGTH = 56
DATAGYM_TITLE_PATTERN = r"^[a-zA-Z0-9_ !@#$%^&*()?\-àâçéèêëîïôûùüÿñæœäöüß]*$"
TITLE_MAX_LENGTH = 128
SHORTCUT_PATTERN = r"^[0-9a-zA-Z]{1}$"
FREETEXT_MAX_LENGTH = 255
MAX_DEPTH = 4
COLOR_MAX_LENGTH = 32
SCHEMA_ID_MAX_LENGTH = 64

_KEY_RE = re.compile(r"[a-zA-Z0-9_ -]*")
_DATAGYM_TITLE_RE = re.compile(r"[a-zA-Z0-9_ !@#$%^&*()?\-àâçéèêëîïôûùüÿñæœäöüß]*")
_SHORTCUT_RE = re.compile(r"[0-9a-zA-Z]")

#: DataGym's list, verbatim and case-sensitive. Three of its items carry a stray comma
#: ("freetext,", "lcentryfreetext,", "lcentrytextvalue,"), so those words are allowed.
FORBIDDEN_KEYWORDS = frozenset(
    {
        "geometry", "geometry_type", "class_name",
        "classification", "classifications", "global_classifications", "classification_type",
        "tag", "status", "label", "labeler", "label_classes", "reviewer",
        "image", "imageId", "external_image_ID", "internal_image_ID",
        "media", "mediaId", "external_media_ID", "internal_media_ID",
        "lcentrypoint", "lcentryline", "lcentrypolygon", "lcentryrectangle",
        "point", "line", "polygon", "rectangle",
        "lcentrychecklist", "lcentryfreetext,", "lcentryradio", "lcentryselect",
        "checklist", "freetext,", "radio", "select",
        "lcentrypointvalue", "lcentrylinevalue", "lcentrypolygonvalue", "lcentryrectanglevalue",
        "lcentrychecklistvalue", "lcentrytextvalue,", "lcentryradiovalue", "lcentryselectvalue",
        "Dummy_Project", "Dummy_Dataset_One", "Dummy_Dataset_Two",
        "Intersections",
    }
)  # fmt: skip

_TYPE_ALIASES = {"image_segmentation": EntryType.SEGMENTATION.value}
_DATAGYM_TYPE_NAMES = {EntryType.SEGMENTATION.value: "IMAGE_SEGMENTATION"}
_CHOICE_TYPES = frozenset({EntryType.SELECT, EntryType.CHECKLIST})


# --- the parsed form ----------------------------------------------------------------------


@dataclass(frozen=True)
class OptionSpec:
    """One answer of a select or checklist question; `key` is what imports and exports use."""

    key: str
    label: str
    schema_id: str | None = None


@dataclass(frozen=True)
class EntrySpec:
    """One entry as the user sent it, before any rule is checked.

    `key` is kept as sent (the forbidden-keyword rule is case-sensitive); it is lower-cased
    when compared and when stored. `type` is lower-case, with DataGym's `image_segmentation`
    turned into `segmentation`; an unknown type is kept so that validation can name it.
    `form` says which input form the entry came in, since titles follow its rule.
    """

    key: str
    title: str
    type: str
    schema_id: str | None = None
    color: str = ""
    shortcut: str = ""
    required: bool = False
    rotatable: bool = False
    max_length: int | None = None
    options: tuple[OptionSpec, ...] = ()
    children: tuple[EntrySpec, ...] = ()
    form: EntryForm = FORM_LABELSITE


def label_config_parse(*, entries: Sequence[Mapping[str, Any]]) -> list[EntrySpec]:
    """Turn JSON entries of either form into `EntrySpec`s.

    Raises `ValidationFailed` listing every shape problem (a missing key, a wrong type,
    an unknown entry type) with its path; the rules of section 3 are left to
    `label_config_validate`.
    """
    specs, errors = _parse(entries)
    if errors:
        raise _invalid(errors)
    return specs


def _invalid(errors: list[ErrorDetail]) -> ValidationFailed:
    count = len(errors)
    return ValidationFailed(
        code="invalid_label_configuration",
        message=(
            f"The label configuration has {count} problem{'s' if count != 1 else ''}; "
            "fix each one listed in details and send the whole configuration again."
        ),
        details=errors,
    )


def _parse(entries: object) -> tuple[list[EntrySpec], list[ErrorDetail]]:
    errors: list[ErrorDetail] = []
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
        errors.append(
            ErrorDetail(path="entries", code="invalid_type", message="Send the entries as a JSON array of objects.")
        )
        return [], errors
    specs = [_parse_entry(raw, f"entries[{i}]", errors) for i, raw in enumerate(entries)]
    return specs, errors


def _parse_entry(raw: object, path: str, errors: list[ErrorDetail]) -> EntrySpec:
    if not isinstance(raw, Mapping):
        errors.append(
            ErrorDetail(
                path=path, code="invalid_type", message="Each entry must be a JSON object with a key and a type."
            )
        )
        # A placeholder keeps the positions (and so the paths) of the following entries.
        return EntrySpec(key="", title="", type="")
    datagym = "entryKey" in raw or "entryValue" in raw
    names = _DATAGYM_NAMES if datagym else _LABELSITE_NAMES
    form: EntryForm = FORM_DATAGYM if datagym else FORM_LABELSITE

    key = _text(raw, names["key"], f"{path}.key", errors, required=True)
    title = _text(raw, names["title"], f"{path}.title", errors, required=True)
    entry_type = _text(raw, "type", f"{path}.type", errors, required=True).lower()
    entry_type = _TYPE_ALIASES.get(entry_type, entry_type)
    if entry_type and entry_type not in EntryType.values:
        errors.append(_unknown_type(f"{path}.type", entry_type))
    schema_id = None
    if not datagym and raw.get("schema_id") is not None:
        schema_id = _text(raw, "schema_id", f"{path}.schema_id", errors, required=False)
    color = _text(raw, "color", f"{path}.color", errors, required=False)
    shortcut = _shortcut(raw.get("shortcut"), f"{path}.shortcut", errors)
    required = raw.get("required")
    if required is None:
        required = False
    elif not isinstance(required, bool):
        errors.append(_wrong_type(f"{path}.required", "true or false"))
        required = False
    rotatable = raw.get("rotatable")
    if rotatable is None:
        rotatable = False
    elif not isinstance(rotatable, bool):
        errors.append(_wrong_type(f"{path}.rotatable", "true or false"))
        rotatable = False
    max_length = raw.get(names["max_length"])
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)):
        errors.append(_wrong_type(f"{path}.max_length", "a whole number"))
        max_length = None
    if entry_type == EntryType.FREETEXT:
        if max_length is None and not datagym:
            max_length = FREETEXT_MAX_LENGTH
    else:
        max_length = None  # only free text has a length; DataGym sends null for the others
    options = _options(raw.get("options"), f"{path}.options", errors)
    children_raw = raw.get("children")
    children: tuple[EntrySpec, ...] = ()
    if children_raw is not None:
        if isinstance(children_raw, str | bytes) or not isinstance(children_raw, Sequence):
            errors.append(_wrong_type(f"{path}.children", "a list of entries"))
        else:
            children = tuple(
                _parse_entry(child, f"{path}.children[{i}]", errors) for i, child in enumerate(children_raw)
            )
    return EntrySpec(
        key=key,
        title=title,
        type=entry_type,
        schema_id=schema_id,
        color=color,
        shortcut=shortcut,
        required=required,
        rotatable=rotatable,
        max_length=max_length,
        options=options,
        children=children,
        form=form,
    )


_LABELSITE_NAMES = {"key": "key", "title": "title", "max_length": "max_length"}
_DATAGYM_NAMES = {"key": "entryKey", "title": "entryValue", "max_length": "maxLength"}


def _text(raw: Mapping[str, Any], name: str, path: str, errors: list[ErrorDetail], *, required: bool) -> str:
    value = raw.get(name)
    if value is None:
        if required:
            errors.append(ErrorDetail(path=path, code="required", message=f"Give the entry a {name!r}."))
        return ""
    if not isinstance(value, str):
        errors.append(_wrong_type(path, "a string"))
        return ""
    return value


def _shortcut(value: object, path: str, errors: list[ErrorDetail]) -> str:
    # DataGym's client sends an integer; the builder drops 0, and null means none.
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    errors.append(_wrong_type(path, "one digit 0-9 or letter a-z"))
    return ""


def _options(value: object, path: str, errors: list[ErrorDetail]) -> tuple[OptionSpec, ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):  # DataGym: {optionKey: optionLabel}, in order
        options = []
        for i, (key, label) in enumerate(value.items()):
            if not isinstance(label, str):
                errors.append(_wrong_type(f"{path}[{i}].label", "a string"))
                label = ""
            options.append(OptionSpec(key=str(key), label=label or str(key)))
        return tuple(options)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        errors.append(_wrong_type(path, 'a list of {"key", "label"} objects'))
        return ()
    parsed = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            errors.append(_wrong_type(f"{path}[{i}]", 'an object {"key", "label"}'))
            continue
        key = _text(item, "key", f"{path}[{i}].key", errors, required=True)
        label = _text(item, "label", f"{path}[{i}].label", errors, required=False) or key
        schema_id = None
        if item.get("schema_id") is not None:
            schema_id = _text(item, "schema_id", f"{path}[{i}].schema_id", errors, required=False)
        parsed.append(OptionSpec(key=key, label=label, schema_id=schema_id))
    return tuple(parsed)


def _wrong_type(path: str, expected: str) -> ErrorDetail:
    return ErrorDetail(path=path, code="invalid_type", message=f"This value must be {expected}.")


def _unknown_type(path: str, entry_type: str) -> ErrorDetail:
    allowed = ", ".join(EntryType.values)
    return ErrorDetail(
        path=path,
        code="unknown_type",
        message=f"Unknown entry type {entry_type!r}; use one of {allowed} (or image_segmentation).",
        params=("entry type",),
    )


# --- the rules ----------------------------------------------------------------------------


def label_config_validate(*, entries: Sequence[EntrySpec]) -> list[ErrorDetail]:
    """Every rule broken by the configuration, each with its path; [] when it is valid.

    Codes and DataGym params (for the DataGym facade): `key_length` / `title_length`
    (ex_size: field, max, min), `key_pattern` / `title_pattern` / `shortcut_pattern`
    (ex_pattern: field, flags, regexp), `duplicate_root_key` and `duplicate_key`
    ("Label entry", "entryKey:", key), `duplicate_shortcut` ("Shortcut", "value:", s),
    `forbidden_keyword` (key,), `unknown_type` ("entry type",), `geometry_nesting`
    (type as DataGym names it, lower-case, as its server sends it), `depth` (),
    `freetext_max_length` ("FREETEXT",) when missing or below 1, `freetext_max_length_range`
    (ex_max: "Max Length", "255") when above 255. Codes without a DataGym counterpart:
    `option_key_*`, `duplicate_option_key`, `options_not_allowed`, `duplicate_schema_id`,
    `schema_id_length`, `color_length`, `rotatable_type`.
    """
    checker = _Checker()
    root_keys: set[str] = set()
    for i, entry in enumerate(entries):
        path = f"entries[{i}]"
        lowered = entry.key.lower()
        if entry.key and lowered in root_keys:
            checker.add(
                f"{path}.key",
                "duplicate_root_key",
                f"Another root entry has the key {lowered!r} (keys are compared in lower case); rename one.",
                ("Label entry", "entryKey:", entry.key),
            )
        root_keys.add(lowered)
        checker.visit(entry, path, depth=1, parent=None, tree_keys=set())
    return checker.errors


@dataclass
class _Checker:
    errors: list[ErrorDetail] = field(default_factory=list)
    shortcuts: set[str] = field(default_factory=set)
    schema_ids: set[str] = field(default_factory=set)

    def add(self, path: str, code: str, message: str, params: tuple[Any, ...] = ()) -> None:
        self.errors.append(ErrorDetail(path=path, code=code, message=message, params=params))

    def visit(
        self, entry: EntrySpec, path: str, *, depth: int, parent: tuple[EntrySpec, int] | None, tree_keys: set[str]
    ) -> None:
        if depth == MAX_DEPTH + 1:
            self.add(
                path,
                "depth",
                f"The configuration is deeper than {MAX_DEPTH} levels (a root and three levels of children); "
                "move this entry higher up.",
            )
        self.check_key(entry, path, tree_keys)
        self.check_title(entry, path)
        self.check_type(entry, path, depth=depth, parent=parent)
        self.check_shortcut(entry, path)
        if len(entry.color) > COLOR_MAX_LENGTH:
            self.add(f"{path}.color", "color_length", f"Use a colour of at most {COLOR_MAX_LENGTH} characters.")
        self.check_schema_id(entry.schema_id, f"{path}.schema_id")
        self.check_max_length(entry, path)
        if entry.rotatable and entry.type != EntryType.RECTANGLE:
            self.add(
                f"{path}.rotatable",
                "rotatable_type",
                f"Only rectangle classes turn; remove rotatable from this {entry.type} or make it a rectangle.",
            )
        self.check_options(entry, path)
        for i, child in enumerate(entry.children):
            self.visit(child, f"{path}.children[{i}]", depth=depth + 1, parent=(entry, depth), tree_keys=tree_keys)

    def check_key(self, entry: EntrySpec, path: str, tree_keys: set[str]) -> None:
        key, key_path = entry.key, f"{path}.key"
        if not 1 <= len(key) <= KEY_MAX_LENGTH:
            self.add(
                key_path,
                "key_length",
                f"Give the entry a key of 1 to {KEY_MAX_LENGTH} characters.",
                ("Entry Key", str(KEY_MAX_LENGTH), "1"),
            )
        if not _KEY_RE.fullmatch(key):
            self.add(
                key_path,
                "key_pattern",
                "A key may hold only letters a-z and A-Z, digits, '_', '-' and spaces; remove the other characters.",
                ("Entry Key", "[]", KEY_PATTERN),
            )
        if key in FORBIDDEN_KEYWORDS:
            self.add(
                key_path,
                "forbidden_keyword",
                f"{key!r} is a reserved word of the import and export formats; choose another key.",
                (key,),
            )
        lowered = key.lower()
        if key and lowered in tree_keys:
            self.add(
                key_path,
                "duplicate_key",
                f"The key {lowered!r} is used twice in this root entry's tree (keys are compared in lower case); "
                "rename one.",
                ("Label entry", "entryKey:", key),
            )
        tree_keys.add(lowered)

    def check_title(self, entry: EntrySpec, path: str) -> None:
        title, title_path = entry.title, f"{path}.title"
        limit = DATAGYM_TITLE_MAX_LENGTH if entry.form == FORM_DATAGYM else TITLE_MAX_LENGTH
        if not 1 <= len(title) <= limit:
            self.add(
                title_path,
                "title_length",
                f"Give the entry a title of 1 to {limit} characters.",
                ("Entry Value", str(limit), "1"),
            )
        if entry.form == FORM_DATAGYM:
            if not _DATAGYM_TITLE_RE.fullmatch(title):
                self.add(
                    title_path,
                    "title_pattern",
                    "In DataGym's form a title (entryValue) may hold only letters, digits, spaces, "
                    "_ ! @ # $ % ^ & * ( ) ? - and common accented letters; remove the other characters.",
                    ("Entry Value", "[]", DATAGYM_TITLE_PATTERN),
                )
        elif title and (not title.isprintable() or not title.strip()):
            self.add(
                title_path,
                "title_pattern",
                "A title must be printable text that is not only spaces; remove control characters.",
                ("Entry Value",),
            )

    def check_type(self, entry: EntrySpec, path: str, *, depth: int, parent: tuple[EntrySpec, int] | None) -> None:
        if not entry.type:
            return  # reported as missing while parsing
        if entry.type not in EntryType.values:
            self.errors.append(_unknown_type(f"{path}.type", entry.type))
            return
        if entry.type in GEOMETRY_TYPES and parent is not None:
            parent_entry, parent_depth = parent
            if parent_entry.type not in GEOMETRY_TYPES or parent_depth != 1:
                name = _DATAGYM_TYPE_NAMES.get(entry.type, entry.type).lower()
                self.add(
                    f"{path}.type",
                    "geometry_nesting",
                    f"A {entry.type} may only be a root entry or a direct child of a root geometry; "
                    "move it there or make it a question (select, checklist, freetext).",
                    (name,),
                )

    def check_shortcut(self, entry: EntrySpec, path: str) -> None:
        shortcut = entry.shortcut
        if not shortcut:
            return
        if not _SHORTCUT_RE.fullmatch(shortcut):
            self.add(
                f"{path}.shortcut",
                "shortcut_pattern",
                "A shortcut is a single digit 0-9 or letter a-z; change it or leave it out.",
                ("Shortcut", "[]", SHORTCUT_PATTERN),
            )
        elif shortcut.lower() in self.shortcuts:
            self.add(
                f"{path}.shortcut",
                "duplicate_shortcut",
                f"The shortcut {shortcut} is taken by another entry; shortcuts are unique in the whole configuration.",
                ("Shortcut", "value:", shortcut),
            )
        # The page reads keys without case: "A" and "a" are one key.
        self.shortcuts.add(shortcut.lower())

    def check_schema_id(self, schema_id: str | None, path: str) -> None:
        if schema_id is None:
            return
        if not 1 <= len(schema_id) <= SCHEMA_ID_MAX_LENGTH:
            self.add(
                path,
                "schema_id_length",
                f"A schema id has 1 to {SCHEMA_ID_MAX_LENGTH} characters; shorten it or leave it out to get one.",
            )
        elif schema_id in self.schema_ids:
            self.add(
                path,
                "duplicate_schema_id",
                f"The schema id {schema_id!r} is used twice (entries and options share one set of schema ids); "
                "change one or leave it out to get a new one.",
            )
        self.schema_ids.add(schema_id)

    def check_max_length(self, entry: EntrySpec, path: str) -> None:
        if entry.type != EntryType.FREETEXT:
            return
        if entry.max_length is None or entry.max_length < 1:
            self.add(
                f"{path}.max_length",
                "freetext_max_length",
                f"A freetext question needs a maximum length (maxLength) from 1 to {FREETEXT_MAX_LENGTH}; add one.",
                ("FREETEXT",),
            )
        elif entry.max_length > FREETEXT_MAX_LENGTH:
            self.add(
                f"{path}.max_length",
                "freetext_max_length_range",
                f"A freetext question's maximum length is at most {FREETEXT_MAX_LENGTH}; lower it.",
                ("Max Length", str(FREETEXT_MAX_LENGTH)),
            )

    def check_options(self, entry: EntrySpec, path: str) -> None:
        if not entry.options:
            return
        if entry.type not in _CHOICE_TYPES:
            if entry.type in EntryType.values:
                self.add(
                    f"{path}.options",
                    "options_not_allowed",
                    f"Only select and checklist questions have options; a {entry.type} has none, so leave them out.",
                )
            return
        seen: set[str] = set()
        for i, option in enumerate(entry.options):
            option_path = f"{path}.options[{i}]"
            if not option.key:
                self.add(f"{option_path}.key", "option_key_required", "Give every option a key.")
            elif len(option.key) > KEY_MAX_LENGTH:
                self.add(
                    f"{option_path}.key",
                    "option_key_length",
                    f"An option key has at most {KEY_MAX_LENGTH} characters; shorten it.",
                )
            if option.key and not _KEY_RE.fullmatch(option.key):
                self.add(
                    f"{option_path}.key",
                    "option_key_pattern",
                    "An option key may hold only letters a-z and A-Z, digits, '_', '-' and spaces; "
                    "remove the other characters.",
                )
            if option.key and option.key in seen:
                self.add(
                    f"{option_path}.key",
                    "duplicate_option_key",
                    f"The option key {option.key!r} is used twice in this question; rename one.",
                )
            seen.add(option.key)
            self.check_schema_id(option.schema_id, f"{option_path}.schema_id")


# --- writes -------------------------------------------------------------------------------


def label_config_replace(
    *, configuration: LabelConfiguration, entries: Sequence[Mapping[str, Any]]
) -> LabelConfiguration:
    """Replace the whole configuration with `entries`, or change nothing and say why.

    Any shape or rule problem raises `ValidationFailed("invalid_label_configuration")` with
    every problem in `details`; nothing is written then. Otherwise, in one transaction, the
    old entries are deleted and the new ones inserted in bulk (one insert per tree level):
    keys lower-cased, positions in the given order, schema ids kept as given or generated
    (entries and options alike).

    Deleting the old entries deletes every label drawn with them (Label.entry cascades):
    that is DataGym's DELETE-then-PUT semantics, and what this function does even for an
    entry that comes back with the same key. Moving tasks to "waiting (changed)" is the
    labeling app's business, not this function's.
    """
    specs, errors = _parse(entries)
    # A shape error already explains its place; the rules would only repeat it.
    shape_paths = [detail.path for detail in errors]
    errors.extend(
        detail
        for detail in label_config_validate(entries=specs)
        if detail not in errors and not any(_is_within(detail.path, path) for path in shape_paths)
    )
    if errors:
        raise _invalid(errors)
    with transaction.atomic():
        # Serialise concurrent replaces of the same configuration.
        LabelConfiguration.objects.select_for_update().filter(pk=configuration.pk).values_list("pk").get()
        LabelEntry.objects.filter(configuration=configuration).delete()
        level: list[tuple[EntrySpec, LabelEntry | None, int]] = [
            (spec, None, position) for position, spec in enumerate(specs)
        ]
        while level:
            rows: list[LabelEntry] = []
            next_level: list[tuple[EntrySpec, LabelEntry | None, int]] = []
            for spec, parent, position in level:
                row = _entry_row(spec, configuration=configuration, parent=parent, position=position)
                rows.append(row)
                next_level.extend((child, row, i) for i, child in enumerate(spec.children))
            LabelEntry.objects.bulk_create(rows, batch_size=500)
            level = next_level
        configuration.save(update_fields=["updated_at"])
    return configuration


def _is_within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def _entry_row(
    spec: EntrySpec, *, configuration: LabelConfiguration, parent: LabelEntry | None, position: int
) -> LabelEntry:
    return LabelEntry(
        id=uuid.uuid4(),
        configuration=configuration,
        parent=parent,
        position=position,
        key=spec.key.lower(),
        title=spec.title,
        type=spec.type,
        schema_id=spec.schema_id or str(uuid.uuid4()),
        color=spec.color,
        shortcut=spec.shortcut,
        required=spec.required,
        rotatable=spec.rotatable and spec.type == EntryType.RECTANGLE,
        max_length=spec.max_length if spec.type == EntryType.FREETEXT else None,
        options=[
            {"key": option.key, "label": option.label, "schema_id": option.schema_id or str(uuid.uuid4())}
            for option in spec.options
        ],
    )


def label_config_hold(*, project_id: Any) -> datetime | None:
    """Keep the project's configuration as it is until the transaction ends; its `updated_at`.

    Labels name their class without a database constraint (see `Label.entry`), so every writer
    of labels calls this in its transaction and checks the stamp against the configuration it
    resolved classes with: a replace or a clear (which delete entries, holding the row FOR
    UPDATE) then waits for the writer, and a writer that comes after one sees a new stamp.
    PostgreSQL: FOR KEY SHARE, which writers hold together; SQLite serialises write
    transactions anyway. None when the project has no configuration.
    """
    if connection.vendor != "postgresql":
        return LabelConfiguration.objects.filter(project_id=project_id).values_list("updated_at", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT updated_at FROM {LabelConfiguration._meta.db_table} WHERE project_id = %s FOR KEY SHARE",  # noqa: S608
            [project_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def label_configs_lock(*, project_ids: Iterable[Any]) -> None:
    """Before the projects' tasks go (a deletion): wait for every writer of labels that holds one
    of their configurations (`label_config_hold`), and keep later ones waiting until the caller's
    transaction ends, FOR UPDATE as a replace takes it. Labels have no foreign key to their task
    (see `Label.task`): this is what keeps a label from being written to a task being deleted,
    as the writer after the deletion finds the configuration or the task gone. SQLite serialises write
    transactions anyway (IMMEDIATE)."""
    ids = sorted({str(pk) for pk in project_ids})  # one order for every deleter: no deadlock between them
    if ids:
        list(
            LabelConfiguration.objects.select_for_update()
            .filter(project_id__in=ids)
            .order_by("project_id")
            .values_list("pk")
        )


def label_config_clear(*, configuration: LabelConfiguration) -> None:
    """Delete every entry, and with them every label drawn with them (DataGym DELETE #13)."""
    with transaction.atomic():
        # FOR UPDATE, as a replace: label writers hold the row FOR KEY SHARE (`label_config_hold`),
        # and the UPDATE of the stamp below alone would not wait for them.
        LabelConfiguration.objects.select_for_update().filter(pk=configuration.pk).values_list("pk").get()
        LabelEntry.objects.filter(configuration=configuration).delete()
        configuration.save(update_fields=["updated_at"])


def label_config_is_empty(*, configuration: LabelConfiguration) -> bool:
    return not LabelEntry.objects.filter(configuration=configuration).exists()


def label_config_entries_missing(*, project_id: Any, entry_ids: Iterable[str]) -> set[str]:
    """Those of `entry_ids` that are not (or no longer) entries of the project's configuration, in one query."""
    wanted = set(entry_ids)
    if not wanted:
        return set()
    found = LabelEntry.objects.filter(configuration__project_id=project_id, id__in=wanted).values_list("id", flat=True)
    return wanted - {str(entry_id) for entry_id in found}


# --- reads --------------------------------------------------------------------------------


def _entries_by_parent(configuration: LabelConfiguration) -> dict[Any, list[LabelEntry]]:
    """All entries in one query, grouped by parent id (None for the roots), in order."""
    by_parent: dict[Any, list[LabelEntry]] = defaultdict(list)
    for entry in LabelEntry.objects.filter(configuration=configuration).order_by("position", "created_at", "id"):
        by_parent[entry.parent_id].append(entry)
    return by_parent


def label_config_tree(*, configuration: LabelConfiguration) -> list[dict[str, Any]]:
    """The configuration as our nested JSON tree; `label_config_replace` accepts it back."""
    by_parent = _entries_by_parent(configuration)

    def node(entry: LabelEntry) -> dict[str, Any]:
        return {
            "id": str(entry.id),
            "key": entry.key,
            "title": entry.title,
            "type": entry.type,
            "schema_id": entry.schema_id,
            "color": entry.color,
            "shortcut": entry.shortcut,
            "required": entry.required,
            "rotatable": entry.rotatable,
            "max_length": entry.max_length,
            "options": [dict(option) for option in entry.options],
            "children": [node(child) for child in by_parent.get(entry.id, [])],
        }

    return [node(entry) for entry in by_parent.get(None, [])]


def label_config_datagym_entries(*, configuration: LabelConfiguration) -> list[dict[str, Any]]:
    """The `entries` of DataGym's PUT response (section 3.4), in one query."""
    by_parent = _entries_by_parent(configuration)

    def node(entry: LabelEntry) -> dict[str, Any]:
        return {
            "id": str(entry.id),
            "lcEntryParentId": str(entry.parent_id) if entry.parent_id else None,
            "entryKey": entry.key,
            "entryValue": entry.title,
            "type": _DATAGYM_TYPE_NAMES.get(entry.type, entry.type).upper(),
            "color": entry.color or None,
            "shortcut": entry.shortcut or None,
            "timestamp": int(entry.created_at.timestamp() * 1000),
            "maxLength": entry.max_length,
            "required": entry.required,
            "options": {option["key"]: option["label"] for option in entry.options},
            "children": [node(child) for child in by_parent.get(entry.id, [])],
        }

    return [node(entry) for entry in by_parent.get(None, [])]


@dataclass(frozen=True)
class IndexedEntry:
    """A read-only copy of one entry, for resolving imported items without queries."""

    id: str
    parent_id: str | None
    key: str
    title: str
    type: str
    schema_id: str
    required: bool
    max_length: int | None
    options: tuple[OptionSpec, ...]
    child_ids: tuple[str, ...]
    #: A rectangle class whose boxes the labeling page may turn.
    rotatable: bool = False
    #: The configured colour (`#rrggbb` or a CSS name), "" when none.
    color: str = ""

    @property
    def is_geometry(self) -> bool:
        return self.type in GEOMETRY_TYPES

    @property
    def is_classification(self) -> bool:
        return self.type in CLASSIFICATION_TYPES

    @property
    def option_keys(self) -> tuple[str, ...]:
        return tuple(option.key for option in self.options)


@dataclass(frozen=True)
class LabelConfigIndex:
    """The configuration as plain dicts: build it once per import job, then look up freely.

    - `entries`: entry id (str) -> entry;
    - `roots`: key -> root entry, in configuration order;
    - `children`: (parent id, key) -> child entry;
    - `by_schema_id`: schema id -> entry;
    - `options_by_schema_id`: option schema id -> (entry id, option key).

    Keys are stored lower-case: lower-case an incoming key before looking it up if the
    format is case-insensitive. Ids are strings, so the index pickles and compares simply.
    """

    entries: dict[str, IndexedEntry]
    roots: dict[str, IndexedEntry]
    children: dict[tuple[str, str], IndexedEntry]
    by_schema_id: dict[str, IndexedEntry]
    options_by_schema_id: dict[str, tuple[str, str]]

    def root(self, key: str) -> IndexedEntry | None:
        return self.roots.get(key)

    def child(self, parent_id: str, key: str) -> IndexedEntry | None:
        return self.children.get((parent_id, key))

    def children_of(self, entry_id: str) -> Iterator[IndexedEntry]:
        return (self.entries[child_id] for child_id in self.entries[entry_id].child_ids)


def label_config_index(*, configuration: LabelConfiguration) -> LabelConfigIndex:
    """Build the resolver of `configuration` with one query."""
    by_parent = _entries_by_parent(configuration)
    entries: dict[str, IndexedEntry] = {}
    roots: dict[str, IndexedEntry] = {}
    children: dict[tuple[str, str], IndexedEntry] = {}
    by_schema_id: dict[str, IndexedEntry] = {}
    options_by_schema_id: dict[str, tuple[str, str]] = {}
    for parent_id, rows in by_parent.items():
        for row in rows:
            entry = IndexedEntry(
                id=str(row.id),
                parent_id=str(parent_id) if parent_id else None,
                key=row.key,
                title=row.title,
                type=row.type,
                schema_id=row.schema_id,
                required=row.required,
                max_length=row.max_length,
                options=tuple(
                    OptionSpec(key=o["key"], label=o.get("label", o["key"]), schema_id=o.get("schema_id"))
                    for o in row.options
                ),
                child_ids=tuple(str(child.id) for child in by_parent.get(row.id, [])),
                color=row.color,
                rotatable=row.rotatable,
            )
            entries[entry.id] = entry
            if entry.parent_id is None:
                roots[entry.key] = entry
            else:
                children[(entry.parent_id, entry.key)] = entry
            by_schema_id[entry.schema_id] = entry
            for option in entry.options:
                if option.schema_id:
                    options_by_schema_id[option.schema_id] = (entry.id, option.key)
    # The roots in configuration order (by_parent's groups come in query order, not tree order).
    ordered_roots = {row.key: roots[row.key] for row in by_parent.get(None, [])}
    return LabelConfigIndex(
        entries=entries,
        roots=ordered_roots,
        children=children,
        by_schema_id=by_schema_id,
        options_by_schema_id=options_by_schema_id,
    )
