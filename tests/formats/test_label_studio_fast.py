"""The fast path of the Label Studio reader (`label_studio._task_fast`) answers exactly what the
general converter (`label_studio._task_convert`) answers, for every task it takes: the same shapes
(class, points to the last float, rotation, score, version), the same answers, the same media row.
Every other task (errors, percentages, brushes, nesting, a region's own answers) it leaves to the
general converter, which places each error: `convert` gives the general answer for those."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import pytest

from formats import label_studio
from projects.config_converters import ls_config_to_entries
from projects.label_config import label_config_index, label_config_replace
from tests.formats.conftest import LS_CONFIG_XML

pytestmark = pytest.mark.django_db

THIRDPARTY = Path(__file__).resolve().parents[1] / "thirdparty" / "files" / "label-studio-1.23.2"
EXAMPLE = Path(__file__).resolve().parent / "data" / "label_studio.json"

OPTION_SETS: list[dict[str, Any]] = [
    {},
    {"annotation": "last"},
    {"replace": True, "annotation": "first"},
    {"label_mapping": {"label:Auto": "car", "Lamp": "traffic_light", "mood": "weather"}},
    {"image_field": "image"},
]


def config_of(project, xml: str):
    label_config_replace(configuration=project.label_configuration, entries=ls_config_to_entries(xml).entries)
    project.label_configuration.refresh_from_db()
    return label_config_index(configuration=project.label_configuration)


def compare(config, tasks: list[Any], options: dict[str, Any]) -> int:
    """Assert both paths agree on every task the fast one takes; answers how many it took."""
    taken = 0
    for index, data in enumerate(tasks):
        general = label_studio._task_convert(data, config, index=index, options=options)
        fast = label_studio._task_fast(data, config, index=index, options=options)
        assert label_studio.convert(data, config, index=index, options=options) == general
        if fast is None:
            continue
        taken += 1
        assert not general.errors, (index, general.errors)
        assert fast == general, (index, data)
    return taken


def _number(rng: random.Random) -> Any:
    return rng.choice([rng.uniform(-5, 105), rng.randint(0, 100), 12.345678, True, "7", None])


def varied_task(rng: random.Random, number: int) -> dict[str, Any]:
    """A task of LS_CONFIG_XML's controls, mostly well formed, with the odd thing a file has."""
    size: dict[str, Any] = rng.choice([{"original_width": 1920, "original_height": 1080}, {"original_width": 801.5,
                       "original_height": 333}, {}, {"original_width": 0, "original_height": 10}])  # fmt: skip
    results: list[dict[str, Any]] = []
    for region in range(rng.randint(0, 5)):
        kind = rng.choice(["rectanglelabels"] * 4 + ["polygonlabels"] * 2 + ["keypointlabels", "brushlabels"])
        from_name, labels = {
            "rectanglelabels": ("label", ["Car", "Traffic light", "Truck", "car"]),
            "polygonlabels": ("outline", ["Road", "Car"]),
            "keypointlabels": ("kp", ["Head", "Road"]),
            "brushlabels": ("brush", ["Sky"]),
        }[kind]
        value: dict[str, Any] = {kind: rng.choice([[rng.choice(labels)]] * 8 + [[], ["Car", "Traffic light"], "Car"])}
        if kind == "rectanglelabels":
            value.update(
                x=rng.uniform(0, 90), y=rng.uniform(0, 90), width=rng.uniform(0.1, 10), height=rng.uniform(1, 9)
            )
            value["rotation"] = rng.choice([0, 0, 0, 30.5, 370, -190, None, True])
            if rng.random() < 0.1:
                value["x"] = _number(rng)
        elif kind == "polygonlabels":
            points = [[rng.uniform(0, 100), rng.uniform(0, 100)] for _ in range(rng.choice([2, 3, 5, 9]))]
            if rng.random() < 0.1:
                points[0] = [_number(rng), 3]
            value["points"] = points
        elif kind == "keypointlabels":
            value.update(x=rng.uniform(0, 100), y=_number(rng) if rng.random() < 0.1 else rng.uniform(0, 100))
        else:
            value.update(format="rle", rle=[0, 0, 0, 1])
        result: dict[str, Any] = {"id": f"r{number}-{region}", "from_name": from_name, "to_name": "image", "type": kind,
                  "value": value, **size}  # fmt: skip
        if rng.random() < 0.05:
            result["parentID"] = f"r{number}-0"
        if rng.random() < 0.1:
            result["score"] = rng.choice([0.5, 1, None, "high"])
        if rng.random() < 0.03:
            result["type"] = "RectangleLabels"
        results.append(result)
    for question in range(rng.randint(0, 3)):
        name = rng.choice(["weather", "tags", "comment", "occluded", "mood", "weather"])
        if name == "comment":
            value = {"text": rng.choice([["a note"], "one line", ["two", "lines"], [], None, [3]])}
            kind = "textarea"
        else:
            options = {"weather": ["Sunny", "Rainy day", "rainy_day", "Snow"], "tags": ["blurry", "night"],
                       "occluded": ["yes", "no"], "mood": ["Sunny"]}[name]  # fmt: skip
            value = {"choices": rng.choice([[rng.choice(options)]] * 5 + [options[:2], [], "Sunny", [1]])}
            kind = "choices"
        result = {"id": rng.choice([f"q{number}-{question}", f"r{number}-0"]), "from_name": name,
                  "to_name": "image", "type": kind, "value": value}  # fmt: skip
        results.append(result)
    annotation: dict[str, Any] = {"result": results}
    if rng.random() < 0.1:
        annotation["was_cancelled"] = True
    task: dict[str, Any] = {"data": {"image": f"https://cdn.example.com/street/{number:04d}.jpg"}}
    task[rng.choice(["annotations"] * 5 + ["completions"])] = [annotation, *([{"result": []}] * rng.randint(0, 1))]
    if rng.random() < 0.3:
        task["predictions"] = [
            rng.choice([7, {"result": results[:2], "score": rng.choice([0.9, None]), "model_version": "m1"}])
        ]
    if rng.random() < 0.05:
        task["data"] = {"site": "north"}
    return task


