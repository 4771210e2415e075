from django.urls import path

from dispatch import supervisor_api as api

urlpatterns = [
    path("dashboard/", api.DashboardView.as_view(), name="dashboard"),
    path("alerts/", api.AlertListView.as_view(), name="alert-list"),
    path("alerts/<uuid:alert_id>/acknowledge/", api.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("supervisor/tickets/", api.SupervisorTicketListView.as_view(), name="supervisor-ticket-list"),
    path("supervisor/tickets/<uuid:ticket_id>/timeline/", api.TicketTimelineView.as_view(), name="ticket-timeline"),
    path("supervisor/tickets/<uuid:ticket_id>/reassign/", api.TicketReassignView.as_view(), name="ticket-reassign"),
    path("supervisor/tickets/<uuid:ticket_id>/requeue/", api.TicketRequeueView.as_view(), name="ticket-requeue"),
    path(
        "supervisor/tickets/<uuid:ticket_id>/cancel/",
        api.TicketSupervisorCancelView.as_view(),
        name="ticket-supervisor-cancel",
    ),
    path("pool/", api.PoolView.as_view(), name="pool"),
    path("agents/<uuid:agent_id>/approve/", api.AgentApproveView.as_view(), name="agent-approve"),
    path("agents/<uuid:agent_id>/certify/", api.AgentCertifyView.as_view(), name="agent-certify"),
    path("agents/<uuid:agent_id>/pseudonymise/", api.AgentPseudonymiseView.as_view(), name="agent-pseudonymise"),
    path("me/appeal/", api.MyAppealView.as_view(), name="me-appeal"),
    path("appeals/", api.AppealListView.as_view(), name="appeal-list"),
    path("appeals/<uuid:appeal_id>/decide/", api.AppealDecideView.as_view(), name="appeal-decide"),
    path("shifts/", api.ShiftListView.as_view(), name="shift-list"),
    path("shifts/<uuid:shift_id>/claim/", api.ShiftClaimView.as_view(), name="shift-claim"),
    path("shifts/<uuid:shift_id>/release/", api.ShiftReleaseView.as_view(), name="shift-release"),
    path("shifts/<uuid:shift_id>/cancel/", api.ShiftCancelView.as_view(), name="shift-cancel"),
    path("staffing/coverage/", api.CoverageView.as_view(), name="staffing-coverage"),
    path("quality/", api.QualityView.as_view(), name="quality"),
    path("dispatch-policy/history/", api.PolicyHistoryView.as_view(), name="dispatch-policy-history"),
]
