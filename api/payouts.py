"""REST views of pay and payouts (CONTRACT.md "Pay and payouts"): parse, call one service or selector,
serialize."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from actions.rules import rate_card_change
from agents.models import Agent, Role
from agents.permissions import IsFinance, role_permission
from core.errors import DomainError, InvalidInput, NotFound
from core.query import Pagination
from payouts import batches, selectors, services
from payouts import serializers as s


def _agent_in_scope(user, agent_id, *, what: str):
    """The agent whose `what` the caller may list: an agent only their own (403 for another's), finance
    whoever it names (None: everyone)."""
    if user.role != Role.AGENT:
        return agent_id
    own = Agent.objects.filter(user=user).values_list("pk", flat=True).first()
    if agent_id is not None and agent_id != own:
        raise DomainError("forbidden", f"Agents see their own {what} only.", http_status=status.HTTP_403_FORBIDDEN)
    return own


class EarningsView(APIView):
    permission_classes = [role_permission(Role.AGENT, Role.FINANCE)]
    pagination = Pagination(default_limit=1000, max_limit=10000)

    @extend_schema(
        parameters=[
            OpenApiParameter("agent", str, description="finance only: one agent's lines"),
            OpenApiParameter("from", OpenApiTypes.DATE, description="first UTC day, YYYY-MM-DD (2000 to 2100)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last UTC day, YYYY-MM-DD (2000 to 2100)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        query = s.EarningsQuerySerializer(data=Pagination.filters(request.query_params))
        query.is_valid(raise_exception=True)
        params = query.validated_data
        agent_id = _agent_in_scope(request.user, params.get("agent"), what="lines")
        lines = selectors.pay_line_list(agent_id=agent_id, date_from=params.get("from"), date_to=params.get("to"))
        return Response([s.pay_line_payload(line) for line in self.pagination.page(request, lines)])


class ShiftGuaranteeListView(APIView):
    """Settled hourly guarantees of booked shifts: met, or topped up by a pay line."""

    permission_classes = [role_permission(Role.AGENT, Role.FINANCE)]
    pagination = Pagination(default_limit=200, max_limit=1000)

    @extend_schema(
        operation_id="shift_guarantees_list",
        parameters=[
            OpenApiParameter("agent", str, description="finance only: one agent's shifts"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        query = s.ShiftGuaranteeQuerySerializer(data=Pagination.filters(request.query_params))
        query.is_valid(raise_exception=True)
        params = query.validated_data
        agent_id = _agent_in_scope(request.user, params.get("agent"), what="shifts")
        closes = selectors.shift_guarantee_close_list(agent_id=agent_id)
        return Response([s.shift_guarantee_close_payload(close) for close in self.pagination.page(request, closes)])


class PayoutBatchListView(APIView):
    permission_classes = [IsFinance]
    pagination = Pagination(default_limit=500, max_limit=500)

    @extend_schema(operation_id="payout_batches_list", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(
            [s.payout_batch_payload(batch) for batch in self.pagination.page(request, selectors.payout_batch_list())]
        )

    @extend_schema(request=s.PayoutBatchCreateSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = s.PayoutBatchCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = batches.payout_batch_create(actor=request.user, **data.validated_data)
        batch = selectors.payout_batch_get(batch_id=batch.pk)
        items = selectors.payout_item_list(batch=batch)
        return Response(s.payout_batch_payload(batch, items=items), status=status.HTTP_201_CREATED)


def _batch(batch_id):
    batch = selectors.payout_batch_get(batch_id=batch_id)
    if batch is None:
        raise NotFound("No such payout batch.")
    return batch


class PayoutBatchDetailView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, batch_id):
        batch = _batch(batch_id)
        return Response(s.payout_batch_payload(batch, items=selectors.payout_item_list(batch=batch)))


class PayoutBatchApproveView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, batch_id):
        batch = batches.payout_batch_approve(actor=request.user, batch_id=batch_id)
        return Response(s.payout_batch_payload(_batch(batch.pk)))


class PayoutBatchMarkPaidView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, batch_id):
        batch = batches.payout_batch_mark_paid(actor=request.user, batch_id=batch_id)
        return Response(s.payout_batch_payload(_batch(batch.pk)))


def _download(content: bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class PayoutBatchCsvView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request, batch_id):
        batch, content = batches.payout_batch_export_csv(actor=request.user, batch_id=batch_id)
        return _download(content, content_type="text/csv; charset=utf-8", filename=f"{batch.message_id}.csv")


class PayoutBatchXmlView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(
        parameters=[OpenApiParameter("version", str, enum=["pain.001.001.09", "pain.001.001.03"])],
        responses={(200, "application/xml"): bytes},
    )
    def get(self, request, batch_id):
        batch, content, version = batches.payout_batch_export_xml(
            actor=request.user, batch_id=batch_id, version=request.query_params.get("version")
        )
        return _download(content, content_type="application/xml", filename=f"{batch.message_id}.{version}.xml")


class PayAdjustmentListView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(request=s.PayAdjustmentSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = s.PayAdjustmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        agent = Agent.objects.filter(pk=params.pop("agent")).first()
        if agent is None:
            raise InvalidInput({"agent": ["No such agent."]})
        ticket_id = params.pop("ticket", None)
        ticket = None
        if ticket_id is not None:
            from tickets.models import Ticket

            ticket = Ticket.objects.filter(pk=ticket_id).first()
            if ticket is None:
                raise InvalidInput({"ticket": ["No such ticket."]})
        line = services.pay_adjustment_create(actor=request.user, agent=agent, ticket=ticket, **params)
        return Response(s.pay_line_payload(line), status=status.HTTP_201_CREATED)


class RateCardListView(APIView):
    permission_classes = [IsFinance]
    pagination = Pagination(default_limit=200, max_limit=500)

    @extend_schema(operation_id="rate_cards_list", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(
            [s.rate_card_payload(card) for card in self.pagination.page(request, selectors.rate_card_list())]
        )

    @extend_schema(request=s.RateCardSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = s.RateCardSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        params["currency"] = params["currency"].upper()
        card = rate_card_change(actor=request.user, **params)
        return Response(s.rate_card_payload(card), status=status.HTTP_201_CREATED)


class RateCardCurrentView(APIView):
    """The card in force now (agents read it too: how their pay is computed)."""

    permission_classes = [role_permission(Role.AGENT, Role.FINANCE, Role.SUPERVISOR)]

    @extend_schema(parameters=[OpenApiParameter("currency", str)], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        currency = request.query_params.get("currency")
        if currency is not None and not serializers.RegexField(r"^[A-Za-z]{3}$").run_validation(currency):
            raise InvalidInput({"currency": ["An ISO 4217 code."]})
        return Response(s.rate_card_payload(services.rate_card_in_force(currency=currency and currency.upper())))
