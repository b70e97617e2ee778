"""Reads of the labeling app."""

from __future__ import annotations

from typing import Any

from labeling.models import Label, Task


def label_as_json(label: Label, *, key: str, entry_type: str) -> dict[str, Any]:
    return {
        "id": label.id,
        "key": key,
        "type": entry_type,
        "points": label.points,
        "answers": label.answers,
        "source": label.source,
        "score": label.score,
        "model_version": label.model_version,
        "valid": label.valid,
        "children": [],
    }


def task_annotation_get(*, task: Task) -> dict[str, Any]:
    """The task's whole annotation as one document (see labeling/documents.py), one query."""
    rows = (
        Label.objects.filter(task=task)
        .select_related("entry")
        .only(
            "id",
            "parent_id",
            "points",
            "answers",
            "source",
            "score",
            "model_version",
            "valid",
            "entry__key",
            "entry__type",
        )
        .order_by("id")
    )
    by_id: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    children: list[tuple[int, dict[str, Any]]] = []
    for label in rows:
        node = label_as_json(label, key=label.entry.key, entry_type=label.entry.type)
        by_id[label.id] = node
        if label.parent_id is None:
            roots.append(node)
        else:
            children.append((label.parent_id, node))
    for parent_id, node in children:
        parent = by_id.get(parent_id)
        (parent["children"] if parent is not None else roots).append(node)
    return {
        "task": str(task.id),
        "version": task.version,
        "state": task.state,
        "answers": task.answers,
        "labels": roots,
    }
