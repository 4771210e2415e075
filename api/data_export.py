"""GET /api/v1/me/export/: the agent's own data as one JSON file (console.data_export)."""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from agents.permissions import IsAgent
from console.data_export import agent_data_export, agent_export_filename, export_json_chunks

CHUNKS_PER_THREAD_HOP = 200


def _next_chunks(chunks, count: int) -> list[str]:
    batch = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == count:
            break
    return batch


async def _async_chunks(chunks):
    """Under ASGI Django would read a sync iterator to the end before sending a byte; this hands it
    over in slices, each read in the thread that owns the database connection."""
    while batch := await sync_to_async(_next_chunks)(chunks, CHUNKS_PER_THREAD_HOP):
        for chunk in batch:
            yield chunk


class MyDataExportView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Everything the platform holds about the calling agent: profile, presence, offers "
                "with their decision records, tickets, pay lines, payout items, shifts, appeals, audit entries.",
            )
        }
    )
    def get(self, request):
        chunks = export_json_chunks(agent_data_export(agent=request.user.agent))
        if isinstance(request._request, ASGIRequest):
            chunks = _async_chunks(chunks)
        response = StreamingHttpResponse(chunks, content_type="application/json; charset=utf-8")
        filename = agent_export_filename(user=request.user)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
