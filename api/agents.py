from django.contrib.auth import authenticate
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import serializers as s
from agents import services
from agents.lockout import login_failure_record, login_lockout_check, login_success_record
from agents.models import Agent, Role, Skill
from agents.permissions import IsAgent, IsSupervisor
from agents.selectors import agent_for_user, agent_list
from core.query import SEARCH_MAX_LENGTH, Pagination, query_text
from core.ratelimit import throttle_for


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Per client address; wrong passwords are also counted per username (agents.lockout).
    throttle_classes = [throttle_for("token")]

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={200: s.TokenResponseSerializer},
        examples=[OpenApiExample("Agent", value={"username": "agent01", "password": "demo"}, request_only=True)],
    )
    def post(self, request):
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        login_lockout_check(username=username)
        user = authenticate(request, **data.validated_data)
        if user is None:
            locked = login_failure_record(username=username)
            if locked is not None:
                raise locked
        if user is None or not user.role:
            return Response(
                {"code": "invalid_credentials", "message": "Wrong username or password."},
                status=status.HTTP_401_UNAUTHORIZED,
            )
        login_success_record(username=username)
        return Response({"token": services.person_token_issue(user=user), "role": user.role})


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        agent = agent_for_user(request.user) if request.user.role == Role.AGENT else None
        return Response(s.me_payload(request.user, agent))

    @extend_schema(
        request=s.DisplayPreferencesSerializer,
        responses=s.MeSerializer,
        description='The agent\'s interface language (en, de, sv) and time zone (an IANA name); "" follows the '
        "browser. A bad value is refused (400 naming the field) and nothing is changed.",
        examples=[
            OpenApiExample(
                "Swedish, Stockholm time",
                value={"ui_language": "sv", "time_zone": "Europe/Stockholm"},
                request_only=True,
            )
        ],
    )
    def patch(self, request):
        if request.user.role != Role.AGENT:
            self.permission_denied(request, message="Only an agent has display preferences.")
        data = s.DisplayPreferencesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_display_preferences_set(agent=agent_for_user(request.user), **data.validated_data)
        return Response(s.me_payload(request.user, agent))


class PayoutDetailsView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        request=s.PayoutDetailsSerializer,
        responses=s.MeSerializer,
        examples=[
            OpenApiExample(
                "German account",
                value={
                    "holder": "Anna Example",
                    "iban": "DE89370400440532013000",
                    "bic": "COBADEFFXXX",
                    "address": {"street": "Hauptstr. 1", "postcode": "10115", "town": "Berlin", "country": "DE"},
                },
                request_only=True,
            )
        ],
    )
    def put(self, request):
        data = s.PayoutDetailsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.payout_details_set(agent=request.user.agent, **data.validated_data)
        return Response(s.me_payload(request.user, agent_for_user(agent.user)))


class SkillListView(APIView):
    permission_classes = [IsSupervisor]
    pagination = Pagination(default_limit=500, max_limit=1000)

    @extend_schema(request=s.SkillSerializer, responses={201: s.SkillSerializer})
    def post(self, request):
        data = s.SkillSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        skill = services.skill_create(actor=request.user, **data.validated_data)
        return Response({"code": skill.code, "name": skill.name}, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.SkillSerializer(many=True))
    def get(self, request):

        skills = self.pagination.page(request, Skill.objects.order_by("code"))
        return Response([{"code": skill.code, "name": skill.name} for skill in skills])


class AgentListView(APIView):
    permission_classes = [IsSupervisor]
    pagination = Pagination(default_limit=500, max_limit=1000)

    @extend_schema(
        request=s.AgentCreateSerializer,
        responses={201: s.AgentSerializer},
        examples=[
            OpenApiExample(
                "New agent",
                value={
                    "username": "maria",
                    "password": "a-good-password",
                    "display_name": "Maria",
                    "languages": ["de", "en"],
                    "skills": {"payments": 3},
                    "max_concurrent": 2,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = s.AgentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_create(actor=request.user, **data.validated_data)
        return Response(s.AgentSerializer(agent_list().get(pk=agent.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description=f"in names, at most {SEARCH_MAX_LENGTH} characters")],
        responses=s.AgentSerializer(many=True),
    )
    def get(self, request):
        agents = agent_list(search=query_text(request, "search"))
        return Response(s.AgentSerializer(self.pagination.page(request, agents), many=True).data)


class AgentDetailView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(responses=s.AgentSerializer)
    def get(self, request, agent_id):
        return Response(s.AgentSerializer(get_object_or_404(agent_list(), pk=agent_id)).data)

    @extend_schema(request=s.AgentUpdateSerializer, responses=s.AgentSerializer)
    def patch(self, request, agent_id):
        agent = get_object_or_404(Agent, pk=agent_id)
        data = s.AgentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.agent_update(agent=agent, actor=request.user, **data.validated_data)
        return Response(s.AgentSerializer(agent_list().get(pk=agent.pk)).data)


class AgentSuspendView(APIView):
    permission_classes = [IsSupervisor]
    decide = staticmethod(services.agent_suspend)

    @extend_schema(
        request=s.ReasonSerializer,
        responses=s.AgentSerializer,
        examples=[OpenApiExample("Reason", value={"reason": "Repeated rude replies"}, request_only=True)],
    )
    def post(self, request, agent_id):
        agent = get_object_or_404(Agent, pk=agent_id)
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.decide(agent=agent, actor=request.user, reason=data.validated_data["reason"])
        return Response(s.AgentSerializer(agent_list().get(pk=agent.pk)).data)


class AgentReinstateView(AgentSuspendView):
    decide = staticmethod(services.agent_reinstate)


class IntegrationListView(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(request=s.IntegrationCreateSerializer, responses={201: s.IntegrationCreatedSerializer})
    def post(self, request):
        data = s.IntegrationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        integration, token = services.integration_create(actor=request.user, **data.validated_data)
        return Response(
            {
                "id": integration.id,
                "name": integration.name,
                "webhook_url": integration.webhook_url,
                "token": token,
                "webhook_secret": integration.webhook_secret,
            },
            status=status.HTTP_201_CREATED,
        )
