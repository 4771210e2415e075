"""REST views of the tickets app: parse, call one service or selector, serialize. CONTRACT.md sections
"Escalation intake", "Webhooks" and the agent's resolve / hand-back."""

import datetime as dt
import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from actions import tickets as actions
from actions import transfers as transfer_actions
from agents.models import Role
from agents.permissions import role_permission
from core.errors import DomainError, InvalidInput
from core.query import Pagination, date_bounds_check
from core.ratelimit import throttle_for
from dispatch import serializers as dispatch_serializers
from dispatch.selectors import ticket_get_for
from tickets import serializers as s
from tickets import services, webhooks
from tickets.selectors import (
    canned_fill,
    canned_response_list,
    coaching_record,
    coaching_tickets,
    customer_history,
    note_payload,
    skill_keyword_rules_list,
    ticket_notes,
    ticket_payload,
    ticket_queryset,
    webhook_delivery_list,
)

ESCALATION_EXAMPLE = {
    "external_id": "chat-8812",
    "customer": {"ref": "c-42", "display_name": "Anna", "tier": "standard", "vulnerable": False},
    "language": "de",
    "skills": ["payments"],
    "reason": "customer_request",
    "priority": 2,
    "sentiment": -0.6,
    "summary": "Double charge on order 1234, customer upset",
    "handoff": {
        "bot_confidence": 0.31,
        "attempted": ["kb:refund-policy", "tool:order-lookup"],
        "verified_facts": {"order_id": "1234", "identity_checked": True},
        "suggested_next_step": "refund one of the two charges",
    },
    "transcript": [
        {"role": "customer", "text": "I was charged twice for order 1234!", "at": "2026-11-21T10:00:00+01:00"},
        {"role": "bot", "text": "I am sorry. Let me get a colleague.", "at": "2026-11-21T10:00:05+01:00"},
    ],
}
TICKET_EXAMPLE = {
    "id": "8a6e0d1c-5b1f-4f7e-9a51-0f2b3c4d5e6f",
    "external_id": "chat-8812",
    "status": "queued",
    "created_at": "2026-11-21T09:00:06Z",
    "queued_at": "2026-11-21T09:00:06Z",
    "first_offered_at": None,
    "assigned_at": None,
    "resolved_at": None,
    "closed_at": None,
    "customer": {"ref": "c-42", "display_name": "Anna", "tier": "standard", "vulnerable": False},
    "language": "de",
    "reason": "customer_request",
    "priority": 2,
    "priority_was_derived": False,
    "sentiment": -0.6,
    "summary": "Double charge on order 1234, customer upset",
    "handoff": ESCALATION_EXAMPLE["handoff"],
    "skills": [{"code": "payments", "min_level": 1}],
    "skills_were_inferred": False,
    "skill_inference": [],
    "queue_position": 3,
    "estimated_wait_seconds": 135,
    "agent": None,
    "outcome": "",
    "resolution_notes": "",
    "bot_feedback": {},
    "csat": None,
    "messages": [
        {
            "id": "0f9c2e43-7a8b-4c1d-9e2f-3a4b5c6d7e8f",
            "seq": 1,
            "author_kind": "customer",
            "text": "I was charged twice for order 1234!",
            "at": "2026-11-21T09:00:00Z",
        }
    ],
}
ERROR_EXAMPLE = OpenApiExample(
    "Bad input",
    value={"language": ["'xx' is not an ISO 639-1 language code."], "transcript": {"0": {"at": ["Required."]}}},
    response_only=True,
    status_codes=["400"],
)


def _ticket_response(user, ticket_id, *, status_code=status.HTTP_200_OK) -> Response:
    ticket = ticket_get_for(user=user, ticket_id=ticket_id, queryset=ticket_queryset())
    payload = ticket_payload(ticket)
    # The holder and supervisors also read the internal notes and the customer's earlier tickets; the
    # bot platform never does (nor an agent who is only being offered the ticket).
    agent = getattr(user, "agent", None) if user.role == Role.AGENT else None
    if user.role == Role.SUPERVISOR or (agent is not None and ticket.assigned_agent_id == agent.pk):
        payload["notes"] = ticket_notes(ticket=ticket)
        payload["history"] = customer_history(ticket=ticket)
    return Response(payload, status=status_code)


