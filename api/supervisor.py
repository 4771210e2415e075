"""REST views of the supervisor's console (and the agent's side of appeals and shifts).

Thin: parse input, call one selector or service, serialize the answer. DomainErrors become HTTP answers
in core.errors, with the reason in `message`.
"""

from decimal import Decimal

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from actions import supervision
from actions.people import agent_pseudonymise
from agents import shifts
from agents.models import Agent, Role, Shift, SuspensionAppeal
from agents.permissions import IsAgent, IsSupervisor, role_permission
from core.errors import DomainError
from core.query import QUERY_TEXT_MAX_LENGTH, SEARCH_MAX_LENGTH, Pagination, query_int, query_text
from core.rest import StrictSerializer
from dispatch import alerts
from dispatch import selectors as dispatch_selectors
from supervisor import selectors as board
from tickets.models import Ticket

JSON = OpenApiTypes.OBJECT


class DashboardView(APIView):
    """The live board's numbers, and under "definitions" what each one counts (in the caller's language);
    the same as the `board` frame of /ws/supervisor/. Parts of a whole add up to it: e.g. agents
    `online` = `offer_pending` + `busy` + `available`. `agents_list`: active agents (online first) with
    state, presence, `in_state_since`, `tickets_held` of `capacity`, languages, skills and `offers_today`;
    `waiting_list`: the ten tickets waiting longest, each with `why_waiting` (`kind`, and the online pool
    = `eligible` + each `excluded` count)."""

    permission_classes = [IsSupervisor]

    @extend_schema(responses={200: JSON})
    def get(self, request):
        return Response(board.board_snapshot())


class SupervisorTicketListView(APIView):
    permission_classes = [IsSupervisor]
    pagination = Pagination(default_limit=100, max_limit=500)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="a ticket status, or 'open'"),
            OpenApiParameter(
                "search", str, description=f"in external_id and summary, at most {SEARCH_MAX_LENGTH} characters"
            ),
        ],
        responses={200: JSON},
    )
    def get(self, request):
        status_filter = query_text(request, "status", max_length=QUERY_TEXT_MAX_LENGTH)
        search = query_text(request, "search")
        tickets = self.pagination.page_from(
            request, lambda limit: board.supervisor_tickets(status=status_filter, search=search, limit=limit)
        )
        return Response(
            [
                {
                    "id": str(t.pk),
                    "external_id": t.external_id,
                    "status": t.status,
                    "language": t.language,
                    "reason": t.reason,
                    "priority": t.priority,
                    "created_at": t.created_at,
                    "agent": t.assigned_agent.display_name if t.assigned_agent else None,
                }
                for t in tickets
            ]
        )


class TicketTimelineView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(responses={200: JSON})
    def get(self, request, ticket_id):
        ticket = get_object_or_404(Ticket.objects.select_related("integration", "assigned_agent"), pk=ticket_id)
        return Response(
            {
                "ticket": {"id": str(ticket.pk), "external_id": ticket.external_id, "status": ticket.status},
                "events": board.ticket_timeline(ticket=ticket),
                "candidates": dispatch_selectors.reassign_candidates(ticket=ticket)
                if ticket.status in ("queued", "offered", "assigned")
                else [],
            }
        )


# ---------------------------------------------------------------- alerts


class AlertListView(APIView):
    """Supervisor alerts, newest first (at most 200), each with who acknowledged it, when, and their note."""

    permission_classes = [IsSupervisor]
    pagination = Pagination(default_limit=200, max_limit=500)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "state",
                str,
                enum=list(alerts.ALERT_STATES),
                description="open (default): not acknowledged yet; acknowledged: newest acknowledgement first; all",
            )
        ],
        responses={200: JSON, 400: JSON},
    )
    def get(self, request):
        state = query_text(request, "state", max_length=QUERY_TEXT_MAX_LENGTH, default="open")
        return Response(self.pagination.page_from(request, lambda limit: alerts.alert_list(state=state, limit=limit)))


