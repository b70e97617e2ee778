"""Projects configured the way users of Label Studio, Labelbox and Ango set them up."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from formats.reading import RawItem
from projects.config_converters import ango_schema_to_entries, ls_config_to_entries
from projects.label_config import label_config_index, label_config_replace
from tests.factories import DatasetFactory, MediaFactory, TaskFactory

LS_CONFIG_XML = """
<View>
  <Image name="image" value="$image" zoom="true"/>
  <RectangleLabels name="label" toName="image">
    <Label value="Car" background="#f44336" hotkey="1"/>
    <Label value="Traffic light" background="#03a9f4"/>
  </RectangleLabels>
  <PolygonLabels name="outline" toName="image">
    <Label value="Road"/>
  </PolygonLabels>
  <KeyPointLabels name="kp" toName="image">
    <Label value="Head"/>
  </KeyPointLabels>
  <BrushLabels name="brush" toName="image">
    <Label value="Sky"/>
  </BrushLabels>
  <Choices name="weather" toName="image" choice="single">
    <Choice value="Sunny"/>
    <Choice value="Rainy day"/>
  </Choices>
  <Choices name="tags" toName="image" choice="multiple">
    <Choice value="blurry"/>
    <Choice value="night"/>
  </Choices>
  <TextArea name="comment" toName="image"/>
  <Choices name="occluded" toName="image" perRegion="true">
    <Choice value="yes"/>
    <Choice value="no"/>
  </Choices>
</View>
"""

#: The seed's Ango category schema for segmentation with classifications (seed 004).
ANGO_SCHEMA: dict[str, Any] = {
    "tools": [
        {"title": "Car", "tool": "segmentation", "schemaId": "f104b6b9cdb84966812b002", "color": "#f44336",
         "classifications": [], "shortcutKey": "4"},
        {"title": "Person", "tool": "segmentation", "schemaId": "c6faa323be0cbb84634f566", "color": "#03a9f4",
         "classifications": [], "shortcutKey": "5"},
        {"title": "Other", "tool": "segmentation", "schemaId": "b34867a913e35379d100997", "color": "#9c27b0",
         "classifications": [], "shortcutKey": "6"},
        {"title": "Sign", "tool": "bounding-box", "schemaId": "a1", "color": "#00ff00", "classifications": [
            {"title": "Shape", "tool": "radio", "schemaId": "a1-shape", "options": [
                {"value": "Round", "schemaId": "a1-round"}, {"value": "Square", "schemaId": "a1-square"}]},
        ]},
        {"title": "Lane", "tool": "polygon", "schemaId": "a2", "color": "#ffff00", "classifications": []},
    ],
    "classifications": [
        {"title": "Color", "tool": "text", "schemaId": "8c481a58f4c68e5db0a5016", "classifications": [],
         "options": [], "shortcutKey": "1"},
        {"title": "Type", "tool": "radio", "schemaId": "12a20f8061c044bcff26688", "classifications": [],
         "options": [{"value": "A", "schemaId": "0ab9ff484461bb8d5952369"},
                     {"value": "B", "schemaId": "23b5e8770c797a9ad036777"},
                     {"value": "C", "schemaId": "64989cbf9f9ddd38b882118"}], "shortcutKey": "2"},
        {"title": "Question", "tool": "checkbox", "schemaId": "1976d3fc0fa1429e23f7171", "classifications": [],
         "options": [{"value": "Option1", "schemaId": "1c00ef1ec8bca05c3550770"},
                     {"value": "Option2", "schemaId": "b90770265328965f1f7c070"}], "shortcutKey": "3"},
    ],
    "relations": [],
}  # fmt: skip


@pytest.fixture
def ls_project(project):
    label_config_replace(configuration=project.label_configuration, entries=ls_config_to_entries(LS_CONFIG_XML).entries)
    return project


@pytest.fixture
def ls_config(ls_project):
    return label_config_index(configuration=ls_project.label_configuration)


@pytest.fixture
def ango_project(project):
    label_config_replace(configuration=project.label_configuration, entries=ango_schema_to_entries(ANGO_SCHEMA).entries)
    return project


@pytest.fixture
def ango_config(ango_project):
    return label_config_index(configuration=ango_project.label_configuration)


@pytest.fixture
def make_task():
    def make(project, **media_fields: Any):
        dataset: Any = project.datasets.first() or DatasetFactory(organization=project.organization)
        dataset.projects.add(project)
        media = MediaFactory(dataset=dataset, **media_fields)
        return TaskFactory(project=project, media=media)

    return make


def as_file(content: Any) -> io.BytesIO:
    if isinstance(content, bytes):
        return io.BytesIO(content)
    if isinstance(content, str):
        return io.BytesIO(content.encode())
    return io.BytesIO(json.dumps(content).encode())


def read_all(fmt, content: Any, **options: Any) -> list[RawItem]:
    return list(fmt.items(as_file(content), options=options))