class TicketListView(APIView):
    permission_classes = [role_permission(Role.INTEGRATION)]
    # Per integration, so one bot platform's retry storm cannot crowd out another's escalations.
    throttle_classes = [throttle_for("intake", identity=lambda request: str(request.user.integration.pk))]

    @extend_schema(
        summary="Escalate a conversation to a human",
        description="Idempotent per integration and external_id: the same external_id again answers 200 "
        "with the ticket created the first time. Limits: 200 transcript entries, 64 KiB of transcript text.",
        request=s.TicketCreateSerializer,
        responses={201: s.TicketOutSerializer, 200: s.TicketOutSerializer, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample("Escalation", value=ESCALATION_EXAMPLE, request_only=True),
            OpenApiExample("Ticket", value=TICKET_EXAMPLE, response_only=True, status_codes=["201", "200"]),
            ERROR_EXAMPLE,
        ],
    )
    def post(self, request):
        data = s.TicketCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket, created = actions.ticket_escalate(integration=request.user.integration, **data.validated_data)
        ticket = ticket_queryset().get(pk=ticket.pk)  # the integration's own, by construction
        return Response(ticket_payload(ticket), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class TicketDetailView(APIView):
    permission_classes = [role_permission(Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR)]

    @extend_schema(
        summary="A ticket, with its queue position and estimated wait while queued",
        responses={200: s.TicketOutSerializer},
        examples=[OpenApiExample("Queued ticket", value=TICKET_EXAMPLE, response_only=True)],
    )
    def get(self, request, ticket_id):
        return _ticket_response(request.user, ticket_id)


class TicketMessageView(APIView):
    permission_classes = [role_permission(Role.INTEGRATION, Role.AGENT)]

    @extend_schema(
        summary="Add a message: from the integration the customer's, from the assigned agent a reply",
        request=s.MessageCreateSerializer,
        responses={201: s.MessageOutSerializer},
        examples=[
            OpenApiExample("Message", value={"text": "Are you still there?"}, request_only=True),
            OpenApiExample(
                "Stored",
                value={
                    "id": "0f9c2e43-7a8b-4c1d-9e2f-3a4b5c6d7e8f",
                    "seq": 3,
                    "author_kind": "customer",
                    "text": "Are you still there?",
                    "at": "2026-11-21T09:02:00Z",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request, ticket_id):
        ticket = ticket_get_for(user=request.user, ticket_id=ticket_id)
        data = s.MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = request.user.agent if request.user.role == Role.AGENT else None
        message = services.message_add(ticket=ticket, text=data.validated_data["text"], agent=agent)
        return Response(s.MessageOutSerializer(message).data, status=status.HTTP_201_CREATED)


class TicketCancelView(APIView):
    permission_classes = [role_permission(Role.INTEGRATION)]

    @extend_schema(
        summary="The customer left: cancel the ticket and withdraw its open offers",
        request=None,
        responses={200: s.TicketOutSerializer},
        examples=[OpenApiExample("Cancelled", value={**TICKET_EXAMPLE, "status": "cancelled"}, response_only=True)],
    )
    def post(self, request, ticket_id):
        ticket = ticket_get_for(user=request.user, ticket_id=ticket_id)
        actions.ticket_cancel(ticket=ticket)
        return _ticket_response(request.user, ticket_id)


class TicketCsatView(APIView):
    permission_classes = [role_permission(Role.INTEGRATION)]

    @extend_schema(
        summary="The customer's satisfaction score, once per ticket (409 on a second)",
        request=s.CsatSerializer,
        responses={200: s.TicketOutSerializer},
        examples=[OpenApiExample("CSAT", value={"score": 5, "comment": "Quick and kind."}, request_only=True)],
    )
    def post(self, request, ticket_id):
        ticket = ticket_get_for(user=request.user, ticket_id=ticket_id)
        data = s.CsatSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actions.ticket_csat_record(ticket=ticket, **data.validated_data)
        return _ticket_response(request.user, ticket_id)


class TicketResolveView(APIView):
    permission_classes = [role_permission(Role.AGENT)]

    @extend_schema(
        summary="The assigned agent resolves the ticket",
        request=s.ResolveSerializer,
        responses={200: s.TicketOutSerializer},
        examples=[
            OpenApiExample(
                "Resolved",
                value={
                    "outcome": "solved",
                    "notes": "Refunded the duplicate charge.",
                    "bot_feedback": {"escalation_avoidable": True, "comment": "The refund tool could do this."},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request, ticket_id):
        data = s.ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actions.ticket_resolve(ticket_id=ticket_id, agent=request.user.agent, **data.validated_data)
        return _ticket_response(request.user, ticket_id)


class TicketHandBackView(APIView):
    permission_classes = [role_permission(Role.AGENT)]

    @extend_schema(
        summary="The assigned agent hands the conversation back to the bot",
        request=s.HandBackSerializer,
        responses={200: s.TicketOutSerializer},
        examples=[
            OpenApiExample(
                "Hand back", value={"notes": "Identity verified; bot can finish the address change."}, request_only=True
            )
        ],
    )
    def post(self, request, ticket_id):
        data = s.HandBackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actions.ticket_hand_back(ticket_id=ticket_id, agent=request.user.agent, **data.validated_data)
        return _ticket_response(request.user, ticket_id)


class TicketWrapUpDoneView(APIView):
    permission_classes = [role_permission(Role.AGENT)]

    @extend_schema(
        summary="The agent who resolved or handed back the ticket is ready for the next customer",
        description="Ends the wrap-up before the policy's wrap_up_seconds are up: the agent's slot is free, the "
        "ticket is closed (closed_at) and paid, with the wrap-up measured up to now. 409 when the ticket is not "
        "in wrap-up with you.",
        request=None,
        responses={200: s.TicketOutSerializer},
    )
    def post(self, request, ticket_id):
        if actions.assignment_wrap_up_end(ticket_id=ticket_id, agent=request.user.agent) is None:
            raise DomainError("not_in_wrap_up", "This ticket is not in wrap-up with you.", http_status=409)
        return _ticket_response(request.user, ticket_id)


class TicketTransferView(APIView):
    permission_classes = [role_permission(Role.AGENT)]

    @extend_schema(
        summary="Warm transfer: pass the customer to a named colleague or a skill/language pool",
        description="The sender keeps the ticket until someone accepts; the target (or the pool's best free "
        "agents) gets a normal offer whose `ticket` carries `transfer: {from, note}`. Nobody accepts within the "
        "policy's `transfer_timeout_seconds` (default 120): the sender keeps it and is told why "
        "(`transfer_ended` frame). On accept the sender gets `{type: transferred, ticket_id}` and their slot back; "
        "each agent is paid for their own engaged time. The note (at most 1000 characters) is internal: never "
        "sent to the bot platform. Refusals, nothing changed: 404 a ticket you do not hold; 400 to yourself, an "
        "unknown agent or skill, a note too long; 409 an agent who cannot take it now (`agent_ineligible`), a "
        "pool nobody could ever take (`pool_empty`), a transfer pending already (`transfer_pending`), a ticket "
        "no longer being served (`ticket_not_open`).",
        request=dispatch_serializers.TransferRequestSerializer,
        responses={202: dispatch_serializers.TransferSerializer, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "To a pool",
                value={"to": {"skills": ["fraud"], "language": "sv"}, "note": "Swedish speaker, possible fraud."},
                request_only=True,
            ),
            OpenApiExample(
                "To a colleague",
                value={"to": {"agent_id": "5d0c7f7e-1111-4a2b-9c3d-123456789abc"}, "note": "Asked for Mia."},
                request_only=True,
            ),
        ],
    )
    def post(self, request, ticket_id):
        data = dispatch_serializers.TransferRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        transfer = transfer_actions.ticket_transfer(
            ticket_id=ticket_id, agent=request.user.agent, **data.validated_data
        )
        return Response(dispatch_serializers.TransferSerializer(transfer).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Withdraw your pending transfer of this ticket (you keep the customer)",
        request=None,
        responses={200: dispatch_serializers.TransferSerializer, 404: OpenApiTypes.OBJECT},
    )
    def delete(self, request, ticket_id):
        transfer = transfer_actions.ticket_transfer_withdraw(ticket_id=ticket_id, agent=request.user.agent)
        transfer.refresh_from_db()
        return Response(dispatch_serializers.TransferSerializer(transfer).data)


class TicketNotesView(APIView):
    permission_classes = [role_permission(Role.AGENT, Role.SUPERVISOR)]

    @extend_schema(
        summary="Add an internal note (the holder, or a supervisor)",
        description="Notes show to whoever holds the ticket later and to supervisors (`notes` in GET "
        "/api/v1/tickets/{id}/); a supervisor's note on a live ticket reaches the holder at once (a `note` "
        "frame). Never sent to the bot platform. At most 2000 characters.",
        request=s.NoteCreateSerializer,
        responses={201: s.NoteSerializer, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
        examples=[OpenApiExample("Note", value={"text": "Promised a callback on Monday."}, request_only=True)],
    )
    def post(self, request, ticket_id):
        data = s.NoteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = ticket_get_for(user=request.user, ticket_id=ticket_id)
        note = services.note_add(ticket=ticket, author=request.user, text=data.validated_data["text"])
        return Response(s.NoteSerializer(note_payload(note)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The ticket's internal notes, oldest first",
        responses={200: s.NoteSerializer(many=True), 404: OpenApiTypes.OBJECT},
    )
    def get(self, request, ticket_id):
        ticket = ticket_get_for(user=request.user, ticket_id=ticket_id)
        if request.user.role == Role.AGENT and ticket.assigned_agent_id != request.user.agent.pk:
            raise DomainError("not_found", "No such ticket among yours.", http_status=404)
        return Response(s.NoteSerializer(ticket_notes(ticket=ticket), many=True).data)


def _canned_out(response, *, ticket=None, agent_name: str = "") -> dict:
    out = {
        "id": str(response.pk),
        "title": response.title,
        "text": response.text,
        "language": response.language,
        "shared": response.shared,
    }
    if ticket is not None:
        out["filled"] = canned_fill(response.text, ticket=ticket, agent_name=agent_name)
    return out


class CannedResponseListView(APIView):
    permission_classes = [role_permission(Role.AGENT, Role.SUPERVISOR)]
    pagination = Pagination(default_limit=200, max_limit=1000)

    @extend_schema(
        summary="Canned responses: the shared ones and (for an agent) their own",
        parameters=[
            OpenApiParameter("language", str, description="de, en or sv"),
            OpenApiParameter(
                "ticket", OpenApiTypes.UUID, description="A ticket you hold: each item also carries `filled`."
            ),
        ],
        responses={
            200: s.CannedResponseSerializer(many=True),
            400: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
        },
    )
    def get(self, request):
        ticket = None
        if request.query_params.get("ticket"):
            try:
                ticket = ticket_get_for(user=request.user, ticket_id=request.query_params["ticket"])
            except (ValueError, DjangoValidationError) as exc:
                raise InvalidInput({"ticket": ["Not a ticket id."]}) from exc
        agent = getattr(request.user, "agent", None) if request.user.role == Role.AGENT else None
        name = agent.display_name if agent is not None else request.user.get_username()
        responses = canned_response_list(user=request.user, language=request.query_params.get("language") or None)
        responses = self.pagination.page(request, responses)
        return Response([_canned_out(r, ticket=ticket, agent_name=name) for r in responses])

    @extend_schema(
        summary="Create a canned response: shared (supervisor) or your own (agent)",
        description="Titles at most 100 characters, texts at most 2000; only {customer_name} and {agent_name} "
        "may appear as placeholders (any other: 400 naming it).",
        request=s.CannedResponseCreateSerializer,
        responses={201: s.CannedResponseSerializer, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "Greeting",
                value={"title": "Greeting", "text": "Hej {customer_name}, jag heter {agent_name}.", "language": "sv"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = s.CannedResponseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        response = services.canned_response_create(user=request.user, **data.validated_data)
        return Response(_canned_out(response), status=status.HTTP_201_CREATED)


class CannedResponseDetailView(APIView):
    permission_classes = [role_permission(Role.AGENT, Role.SUPERVISOR)]

    @extend_schema(
        summary="Change a canned response (supervisors the shared ones, agents their own)",
        request=s.CannedResponseUpdateSerializer,
        responses={200: s.CannedResponseSerializer, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
    )
    def patch(self, request, response_id):
        data = s.CannedResponseUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        response = services.canned_response_update(response_id=response_id, user=request.user, **data.validated_data)
        return Response(_canned_out(response))

    @extend_schema(summary="Delete a canned response", request=None, responses={204: None, 404: OpenApiTypes.OBJECT})
    def delete(self, request, response_id):
        services.canned_response_delete(response_id=response_id, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SkillKeywordsView(APIView):
    permission_classes = [role_permission(Role.SUPERVISOR)]
    example = {"rules": [{"skill": "payments", "keywords": ["charged twice", "payment", "card"]}]}

    @extend_schema(
        summary="The keyword rules that infer a ticket's skills when the bot names none",
        responses={200: s.SkillKeywordRulesSerializer},
        examples=[
            OpenApiExample(
                "Rules",
                value={
                    "rules": [
                        {"skill": "payments", "keywords": ["payment", "card"], "source": "default", "updated_at": None}
                    ]
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        return Response({"rules": skill_keyword_rules_list()})

    @extend_schema(
        summary="Set the keywords of the skills named (the others keep theirs)",
        request=s.SkillKeywordRulesSerializer,
        responses={200: s.SkillKeywordRulesSerializer},
        examples=[OpenApiExample("Rules", value=example, request_only=True)],
    )
    def put(self, request):
        data = s.SkillKeywordRulesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.skill_keyword_rules_set(rules=data.validated_data["rules"], actor=request.user)
        return Response({"rules": skill_keyword_rules_list()})


class WebhookDeliveryListView(APIView):
    permission_classes = [role_permission(Role.SUPERVISOR)]
    pagination = Pagination(default_limit=200, max_limit=1000)

    @extend_schema(
        summary="The webhook delivery log (latest 200, or every delivery of one ticket in order)",
        parameters=[OpenApiParameter("ticket", OpenApiTypes.UUID, description="Only this ticket's deliveries.")],
        responses={200: s.WebhookDeliverySerializer(many=True)},
    )
    def get(self, request):
        ticket_id = request.query_params.get("ticket") or None
        if ticket_id is not None:
            try:
                ticket_id = serializers.UUIDField().to_internal_value(ticket_id)
            except serializers.ValidationError as exc:
                raise InvalidInput({"ticket": exc.detail}) from exc
        deliveries = self.pagination.page_from(
            request, lambda limit: webhook_delivery_list(ticket_id=ticket_id, limit=limit)
        )
        return Response(s.WebhookDeliverySerializer(deliveries, many=True).data)


class WebhookRedeliverView(APIView):
    permission_classes = [role_permission(Role.SUPERVISOR)]

    @extend_schema(
        summary="Send a delivery again (same id and body) as soon as its ticket's earlier events are through",
        request=None,
        responses={200: s.WebhookDeliverySerializer},
    )
    def post(self, request, delivery_id):
        delivery = webhooks.webhook_redeliver(delivery_id=delivery_id, actor=request.user)
        return Response(s.WebhookDeliverySerializer(delivery).data)


def _period_bound(name: str, raw: str | None, default: dt.datetime, *, end: bool = False) -> dt.datetime:
    if not raw:
        return default
    try:
        day = parse_date(raw)
        value = None if day is not None else parse_datetime(raw)
    except ValueError:
        day = value = None
    if day is not None:
        day = date_bounds_check(day, name)
        value = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), tzinfo=dt.UTC)
    if value is None:
        raise InvalidInput({name: ["Give an ISO 8601 date or datetime with offset."]})
    if timezone.is_naive(value):
        raise InvalidInput({name: ["Give the time with its UTC offset."]})
    date_bounds_check(value.date(), name)
    return value


class CoachingExportView(APIView):
    permission_classes = [role_permission(Role.SUPERVISOR)]

    @extend_schema(
        summary="Bot-coaching data as JSON Lines: one finished ticket per line",
        description="Tickets resolved or handed back with closed_at in [from, to) (dates include the whole "
        "`to` day). Default: the last 7 days. Each line: the transcript the bot handed over, its summary and "
        "hand-off, what followed, the agent's outcome, notes and bot feedback, and the CSAT.",
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.STR, description="ISO date or datetime, e.g. 2026-11-01 (years 2000 to 2100)."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.STR, description="ISO date or datetime, e.g. 2026-11-30 (years 2000 to 2100)."
            ),
        ],
        responses={
            (200, "application/jsonl"): OpenApiResponse(
                OpenApiTypes.STR,
                examples=[
                    OpenApiExample(
                        "Line",
                        value='{"ticket_id": "8a6e...", "transcript": [...], "outcome": "solved", '
                        '"bot_feedback": {"escalation_avoidable": true, "comment": ""}}\n',
                    )
                ],
            )
        },
    )
    def get(self, request):
        now = timezone.now()
        closed_from = _period_bound("from", request.query_params.get("from"), now - dt.timedelta(days=7))
        closed_to = _period_bound("to", request.query_params.get("to"), now, end=True)
        tickets = coaching_tickets(closed_from=closed_from, closed_to=closed_to)
        lines = (json.dumps(coaching_record(ticket), ensure_ascii=False) + "\n" for ticket in tickets.iterator(200))
        response = StreamingHttpResponse(lines, content_type="application/jsonl; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="coaching-export.jsonl"'
        return response
