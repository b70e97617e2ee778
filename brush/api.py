"""POST /api/tasks/{id}/brush: a brush or eraser stroke traced into a segmentation.

The page keeps the label and saves it as any other edit (PATCH /api/tasks/{id}/annotation);
this endpoint only traces, with the importers' tracer, so that a painted label and an
imported mask follow one rule. Who may call it: whoever may change the task's annotation.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from brush.serializers import BrushStrokeInputSerializer, BrushStrokeOutputSerializer
from brush.strokes import Stroke, segmentation_stroke_apply
from labeling.selectors import task_get_for_labeling
from labelsite.errors import ValidationFailed
from projects.serializers import ERRORS, ErrorSerializer


class BrushStrokeApi(APIView):
    @extend_schema(
        operation_id="tasks_brush_stroke",
        summary="Add a brush stroke to a segmentation, or erase it from one",
        description="Paints the segmentation `rings` (shells and holes, read even-odd) into a mask, adds the "
        "stroke's pixels to it (or cuts them, with `erase`), and traces the result with the rules of imported "
        "masks (formats.codecs.mask_polygons). Pixel (i, j) of the stroke is the image point (i, j). Saves "
        "nothing: the page saves the label with the rest of its work.",
        request=BrushStrokeInputSerializer,
        responses={200: BrushStrokeOutputSerializer, **ERRORS, 413: ErrorSerializer},
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = task_get_for_labeling(user=request.user, task_id=task_id)
        serializer = BrushStrokeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        media = task.media
        if not media.width or not media.height:
            raise ValidationFailed(
                code="image_size_unknown",
                message="The image's size is not known yet, so a stroke cannot be placed on it; reload the page "
                "once the image has been read.",
            )
        rings = segmentation_stroke_apply(
            rings=data.get("rings") or [],
            stroke=Stroke(**data["stroke"]),
            erase=data["erase"],
            image_width=media.width,
            image_height=media.height,
        )
        return Response({"rings": rings})
