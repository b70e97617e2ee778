"""The task browser's paging and its per-page filter shapes: keyset cursors and offsets read from
the end give the same pages as the plain order, in every sort and both directions, ties and empty
values included; class counts and metadata filters keep their meaning in both query shapes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.http import QueryDict
from django.utils import timezone

from labeling.browser_selectors import SORTS, TaskQuery, task_browser_list, task_page_get, task_query_clean
from labeling.models import Label, LabelSource, Task, TaskState
from labelsite.errors import ValidationFailed
from projects.services import dataset_connect, project_create
from tests.factories import DatasetFactory, MediaFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

CONFIGURATION = [
    {"key": "car", "title": "Car", "type": "rectangle"},
    {"key": "person", "title": "Person", "type": "polygon"},
]
TASKS = 13


@pytest.fixture
def browser(db: Any) -> dict[str, Any]:
    """13 tasks over two datasets, with ties in every sort column (the same created_at, names, users,
    states, completion times and scores) and empty values where a column may be empty."""
    organization: Any = OrganizationFactory()
    admin: Any = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    users = [UserFactory(username=f"u-{name}") for name in ("ann", "bob")]
    for user in users:
        MembershipFactory(user=user, organization=organization, role="annotator")
    project = project_create(organization=organization, name="Paging", label_configuration=CONFIGURATION)
    datasets: list[Any] = [DatasetFactory(organization=organization, name=name) for name in ("north", "south")]
    for number in range(TASKS):
        MediaFactory(
            dataset=datasets[number % 2],
            name=f"img-{number // 2}.jpg",  # the same name in both datasets: ties
            url=f"https://images.example.com/{number}.jpg",
            global_key=None if number % 3 == 0 else f"key-{number % 4}-{number}",  # unique; empty ones tie
            external_id=f"ext-{number % 5}",
            metadata={"split": ["train", "valid", "test"][number % 3], "note": "in-valid" if number == 4 else ""},
        )
    for dataset in datasets:
        dataset_connect(dataset=dataset, project=project)
    car = project.label_configuration.entries.get(key="car")
    moment = timezone.now().replace(microsecond=0)
    tasks = list(Task.objects.filter(project=project).order_by("id"))
    for number, task in enumerate(tasks):
        Task.objects.filter(pk=task.pk).update(
            created_at=moment + timedelta(seconds=number // 3),  # three tasks a second: ties broken by id
            state=[TaskState.BACKLOG, TaskState.COMPLETED][number % 2],
            assignee=None if number % 3 == 0 else users[number % 2],
            completed_by=users[0] if number % 2 else None,
            completed_at=moment - timedelta(hours=number % 2 * (number % 3)) if number % 2 else None,
        )
        for _ in range(number % 4):
            Label.objects.create(task=task, entry=car, points=[[1, 1], [2, 2]])
        if number % 3:
            Label.objects.create(
                task=task, entry=car, points=[[1, 1], [2, 2]], source=LabelSource.PREDICTION, score=(number % 2) / 2
            )
    return {"project": project, "admin": admin, "car": car}


def _query(browser: dict[str, Any], raw: str) -> TaskQuery:
    return task_query_clean(project=browser["project"], raw=QueryDict(raw), user=browser["admin"])


def _expected(browser: dict[str, Any], query: TaskQuery) -> list[Any]:
    return list(
        task_browser_list(project=browser["project"], user=browser["admin"], query=query).values_list("pk", flat=True)
    )


def _page(browser: dict[str, Any], query: TaskQuery, **paging: Any) -> Any:
    return task_page_get(project=browser["project"], user=browser["admin"], query=query, **paging)


SORT_PARAMETERS = [*SORTS, *(f"-{name}" for name in SORTS)]


@pytest.mark.parametrize("sort", SORT_PARAMETERS)
def test_cursors_visit_every_task_once_forward_and_backward(browser: dict[str, Any], sort: str) -> None:
    query = _query(browser, f"sort={sort}")
    expected = _expected(browser, query)
    assert len(expected) == TASKS == len(set(expected))

    seen: list[Any] = []
    page = _page(browser, query, limit=4)
    offsets = [page.offset]
    while True:
        assert page.count == TASKS
        seen.extend(page.task_ids)
        if page.next_cursor is None:
            break
        page = _page(browser, query, limit=4, cursor=page.next_cursor)
        offsets.append(page.offset)
    assert seen == expected
    assert offsets == [0, 4, 8, 12]

    # From the last page (an offset past the middle: read from the end) back with previous cursors.
    page = _page(browser, query, limit=4, offset=12)
    assert page.task_ids == expected[12:]
    back: list[Any] = []
    while True:
        back = page.task_ids + back
        if page.previous_cursor is None:
            break
        page = _page(browser, query, limit=4, cursor=page.previous_cursor)
    assert back == expected
    assert page.offset == 0


@pytest.mark.parametrize("sort", SORT_PARAMETERS)
def test_every_offset_gives_the_order_slice(browser: dict[str, Any], sort: str) -> None:
    query = _query(browser, f"sort={sort}")
    expected = _expected(browser, query)
    for offset in range(TASKS + 1):
        page = _page(browser, query, limit=5, offset=offset)
        assert page.task_ids == expected[offset : offset + 5], offset
        assert (page.next_cursor is not None) == (offset + 5 < TASKS)
        assert (page.previous_cursor is not None) == (0 < offset < TASKS)


def test_a_cursor_of_another_sort_or_a_forged_one_is_refused_with_its_place(browser: dict[str, Any]) -> None:
    page = _page(browser, _query(browser, "sort=name"), limit=4)
    for cursor in (page.next_cursor, "not-a-cursor", "e30", "x" * 5000):
        with pytest.raises(ValidationFailed) as refused:
            _page(browser, _query(browser, "sort=-name"), limit=4, cursor=cursor)
        assert [detail.path for detail in refused.value.details] == ["cursor"]


def test_the_api_pages_with_next_and_previous_links_that_carry_the_cursor(browser: dict[str, Any]) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(browser["admin"])
    url = f"/api/projects/{browser['project'].pk}/tasks?sort=-assignee&limit=5"
    expected = _expected(browser, _query(browser, "sort=-assignee"))
    first = client.get(url).json()
    assert first["previous"] is None
    assert first["previous_cursor"] is None
    second = client.get(first["next"]).json()
    assert "cursor=" in first["next"]
    assert "offset=5" in first["next"]
    third = client.get(second["next"]).json()
    assert third["next"] is None
    ids = [row["id"] for page in (first, second, third) for row in page["results"]]
    assert ids == [str(pk) for pk in expected]
    back = client.get(third["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in second["results"]]
    refused = client.get(f"{url}&cursor=nonsense")
    assert refused.status_code == 400
    assert refused.json()["error"]["details"][0]["path"] == "cursor"


def _label_counts(browser: dict[str, Any]) -> dict[Any, int]:
    counts = dict.fromkeys(Task.objects.filter(project=browser["project"]).values_list("pk", flat=True), 0)
    for task_id in (
        Label.objects.filter(entry=browser["car"])
        .exclude(source=LabelSource.PREDICTION)
        .values_list("task_id", flat=True)
    ):
        counts[task_id] += 1
    return counts


@pytest.mark.parametrize(
    ("raw", "low", "high"),
    [
        ("label_class=car", 1, None),
        ("label_class=car&class_min=1&class_max=1", 1, 1),
        ("label_class=car&class_max=0", 0, 0),
        ("label_class=car&class_max=1", 0, 1),
        ("label_class=car&class_min=2", 2, None),
        ("label_class=car&class_min=2&class_max=3", 2, 3),
        ("label_class=car&class_min=0&class_max=2", 0, 2),
        ("labels_min=2&labels_max=2", 2, 2),
        ("labels_max=1", 0, 1),
    ],
)
def test_class_counts_mean_the_same_on_a_page_and_in_the_count(
    browser: dict[str, Any], raw: str, low: int, high: int | None
) -> None:
    """The page probes each task's labels, the count groups them once: the same tasks either way
    (only the car has manual labels here, so labels_min/max count the same labels)."""
    wanted = {pk for pk, n in _label_counts(browser).items() if n >= low and (high is None or n <= high)}
    assert wanted
    assert len(wanted) < TASKS
    query = _query(browser, raw)
    page = _page(browser, query, limit=50)
    assert set(page.task_ids) == wanted
    assert page.count == len(wanted)
    assert set(_expected(browser, query)) == wanted


def test_a_metadata_filter_keeps_media_whose_field_contains_the_text(browser: dict[str, Any]) -> None:
    """Contains, any case, in that field only: "in-valid" in another field does not count."""
    valid = {
        pk
        for pk, metadata in Task.objects.filter(project=browser["project"]).values_list("pk", "media__metadata")
        if "valid" in metadata["split"]
    }
    assert len(valid) == 4
    for raw in ("meta.split=valid", "meta.split=VaLi"):
        page = _page(browser, _query(browser, raw), limit=50)
        assert set(page.task_ids) == valid
        assert page.count == 4
    page = _page(browser, _query(browser, "meta.note=valid"), limit=50)
    assert page.count == 1
    assert _page(browser, _query(browser, "meta.split=zebra"), limit=50).count == 0


def test_a_cursor_carries_the_longest_name_in_any_script(browser: dict[str, Any]) -> None:
    from projects.models import Dataset
    from tests.factories import TaskFactory

    dataset = Dataset.objects.get(organization=browser["project"].organization, name="north")
    long_name = "ü" * 200 + "漢" * 51 + ".jpg"  # 255 characters
    TaskFactory(project=browser["project"], media=MediaFactory(dataset=dataset, name=long_name))
    query = _query(browser, "sort=-name")
    first = _page(browser, query, limit=1)
    assert first.task_ids == _expected(browser, query)[:1]
    second = _page(browser, query, limit=1, cursor=first.next_cursor)
    assert second.task_ids == _expected(browser, query)[1:2]
