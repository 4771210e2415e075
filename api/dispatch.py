from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from actions.rules import policy_change
from agents.models import Role
from agents.permissions import IsAgent, IsSupervisor, role_permission
from core.errors import NotFound
from core.query import Pagination
from dispatch import serializers as s
from dispatch import services
from dispatch.models import Offer
from dispatch.policy import policy_current
from dispatch.selectors import offers_for_ticket, pending_offers_for_agent
from tickets.models import Ticket


def _answer(offer) -> dict:
    return {"offer_id": offer.id, "ticket_id": offer.ticket_id, "status": offer.status}


class OfferAcceptView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(request=None, responses={200: s.OfferAnswerSerializer})
    def post(self, request, offer_id):
        offer = services.offer_accept(offer_id=offer_id, agent=request.user.agent)
        return Response(s.OfferAnswerSerializer(_answer(offer)).data)


class OfferDeclineView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        request=s.DeclineSerializer,
        responses={200: s.OfferAnswerSerializer},
        examples=[OpenApiExample("With a reason", value={"reason": "Not my area"}, request_only=True)],
    )
    def post(self, request, offer_id):
        data = s.DeclineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offer = services.offer_decline(offer_id=offer_id, agent=request.user.agent, **data.validated_data)
        return Response(s.OfferAnswerSerializer(_answer(offer)).data)


class OfferListView(APIView):
    """The agent's pending offers: what a client refetches after reconnecting."""

    permission_classes = [IsAgent]
    pagination = Pagination(default_limit=100, max_limit=500)

    @extend_schema(responses=s.OfferForAgentSerializer(many=True))
    def get(self, request):
        offers = pending_offers_for_agent(agent=request.user.agent).select_related("agent", "policy")
        return Response(s.OfferForAgentSerializer(self.pagination.page(request, offers), many=True).data)


class OfferDetailView(APIView):
    """The offered agent reads their own score and why; a supervisor reads the whole decision record."""

    permission_classes = [role_permission(Role.AGENT, Role.SUPERVISOR)]

    @extend_schema(
        responses=PolymorphicProxySerializer(
            component_name="OfferForReader",
            serializers=[s.OfferForAgentSerializer, s.OfferDecisionSerializer],
            resource_type_field_name=None,
        )
    )
    def get(self, request, offer_id):
        offer = get_object_or_404(Offer.objects.select_related("agent", "policy"), pk=offer_id)
        if request.user.role == Role.AGENT:
            if offer.agent.user_id != request.user.pk:
                raise NotFound("No such offer for you.")
            return Response(s.OfferForAgentSerializer(offer).data)
        return Response(s.OfferDecisionSerializer(offer).data)


class TicketDecisionsView(APIView):
    """Why each offer of a ticket went where it went (supervisors)."""

    permission_classes = [IsSupervisor]
    pagination = Pagination(default_limit=100, max_limit=500)

    @extend_schema(responses=s.OfferDecisionSerializer(many=True))
    def get(self, request, ticket_id):
        ticket = get_object_or_404(Ticket, pk=ticket_id)
        offers = self.pagination.page(request, offers_for_ticket(ticket=ticket))
        return Response(s.OfferDecisionSerializer(offers, many=True).data)


class DispatchPolicyView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(responses=s.PolicySerializer)
    def get(self, request):
        return Response(s.PolicySerializer(policy_current()).data)

    @extend_schema(
        request=s.PolicyUpdateSerializer,
        responses=s.PolicySerializer,
        examples=[
            OpenApiExample(
                "Shorter offers, fan out sooner",
                value={
                    "offer_timeout_seconds": 15,
                    "escalation_steps": [
                        {"after_seconds": 30, "action": "relax_skill_level", "value": 1},
                        {"after_seconds": 45, "action": "widen_fanout", "value": 3},
                        {"after_seconds": 120, "action": "alert_supervisors", "value": None},
                    ],
                    "change_reason": "Evening peak",
                },
                request_only=True,
            )
        ],
    )
    def patch(self, request):
        data = s.PolicyUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        reason = changes.pop("change_reason", "")
        policy = policy_change(actor=request.user, changes=changes, change_reason=reason)
        return Response(s.PolicySerializer(policy).data)