def test_the_fast_path_agrees_with_the_converter_on_varied_tasks(project):
    config = config_of(project, LS_CONFIG_XML)
    rng = random.Random(19)
    tasks = [varied_task(rng, number) for number in range(600)]
    for options in OPTION_SETS:
        taken = compare(config, tasks, options)
        assert 60 < taken < 500, (options, taken)  # both paths are exercised


def test_the_fast_path_agrees_on_the_files_label_studio_and_its_sdk_wrote(project):
    config = config_of(project, (THIRDPARTY / "label_config.xml").read_text())
    tasks: list[Any] = []
    for name in ("export.json", "snapshot.json", "snapshot_expanded.json"):
        tasks.extend(json.loads((THIRDPARTY / name).read_text()))
    tasks.extend(json.loads((THIRDPARTY / "made.json").read_text())["tasks"])
    for options in OPTION_SETS:
        compare(config, tasks, options)
    assert compare(config, tasks, {}) > 0


def test_the_fast_path_agrees_on_the_example_file(project):
    config = config_of(project, LS_CONFIG_XML)
    tasks = json.loads(EXAMPLE.read_text())
    for options in OPTION_SETS:
        compare(config, tasks, options)


BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def test_the_benchmark_tasks_take_the_fast_path(project):
    # bench/label_studio_tasks.py, the tasks of the side-by-side bench (a script beside the benches).
    spec = importlib.util.spec_from_file_location("label_studio_tasks", BENCH_DIR / "label_studio_tasks.py")
    assert spec is not None
    assert spec.loader is not None
    bench: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    config = config_of(project, bench.LABEL_CONFIG_XML)
    assert compare(config, bench.label_studio_tasks(200), {}) == 200


def test_a_task_with_an_error_is_converted_by_the_general_path_with_its_place(project):
    config = config_of(project, LS_CONFIG_XML)
    task = {"data": {"image": "https://cdn.example.com/a.jpg"}, "annotations": [{"result": [
        {"id": "r1", "from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": 10,
         "original_height": 10, "value": {"x": 1, "y": 1, "width": 2, "height": 2, "rectanglelabels": ["Bus"]}},
    ]}]}  # fmt: skip

    assert label_studio._task_fast(task, config, index=4, options={}) is None
    converted = label_studio.convert(task, config, index=4, options={})
    assert [(e.path, e.code) for e in converted.errors] == [
        ("/4/annotations/0/result/0/value/rectanglelabels/0", "label_not_in_config")
    ]


def _media_name_by_urlsplit(url: str) -> str:
    """`media_name` as it was, by `urlsplit` and `unquote` for every URL."""
    from pathlib import PurePosixPath
    from urllib.parse import unquote, urlsplit

    path = urlsplit(url).path
    last = path.rsplit("/", 1)[-1]
    name = unquote(last if last not in ("", ".") else PurePosixPath(path).name) or url
    return label_studio._UPLOAD_PREFIX.sub("", name) if "/upload/" in url else name


def test_the_media_name_of_a_plain_url_is_what_urlsplit_makes_of_it():
    rng = random.Random(7)
    alphabet = [*"abcXYZ019/:.?#%@[]\\ -_+~!$&'()*,;=", "\t", "\n", "é", "\x01"]
    urls = ["https://a.b/c.jpg", "http://host/", "http://host/.", "https://h/a/b/../c.png", "https://h",
            "/data/upload/3/ab12cd34-street.jpg", "https://h/data/upload/3/ab12cd34-x.jpg", "https://h/a%20b.jpg",
            "https://u:p@h:80/x.jpg", "x.jpg", "https://h/x?y=/z", "https://h/x#/f", "HTTP://H/X.JPG"]  # fmt: skip
    for _ in range(5000):
        scheme = rng.choice(["https://", "http://", "", "s3://", "a+b://"])
        urls.append(scheme + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))))

    def name_or_error(function: Any, url: str) -> str:
        try:
            return str(function(url))
        except ValueError:
            return "ValueError"

    for url in urls:
        assert name_or_error(label_studio.media_name, url) == name_or_error(_media_name_by_urlsplit, url), url