class AlertAcknowledgeSerializer(StrictSerializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AlertAcknowledgeView(APIView):
    """Acknowledge an open alert: it leaves the open alerts on every supervisor's board, showing who and
    when. 409 naming who acknowledged it and when if someone did already (of two at once, one wins)."""

    permission_classes = [IsSupervisor]

    @extend_schema(
        request=AlertAcknowledgeSerializer,
        responses={200: JSON, 404: JSON, 409: JSON},
        examples=[
            OpenApiExample(
                "With a note", value={"note": "Called the bot team; German queue is short."}, request_only=True
            ),
            OpenApiExample(
                "Already acknowledged",
                value={
                    "code": "already_acknowledged",
                    "message": "greta acknowledged this alert already, at Nov. 21, 2026, 10:04 a.m.",
                    "acknowledged_by": "greta",
                    "acknowledged_at": "2026-11-21T10:04:12+00:00",
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def post(self, request, alert_id):
        data = AlertAcknowledgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alerts.alert_acknowledge(alert_id=alert_id, actor=request.user, **data.validated_data)
        return Response(alerts.alert_payload(alert, note=data.validated_data["note"]))


# ---------------------------------------------------------------- tickets


class OptionalReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReassignSerializer(OptionalReasonSerializer):
    agent_id = serializers.UUIDField()


def _ticket_answer(ticket) -> dict:
    return {
        "id": str(ticket.pk),
        "status": ticket.status,
        "agent_id": str(ticket.assigned_agent_id) if ticket.assigned_agent_id else None,
    }


class TicketReassignView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(
        request=ReassignSerializer,
        responses={200: JSON},
        examples=[
            OpenApiExample("To Maria", value={"agent_id": "…", "reason": "VIP, needs a senior"}, request_only=True)
        ],
    )
    def post(self, request, ticket_id):
        data = ReassignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = supervision.ticket_reassign(ticket_id=ticket_id, actor=request.user, **data.validated_data)
        return Response(_ticket_answer(ticket))


class TicketRequeueView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(request=OptionalReasonSerializer, responses={200: JSON})
    def post(self, request, ticket_id):
        data = OptionalReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = supervision.ticket_requeue(ticket_id=ticket_id, actor=request.user, **data.validated_data)
        return Response(_ticket_answer(ticket))


class TicketSupervisorCancelView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(request=OptionalReasonSerializer, responses={200: JSON})
    def post(self, request, ticket_id):
        data = OptionalReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = supervision.ticket_cancel_by_supervisor(ticket_id=ticket_id, actor=request.user, **data.validated_data)
        return Response(_ticket_answer(ticket))


class PoolView(APIView):
    permission_classes = [IsSupervisor]
    pagination = Pagination(default_limit=500, max_limit=500)

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description=f"in names, at most {SEARCH_MAX_LENGTH} characters"),
            *(
                OpenApiParameter(name, str, description=f"at most {QUERY_TEXT_MAX_LENGTH} characters")
                for name in ("status", "presence", "language", "skill")
            ),
        ],
        responses={200: JSON},
    )
    def get(self, request):
        filters = {
            name: query_text(request, name, max_length=QUERY_TEXT_MAX_LENGTH)
            for name in ("status", "presence", "language", "skill")
        }
        filters["search"] = query_text(request, "search")
        limit, offset = self.pagination.window(request.query_params)
        return Response([board.pool_row_payload(row) for row in board.pool_rows(**filters, offset=offset, limit=limit)])


class AgentApproveView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(request=OptionalReasonSerializer, responses={200: JSON})
    def post(self, request, agent_id):
        data = OptionalReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = supervision.agent_approve(agent_id=agent_id, actor=request.user, **data.validated_data)
        return Response({"id": str(agent.pk), "status": agent.status})


class CertifySerializer(StrictSerializer):
    skill = serializers.SlugField(max_length=40)
    level = serializers.IntegerField(min_value=1, max_value=5, allow_null=True)


class AgentCertifyView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(
        request=CertifySerializer,
        responses={200: JSON},
        examples=[OpenApiExample("Level 4 in disputes", value={"skill": "disputes", "level": 4}, request_only=True)],
    )
    def post(self, request, agent_id):
        data = CertifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = supervision.agent_skill_certify(agent_id=agent_id, actor=request.user, **data.validated_data)
        return Response({"id": str(agent.pk), "skills": dict(agent.skill_levels.values_list("skill__code", "level"))})


class PseudonymiseSerializer(StrictSerializer):
    reason = serializers.CharField(allow_blank=False, max_length=2000)


class AgentPseudonymiseView(APIView):
    """Irreversible: replaces a departed agent's personal data; pay and payout records are kept.
    409 with the reason while the agent holds work or is owed money not yet in an approved batch."""

    permission_classes = [IsSupervisor]

    @extend_schema(
        request=PseudonymiseSerializer,
        responses={200: JSON, 409: JSON},
        examples=[OpenApiExample("Left", value={"reason": "Left the company on 30 Nov"}, request_only=True)],
    )
    def post(self, request, agent_id):
        agent = get_object_or_404(Agent, pk=agent_id)
        data = PseudonymiseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = agent_pseudonymise(agent=agent, actor=request.user, reason=data.validated_data["reason"])
        return Response(
            {
                "id": str(agent.pk),
                "username": agent.user.username,
                "display_name": agent.display_name,
                "status": agent.status,
                "pseudonymised_at": agent.pseudonymised_at,
            }
        )


# ---------------------------------------------------------------- appeals


def appeal_payload(appeal: SuspensionAppeal) -> dict:
    return {
        "id": str(appeal.pk),
        "agent": {"id": str(appeal.agent_id), "display_name": appeal.agent.display_name},
        "text": appeal.text,
        "submitted_at": appeal.submitted_at,
        "suspended_by": appeal.suspended_by.username if appeal.suspended_by else None,
        "suspension_reason": appeal.suspension_reason,
        "status": appeal.status,
        "decided_by": appeal.decided_by.username if appeal.decided_by else None,
        "decided_at": appeal.decided_at,
        "decision_reason": appeal.decision_reason,
    }


def appeals_queryset():
    return SuspensionAppeal.objects.select_related("agent", "suspended_by", "decided_by").order_by("-submitted_at")


class AppealTextSerializer(StrictSerializer):
    text = serializers.CharField(max_length=5000)


class MyAppealView(APIView):
    """A suspended agent's appeal: POST {text} to appeal, GET to see one's appeals and their decisions."""

    permission_classes = [IsAgent]
    pagination = Pagination(default_limit=100, max_limit=500)

    @extend_schema(responses={200: JSON})
    def get(self, request):
        appeals = self.pagination.page(request, appeals_queryset().filter(agent__user=request.user))
        return Response([appeal_payload(a) for a in appeals])

    @extend_schema(
        request=AppealTextSerializer,
        responses={201: JSON},
        examples=[OpenApiExample("Appeal", value={"text": "The customer was abusive first; see ticket chat-88."})],
    )
    def post(self, request):
        data = AppealTextSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = supervision.appeal_submit(agent=request.user.agent, text=data.validated_data["text"])
        return Response(appeal_payload(appeals_queryset().get(pk=appeal.pk)), status=status.HTTP_201_CREATED)


class AppealListView(APIView):
    permission_classes = [IsSupervisor]
    pagination = Pagination(default_limit=200, max_limit=500)

    @extend_schema(parameters=[OpenApiParameter("status", str)], responses={200: JSON})
    def get(self, request):
        appeals = appeals_queryset()
        if status_filter := query_text(request, "status", max_length=QUERY_TEXT_MAX_LENGTH):
            appeals = appeals.filter(status=status_filter)
        return Response([appeal_payload(a) for a in self.pagination.page(request, appeals)])


class AppealDecisionSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=["reinstate", "uphold"])
    reason = serializers.CharField(max_length=2000)


class AppealDecideView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(
        request=AppealDecisionSerializer,
        responses={200: JSON},
        examples=[
            OpenApiExample("Reinstate", value={"decision": "reinstate", "reason": "Chat log supports the agent."})
        ],
    )
    def post(self, request, appeal_id):
        data = AppealDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = supervision.appeal_decide(appeal_id=appeal_id, actor=request.user, **data.validated_data)
        return Response(appeal_payload(appeals_queryset().get(pk=appeal.pk)))


# ---------------------------------------------------------------- shifts


class ShiftSerializer(StrictSerializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    # The service's own bounds (agents.shifts), declared here too so the schema documents them.
    places = serializers.IntegerField(
        min_value=1,
        max_value=500,
        error_messages={"min_value": "A shift needs at least one place.", "max_value": "At most 500 places per shift."},
    )
    languages = serializers.ListField(child=serializers.CharField(max_length=8), required=False, default=list)
    skills = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list)
    hourly_guarantee = serializers.DictField(
        required=False, help_text='{"amount": "12.00", "currency": "EUR"}: minimum earnings per hour online'
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_hourly_guarantee(self, value):
        try:
            amount = Decimal(str(value.get("amount", "0")))
        except ArithmeticError as exc:
            raise serializers.ValidationError('amount must be a decimal string, e.g. "12.00".') from exc
        return {"amount": amount, "currency": str(value.get("currency", "EUR"))}


def shift_payload(shift: Shift, *, agent=None) -> dict:
    booked = [b.agent for b in shift.bookings.all()]
    payload = {
        "id": str(shift.pk),
        "starts_at": shift.starts_at,
        "ends_at": shift.ends_at,
        "languages": shift.languages,
        "skills": shift.skills,
        "places": shift.places,
        "booked": shift.booked_count,
        "places_left": shift.places - shift.booked_count,
        "hourly_guarantee": {
            "amount": f"{shift.hourly_guarantee_amount:.2f}",
            "currency": shift.hourly_guarantee_currency,
        },
        "note": shift.note,
        "cancelled": shift.cancelled_at is not None,
        "release_until": shift.starts_at - shifts.RELEASE_CUTOFF,
    }
    if agent is None:
        payload["agents"] = [{"id": str(a.pk), "display_name": a.display_name} for a in booked]
    else:
        payload["booked_by_me"] = any(a.pk == agent.pk for a in booked)
    return payload


class ShiftListView(APIView):
    """GET: upcoming shifts (agents see whether they hold a place). POST (supervisors): publish one."""

    permission_classes = [role_permission(Role.SUPERVISOR, Role.AGENT)]
    pagination = Pagination(default_limit=200, max_limit=500)

    @extend_schema(responses={200: JSON})
    def get(self, request):
        agent = request.user.agent if request.user.role == Role.AGENT else None
        upcoming = self.pagination.page(request, shifts.shifts_upcoming())
        return Response([shift_payload(shift, agent=agent) for shift in upcoming])

    @extend_schema(
        request=ShiftSerializer,
        responses={201: JSON},
        examples=[
            OpenApiExample(
                "Evening, German payments",
                value={
                    "starts_at": "2026-11-23T17:00:00+01:00",
                    "ends_at": "2026-11-23T21:00:00+01:00",
                    "places": 4,
                    "languages": ["de"],
                    "skills": ["payments"],
                    "hourly_guarantee": {"amount": "14.00", "currency": "EUR"},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        if request.user.role != Role.SUPERVISOR:
            raise DomainError("forbidden", "Only supervisors publish shifts.", http_status=403)
        data = ShiftSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        guarantee = values.pop("hourly_guarantee", None) or {"amount": Decimal("0.00"), "currency": "EUR"}
        shift = shifts.shift_publish(
            actor=request.user,
            hourly_guarantee_amount=guarantee["amount"],
            hourly_guarantee_currency=guarantee["currency"],
            **values,
        )
        return Response(shift_payload(shift), status=status.HTTP_201_CREATED)


class ShiftClaimView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(request=None, responses={200: JSON})
    def post(self, request, shift_id):
        booking = shifts.shift_claim(shift_id=shift_id, agent=request.user.agent)
        shift = Shift.objects.prefetch_related("bookings__agent").get(pk=booking.shift_id)
        return Response(shift_payload(shift, agent=request.user.agent))


class ShiftReleaseView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(request=None, responses={200: JSON})
    def post(self, request, shift_id):
        shift = shifts.shift_release(shift_id=shift_id, agent=request.user.agent)
        shift = Shift.objects.prefetch_related("bookings__agent").get(pk=shift.pk)
        return Response(shift_payload(shift, agent=request.user.agent))


class ShiftCancelView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(request=OptionalReasonSerializer, responses={200: JSON})
    def post(self, request, shift_id):
        data = OptionalReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        shift = shifts.shift_cancel(shift_id=shift_id, actor=request.user, **data.validated_data)
        return Response(shift_payload(Shift.objects.prefetch_related("bookings__agent").get(pk=shift.pk)))


class CoverageView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="1 to 28 (default 14)")], responses={200: JSON}
    )
    def get(self, request):
        return Response(board.coverage(days=query_int(request, "days", minimum=1, maximum=28, default=14)))


class QualityView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="1 to 365 (default 30)")], responses={200: JSON}
    )
    def get(self, request):
        return Response(board.quality_report(days=query_int(request, "days", minimum=1, maximum=365, default=30)))


class PolicyHistoryView(APIView):
    permission_classes = [IsSupervisor]
    pagination = Pagination(default_limit=50, max_limit=500)

    @extend_schema(responses={200: JSON})
    def get(self, request):
        return Response(self.pagination.page_from(request, lambda limit: board.policy_history(limit=limit)))
