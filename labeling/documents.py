"""A task's whole annotation as one JSON document, checked against its configuration.

The labeling page and the native API read and write this document:

    {"version": 3,
     "answers": {"weather": {"value": "sunny", "answers": {"daytime": {"value": "day"}}}},
     "labels": [{"id": 17, "key": "car", "type": "polygon", "points": [[57, 412], ...], "rotation": 0.0,
                 "answers": {"car_type": {"value": "suv"}}, "source": "manual",
                 "score": null, "model_version": "", "valid": true,
                 "children": [{"key": "wheel", "type": "point", "points": [[60, 500]], ...}]}]}

The checks here are pure (no queries): they take the configuration's index, built once.
"""

from __future__ import annotations

from typing import Any

from labeling.geometry import points_problems, rotation_problems
from labelsite.errors import ErrorDetail
from projects.label_config import IndexedEntry, LabelConfigIndex

SOURCES = {"manual", "import", "prediction"}


def answers_problems(
    tree: Any, *, index: LabelConfigIndex, parent: IndexedEntry | None, path: str
) -> list[ErrorDetail]:
    """Problems of an answer tree whose questions are the children of `parent` (or roots)."""
    if tree is None:
        return []
    if not isinstance(tree, dict):
        return [ErrorDetail(path=path, code="invalid", message="answers must be an object keyed by question key")]
    problems: list[ErrorDetail] = []
    for key, node in tree.items():
        here = f"{path}.{key}"
        entry = index.child(parent.id, key) if parent is not None else index.root(key)
        if entry is None or not entry.is_classification:
            where = f"under {parent.key!r}" if parent is not None else "at the top level"
            problems.append(
                ErrorDetail(
                    path=here,
                    code="unknown_question",
                    message=f"There is no question {key!r} {where} in the label configuration.",
                    params=(key,),
                )
            )
            continue
        if not isinstance(node, dict):
            message = 'an answer is {"value": ..., "answers": {...}}'
            problems.append(ErrorDetail(path=here, code="invalid", message=message))
            continue
        problems.extend(_value_problems(entry, node.get("value"), f"{here}.value"))
        problems.extend(answers_problems(node.get("answers"), index=index, parent=entry, path=f"{here}.answers"))
    return problems


def _value_problems(entry: IndexedEntry, value: Any, path: str) -> list[ErrorDetail]:
    options = entry.option_keys
    if entry.type == "select":
        if value is not None and (not isinstance(value, str) or value not in options):
            return [ErrorDetail(path=path, code="unknown_option", message=f"Choose one of {list(options)}.")]
    elif entry.type == "checklist":
        if not isinstance(value, list) or any(v not in options for v in value):
            return [ErrorDetail(path=path, code="unknown_option", message=f"Check any of {list(options)}.")]
    elif entry.type == "freetext":
        if value is not None and not isinstance(value, str):
            return [ErrorDetail(path=path, code="invalid", message="A free-text answer is a string.")]
        if isinstance(value, str) and entry.max_length and len(value) > entry.max_length:
            return [
                ErrorDetail(
                    path=path,
                    code="too_long",
                    message=f"The answer has {len(value)} characters; {entry.max_length} at most.",
                )
            ]
    return []


def labels_problems(
    labels: Any, *, index: LabelConfigIndex, parent: IndexedEntry | None, path: str
) -> list[ErrorDetail]:
    if not isinstance(labels, list):
        return [ErrorDetail(path=path, code="invalid", message="labels must be a list")]
    problems: list[ErrorDetail] = []
    for position, label in enumerate(labels):
        here = f"{path}[{position}]"
        if not isinstance(label, dict):
            problems.append(ErrorDetail(path=here, code="invalid", message="a label is an object"))
            continue
        key = label.get("key")
        entry = (
            (index.child(parent.id, key) if parent is not None else index.root(key)) if isinstance(key, str) else None
        )
        if entry is None or not entry.is_geometry:
            where = f"inside {parent.key!r}" if parent is not None else "at the top level"
            problems.append(
                ErrorDetail(
                    path=f"{here}.key",
                    code="unknown_class",
                    message=f"There is no geometry class {key!r} {where} in the label configuration.",
                    params=(key,),
                )
            )
            continue
        if label.get("type", entry.type) != entry.type:
            problems.append(
                ErrorDetail(
                    path=f"{here}.type",
                    code="type_mismatch",
                    message=f"Class {entry.key!r} is a {entry.type}, not a {label.get('type')}.",
                )
            )
        problems.extend(
            ErrorDetail(path=f"{here}.points", code="invalid_points", message=message)
            for message in points_problems(entry.type, label.get("points"))
        )
        problems.extend(
            ErrorDetail(path=f"{here}.rotation", code="invalid_rotation", message=message)
            for message in rotation_problems(entry.type, label.get("rotation"))
        )
        if label.get("source", "manual") not in SOURCES:
            problems.append(ErrorDetail(path=f"{here}.source", code="invalid", message=f"One of {sorted(SOURCES)}."))
        problems.extend(answers_problems(label.get("answers"), index=index, parent=entry, path=f"{here}.answers"))
        children = label.get("children") or []
        if children and parent is not None:
            problems.append(
                ErrorDetail(path=f"{here}.children", code="too_deep", message="Nested geometries nest one level only.")
            )
        else:
            problems.extend(labels_problems(children, index=index, parent=entry, path=f"{here}.children"))
    return problems


def document_problems(document: Any, *, index: LabelConfigIndex) -> list[ErrorDetail]:
    """Every problem of a task annotation document, each with its path."""
    if not isinstance(document, dict):
        return [ErrorDetail(path="", code="invalid", message='send {"answers": {...}, "labels": [...]}')]
    return answers_problems(document.get("answers") or {}, index=index, parent=None, path="answers") + labels_problems(
        document.get("labels") or [], index=index, parent=None, path="labels"
    )


def required_problems(document: dict[str, Any], *, index: LabelConfigIndex) -> list[ErrorDetail]:
    """Required questions left unanswered: these block completing a task."""
    problems: list[ErrorDetail] = []

    def answered(node: Any) -> bool:
        value = node.get("value") if isinstance(node, dict) else None
        return value not in (None, "", [])

    def check(questions: list[IndexedEntry], tree: dict[str, Any], path: str, where: str) -> None:
        for question in questions:
            node = tree.get(question.key) or {}
            if question.required and not answered(node):
                problems.append(
                    ErrorDetail(
                        path=f"{path}.{question.key}",
                        code="required",
                        message=f"Answer the required question {question.title!r}{where}.",
                    )
                )
            children = [c for c in index.children_of(question.id) if c.is_classification]
            check(children, node.get("answers") or {}, f"{path}.{question.key}.answers", where)

    check([e for e in index.roots.values() if e.is_classification], document.get("answers") or {}, "answers", "")

    def walk(labels: list[dict[str, Any]], parent: IndexedEntry | None, path: str) -> None:
        for position, label in enumerate(labels):
            key = str(label.get("key", ""))
            entry = index.child(parent.id, key) if parent is not None else index.root(key)
            if entry is None:
                continue
            questions = [c for c in index.children_of(entry.id) if c.is_classification]
            check(questions, label.get("answers") or {}, f"{path}[{position}].answers", f" of {entry.title!r}")
            walk(label.get("children") or [], entry, f"{path}[{position}].children")

    walk(document.get("labels") or [], None, "labels")
    return problems
