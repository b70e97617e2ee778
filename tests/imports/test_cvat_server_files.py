"""CVAT for images 1.1 as the CVAT server writes it (cvat/apps/dataset_manager/formats/cvat.py):
typed labels under `<meta><project>`, attributes with input types, masks cropped to
`left/top/width/height`, a label drawn as boxes and as polygons, tags. The CVAT server is not on
PyPI, so this file is written here in its shape; datumaro's files are in `test_cvat_imports`."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from formats import format_detect
from formats.codecs.mask_polygons import segmentation_mask
from formats.cvat import mask_rle, rle_mask, rotated_box_corners
from labeling.models import Label, Task
from projects.config_converters import cvat_meta_to_entries
from projects.label_config import label_config_replace
from tests.imports.test_cvat_imports import import_run, labels_of, media

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_import(admin_client, media_storage, eager_worker, django_capture_on_commit_callbacks):
    return lambda project, name, body: import_run(admin_client, django_capture_on_commit_callbacks, project, name, body)


MASK = np.zeros((4, 5), dtype=bool)
MASK[1:3, 1:4] = True  # 3 x 2 pixels, inside a 5 x 4 box at (20, 10)
SERVER_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <project>
      <id>3</id><name>streets</name>
      <labels>
        <label>
          <name>car</name><color>#ff0000</color><type>any</type>
          <attributes>
            <attribute><name>kind</name><mutable>False</mutable><input_type>select</input_type>
              <default_value>suv</default_value><values>suv
van</values></attribute>
            <attribute><name>parked</name><mutable>False</mutable><input_type>checkbox</input_type>
              <default_value>false</default_value><values>false</values></attribute>
            <attribute><name>speed</name><mutable>False</mutable><input_type>number</input_type>
              <default_value>0</default_value><values>0
200
1</values></attribute>
          </attributes>
        </label>
        <label><name>puddle</name><color>#0000ff</color><type>mask</type><attributes/></label>
        <label><name>night</name><color>#000000</color><type>tag</type><attributes>
            <attribute><name>moon</name><mutable>False</mutable><input_type>radio</input_type>
              <default_value>full</default_value><values>full
new</values></attribute></attributes></label>
        <label><name>unused</name><color>#00ff00</color><type>any</type><attributes/></label>
      </labels>
    </project>
    <dumped>2024-05-01 10:00:00.000000+00:00</dumped>
  </meta>
  <image id="0" name="cam1/street_1.jpg" subset="default" task_id="7" width="64" height="48">
    <box label="car" source="manual" occluded="1" xtl="2.00" ytl="3.00" xbr="12.00" ybr="23.00" z_order="0">
      <attribute name="kind">van</attribute>
      <attribute name="parked">true</attribute>
      <attribute name="speed">30</attribute>
    </box>
    <polygon label="car" source="manual" occluded="0" points="30.00,30.00;40.00,30.00;40.00,40.00" z_order="0">
      <attribute name="kind">suv</attribute>
      <attribute name="parked">false</attribute>
      <attribute name="speed">0</attribute>
    </polygon>
    <mask label="puddle" source="manual" occluded="0" rle="{", ".join(map(str, mask_rle(MASK)))}" left="20" top="10"
      width="5" height="4" z_order="0"></mask>
    <tag label="night" source="manual"><attribute name="moon">new</attribute></tag>
  </image>
</annotations>
"""


def test_the_meta_becomes_classes_by_the_kinds_their_shapes_have_and_questions_by_input_type():
    converted = cvat_meta_to_entries(SERVER_XML)

    entries = {e["key"]: e for e in converted.entries}
    assert {key: e["type"] for key, e in entries.items()} == {
        "car": "rectangle",
        "car_polygon": "polygon",
        "puddle": "segmentation",
        "unused": "rectangle",
        "tags": "checklist",
    }
    car = entries["car"]
    assert (car["schema_id"], car["color"], car["title"]) == ("cvat:car:rectangle", "#ff0000", "car")
    questions = {c["key"]: c for c in car["children"]}
    assert [o["label"] for o in questions["kind"]["options"]] == ["suv", "van"]
    assert [o["key"] for o in questions["parked"]["options"]] == ["true", "false"]
    assert questions["speed"]["type"] == "freetext"
    assert questions["occluded"]["type"] == "select"  # the box is occluded in the file
    assert "occluded" not in {c["key"] for c in entries["car_polygon"]["children"]}
    assert [o["label"] for o in entries["tags"]["options"]] == ["night"]
    assert [(c["key"], c["type"]) for c in entries["tags"]["children"]] == [("night moon", "select")]
    codes = {w.code for w in converted.warnings}
    assert codes == {"number_as_text", "label_kind_unknown"}


def test_the_convert_api_refuses_a_file_that_is_no_cvat_xml_with_its_place(admin_client):
    response = admin_client.post(
        "/api/label-configurations/convert",
        {"format": "cvat_xml", "source": "<annotation><object/></annotation>"},
        format="json",
    )

    assert response.status_code == 400
    assert "starts with <annotations>" in response.json()["error"]["message"]


def test_a_cvat_server_file_imports_with_its_cropped_mask_in_place_attributes_and_tags(project, run_import):
    label_config_replace(configuration=project.label_configuration, entries=cvat_meta_to_entries(SERVER_XML).entries)
    media(project, {"street_1.jpg": (64, 48)})
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        archive.writestr("annotations.xml", SERVER_XML)
        archive.writestr("images/cam1/street_1.jpg", b"not read")

    job = run_import(project, "project_streets.zip", body.getvalue())

    assert (job["format"], job["status"]) == ("cvat", "succeeded"), job["errors"]
    found = {key: (points, answers) for key, _, points, answers in labels_of(project, "street_1.jpg")}
    assert found["car"] == (
        [[2.0, 3.0], [12.0, 23.0]],
        {
            "kind": {"value": "van"},
            "parked": {"value": "true"},
            "speed": {"value": "30"},
            "occluded": {"value": "true"},
        },
    )
    assert found["car_polygon"][0] == [[30.0, 30.0], [40.0, 30.0], [40.0, 40.0]]
    expected = np.zeros((48, 64), dtype=bool)
    expected[11:13, 21:24] = True
    assert (segmentation_mask(found["puddle"][0], 64, 48) == expected).all()
    assert Task.objects.get(media__name="street_1.jpg").answers == {
        "tags": {"value": ["night"], "answers": {"night moon": {"value": "new"}}}
    }
    assert Label.objects.count() == 3


def test_an_xml_file_is_cvat_only_when_its_root_is_annotations():
    assert format_detect(file_name="annotations.xml", head=SERVER_XML.encode()[:4096]).name == "cvat"
    voc = b'<?xml version="1.0"?>\n<annotation><filename>a.jpg</filename></annotation>'
    assert format_detect(file_name="a.xml", head=voc).name == "pascal_voc"


def test_cvat_rle_runs_start_with_background_and_read_row_by_row():
    assert mask_rle(MASK) == [6, 3, 2, 3, 6]
    assert (rle_mask([6, 3, 2, 3, 6], 5, 4) == MASK).all()
    assert mask_rle(np.ones((1, 3), dtype=bool)) == [0, 3]


def test_a_box_turned_clockwise_keeps_its_centre_and_size():
    corners = np.array(rotated_box_corners(0, 0, 4, 2, 90))
    assert np.allclose(corners, [[3, -1], [3, 3], [1, 3], [1, -1]])
