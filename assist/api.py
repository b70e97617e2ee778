"""The assist API: one endpoint per tool on a task's image (under /api/).

Whoever may label the task may use the tools on its image (`task_get_for_labeling`: another
organisation's task is 404, a task held by someone else 403). The answer is the geometry of
a new label; nothing is saved. When every computing slot is taken and the queue is full, the
answer is 429 with Retry-After (see `assist.slots`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from assist import services
from assist.serializers import (
    AssistOutputSerializer,
    GrabcutInputSerializer,
    MagicWandInputSerializer,
    ScissorsInputSerializer,
)
from assist.slots import AssistBusy
from labeling.selectors import task_get_for_labeling
from labelsite.api import error_body
from projects.serializers import ERRORS, ErrorSerializer

ASSIST_ERRORS: dict[int, Any] = {**ERRORS, 413: ErrorSerializer, 429: ErrorSerializer, 503: ErrorSerializer}


def _answer(request: Request, task_id: str, serializer_class: type[Serializer], run: Callable[..., Any]) -> Response:
    task = task_get_for_labeling(user=request.user, task_id=task_id)
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        result = run(task=task, **data.validated_data)
    except AssistBusy as exc:
        return Response(
            error_body(exc.code, exc.message),
            status=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(exc.retry_after)},
        )
    return Response(AssistOutputSerializer(result.as_dict()).data)


class GrabcutApi(APIView):
    @extend_schema(
        operation_id="tasks_assist_grabcut",
        summary="Box to mask: the object inside a box (GrabCut), as a polygon or segmentation",
        request=GrabcutInputSerializer,
        responses={200: AssistOutputSerializer, **ASSIST_ERRORS},
    )
    def post(self, request: Request, task_id: str) -> Response:
        return _answer(request, task_id, GrabcutInputSerializer, services.assist_grabcut)


class MagicWandApi(APIView):
    @extend_schema(
        operation_id="tasks_assist_magic_wand",
        summary="Magic wand: the region around a point within a colour tolerance",
        request=MagicWandInputSerializer,
        responses={200: AssistOutputSerializer, **ASSIST_ERRORS},
    )
    def post(self, request: Request, task_id: str) -> Response:
        return _answer(request, task_id, MagicWandInputSerializer, services.assist_magic_wand)


class ScissorsApi(APIView):
    @extend_schema(
        operation_id="tasks_assist_scissors",
        summary="Intelligent scissors: a path along the image's edges through anchor points",
        request=ScissorsInputSerializer,
        responses={200: AssistOutputSerializer, **ASSIST_ERRORS},
    )
    def post(self, request: Request, task_id: str) -> Response:
        return _answer(request, task_id, ScissorsInputSerializer, services.assist_scissors)
