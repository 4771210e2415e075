from django.urls import path

from agents import api
from agents.data_export_api import MyDataExportView

urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="auth-token"),
    path("me/", api.MeView.as_view(), name="me"),
    path("me/export/", MyDataExportView.as_view(), name="me-export"),
    path("me/payout-details/", api.PayoutDetailsView.as_view(), name="me-payout-details"),
    path("skills/", api.SkillListView.as_view(), name="skill-list"),
    path("agents/", api.AgentListView.as_view(), name="agent-list"),
    path("agents/<uuid:agent_id>/", api.AgentDetailView.as_view(), name="agent-detail"),
    path("agents/<uuid:agent_id>/suspend/", api.AgentSuspendView.as_view(), name="agent-suspend"),
    path("agents/<uuid:agent_id>/reinstate/", api.AgentReinstateView.as_view(), name="agent-reinstate"),
    path("integrations/", api.IntegrationListView.as_view(), name="integration-list"),
]
