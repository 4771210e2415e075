"""REST views of the hybrid loop (CONTRACT.md "The hybrid loop"): the bot reports its conversations,
asks who is available before it hands over, and supervisors read the hybrid figures."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Role, Skill
from agents.permissions import role_permission
from agents.serializers import LANGUAGE_CODES
from core.rest import StrictSerializer
from dispatch.availability import availability_for
from tickets import conversations
from tickets import serializers as s
from tickets.hybrid import hybrid_period, hybrid_report

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


class AvailabilityQuerySerializer(StrictSerializer):
    language = serializers.CharField(max_length=2)
    skills = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_language(self, value):
        if value not in LANGUAGE_CODES:
            raise serializers.ValidationError(f"'{value}' is not an ISO 639-1 language code.")
        return value

    def validate_skills(self, value):
        codes = list(dict.fromkeys(code.strip() for code in value.split(",") if code.strip()))
        known = set(Skill.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise serializers.ValidationError([f"Unknown skill code: {code}." for code in unknown])
        return codes


class AvailabilitySerializer(serializers.Serializer):
    agents_online = serializers.IntegerField(
        help_text="Online agents who speak the language with every skill (at the policy's default level)."
    )
    agents_free = serializers.IntegerField(help_text="Of those, with room for another ticket and no offer pending.")
    queue_length = serializers.IntegerField(help_text="Tickets of the language waiting for an agent now.")
    estimated_wait_seconds = serializers.IntegerField(
        allow_null=True,
        help_text="For a ticket escalated now: (queue_length + 1) x 900 / tickets assigned in the last 15 minutes; "
        "0 when an agent is free and nothing waits; null when closed or with no recent assignments.",
    )
    open = serializers.BooleanField(help_text="False when nobody who could take it is online.")


class AvailabilityView(APIView):
    permission_classes = [role_permission(Role.INTEGRATION)]

    @extend_schema(
        summary="Before handing over: is anybody there, how many wait, how long (cheap; ask every conversation)",
        parameters=[
            OpenApiParameter("language", OpenApiTypes.STR, required=True, description="ISO 639-1 code, e.g. de."),
            OpenApiParameter("skills", OpenApiTypes.STR, description="Comma-separated skill codes, e.g. payments."),
        ],
        responses={200: AvailabilitySerializer, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "Open",
                value={
                    "agents_online": 4,
                    "agents_free": 1,
                    "queue_length": 2,
                    "estimated_wait_seconds": 90,
                    "open": True,
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request):
        query = AvailabilityQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        available = availability_for(
            language=query.validated_data["language"], skill_codes=query.validated_data["skills"]
        )
        return Response(available.as_dict())


HYBRID_ROW_EXAMPLE = {
    "conversations": 120,
    "contained": 84,
    "containment_rate": 0.7,
    "bot_csat": 4.1,
    "human_csat": 4.5,
    "escalations": 36,
    "avoidable_share": 0.25,
    "handed_back": 3,
    "repeat_contact_rate_7d": 0.08,
    "samples": {
        "containment_rate": 120,
        "bot_csat": 40,
        "human_csat": 20,
        "avoidable_share": 28,
        "repeat_contact_rate_7d": 100,
    },
}


class HybridQualityView(APIView):
    permission_classes = [role_permission(Role.SUPERVISOR)]

    @extend_schema(
        summary="The bot and the people side by side: per language, per topic, per day and in total",
        description="Conversations the bot reported as started in [from, to) and escalations created in it. "
        "containment_rate = contained / conversations; bot_csat: mean CSAT of contained conversations; "
        "human_csat: mean CSAT of escalations; avoidable_share: of escalations with the agent's bot feedback, "
        "the share marked avoidable; handed_back: escalations handed back to the bot; repeat_contact_rate_7d: of "
        "conversations with a known customer, the share whose customer started another within 7 days. Rates "
        "are null with no sample; `samples` gives each rate's denominator (below min_sample, treat it as "
        "anecdote). Days are counted in `tz`.",
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.STR, description="ISO date or datetime; default 30 days before `to`."
            ),
            OpenApiParameter("to", OpenApiTypes.STR, description="ISO date (included) or datetime; default now."),
            OpenApiParameter("tz", OpenApiTypes.STR, description="IANA time zone for days, default UTC."),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "Report",
                value={
                    "from": "2026-11-01T00:00:00Z",
                    "to": "2026-12-01T00:00:00Z",
                    "time_zone": "UTC",
                    "min_sample": 10,
                    "total": HYBRID_ROW_EXAMPLE,
                    "by_language": [{"language": "de", **HYBRID_ROW_EXAMPLE}],
                    "by_topic": [{"topic": "refund", **HYBRID_ROW_EXAMPLE}],
                    "by_day": [{"day": "2026-11-21", **HYBRID_ROW_EXAMPLE}],
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request):
        period_from, period_to, zone = hybrid_period(
            raw_from=request.query_params.get("from"),
            raw_to=request.query_params.get("to"),
            raw_tz=request.query_params.get("tz"),
            now=timezone.now(),
        )
        return Response(hybrid_report(period_from=period_from, period_to=period_to, time_zone=zone))
