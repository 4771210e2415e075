"""REST views of the hybrid loop (CONTRACT.md "The hybrid loop"): the bot reports its conversations,
asks who is available before it hands over, and supervisors read the hybrid figures."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Role
from agents.permissions import role_permission
from tickets import conversations
from tickets import serializers as s

CONVERSATION_EXAMPLE = {
    "external_id": "chat-8812",
    "language": "de",
    "outcome": "contained",
    "topic": "order_status",
    "csat": 5,
    "started_at": "2026-11-21T10:00:00+01:00",
    "ended_at": "2026-11-21T10:03:10+01:00",
}


class ConversationListView(APIView):
    permission_classes = [role_permission(Role.INTEGRATION)]

    @extend_schema(
        summary="Report a conversation the bot handled (contained, escalated or abandoned)",
        description="Idempotent per integration and external_id: 201 the first time, 200 for the same external_id "
        "again, which updates outcome and csat (and ended_at, topic, customer_ref when given). An escalation whose "
        "conversation_id equals this external_id belongs to it. Bad input (unknown outcome, topic over 100 "
        "characters, csat outside 1..5, ended_at before started_at) is refused with 400 naming the field; nothing "
        "is stored.",
        request=s.ConversationReportSerializer,
        responses={201: s.ConversationOutSerializer, 200: s.ConversationOutSerializer, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample("Contained conversation", value=CONVERSATION_EXAMPLE, request_only=True),
            OpenApiExample(
                "Refused",
                value={"csat": ["Ensure this value is less than or equal to 5."]},
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request):
        data = s.ConversationReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation, created = conversations.conversation_report(
            integration=request.user.integration, **data.validated_data
        )
        return Response(
            conversations.conversation_payload(conversation),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ConversationDetailView(APIView):
    permission_classes = [role_permission(Role.INTEGRATION)]

    @extend_schema(
        summary="One of the integration's conversations, with its escalations (another integration's: 404)",
        responses={200: s.ConversationOutSerializer},
    )
    def get(self, request, conversation_id):
        conversation = conversations.conversation_get(
            integration=request.user.integration, conversation_id=conversation_id
        )
        return Response(conversations.conversation_payload(conversation))
