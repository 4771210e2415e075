"""The REST API, /api/v1/ (documented at /api/docs/). Every view parses its input, calls one service,
action or selector, and serializes the answer."""

from django.urls import path

from api import agents, conversations, data_export, dispatch, payouts, supervisor, tickets

urlpatterns = [
    # people, skills, integrations (api.agents)
    path("auth/token/", agents.TokenView.as_view(), name="auth-token"),
    path("me/", agents.MeView.as_view(), name="me"),
    path("me/export/", data_export.MyDataExportView.as_view(), name="me-export"),
    path("me/payout-details/", agents.PayoutDetailsView.as_view(), name="me-payout-details"),
    path("skills/", agents.SkillListView.as_view(), name="skill-list"),
    path("agents/", agents.AgentListView.as_view(), name="agent-list"),
    path("agents/<uuid:agent_id>/", agents.AgentDetailView.as_view(), name="agent-detail"),
    path("agents/<uuid:agent_id>/suspend/", agents.AgentSuspendView.as_view(), name="agent-suspend"),
    path("agents/<uuid:agent_id>/reinstate/", agents.AgentReinstateView.as_view(), name="agent-reinstate"),
    path("integrations/", agents.IntegrationListView.as_view(), name="integration-list"),
    # escalations, tickets, messages, webhooks (api.tickets)
    path("tickets/", tickets.TicketListView.as_view(), name="ticket-list"),
    path("tickets/<uuid:ticket_id>/", tickets.TicketDetailView.as_view(), name="ticket-detail"),
    path("tickets/<uuid:ticket_id>/messages/", tickets.TicketMessageView.as_view(), name="ticket-messages"),
    path("tickets/<uuid:ticket_id>/cancel/", tickets.TicketCancelView.as_view(), name="ticket-cancel"),
    path("tickets/<uuid:ticket_id>/csat/", tickets.TicketCsatView.as_view(), name="ticket-csat"),
    path("tickets/<uuid:ticket_id>/resolve/", tickets.TicketResolveView.as_view(), name="ticket-resolve"),
    path("tickets/<uuid:ticket_id>/hand-back/", tickets.TicketHandBackView.as_view(), name="ticket-hand-back"),
    path("tickets/<uuid:ticket_id>/notes/", tickets.TicketNotesView.as_view(), name="ticket-notes"),
    path("canned-responses/", tickets.CannedResponseListView.as_view(), name="canned-response-list"),
    path(
        "canned-responses/<uuid:response_id>/",
        tickets.CannedResponseDetailView.as_view(),
        name="canned-response-detail",
    ),
    path("tickets/<uuid:ticket_id>/transfer/", tickets.TicketTransferView.as_view(), name="ticket-transfer"),
    path("tickets/<uuid:ticket_id>/wrap-up-done/", tickets.TicketWrapUpDoneView.as_view(), name="ticket-wrap-up-done"),
    path("skill-keywords/", tickets.SkillKeywordsView.as_view(), name="skill-keywords"),
    path("webhook-deliveries/", tickets.WebhookDeliveryListView.as_view(), name="webhook-delivery-list"),
    path(
        "webhook-deliveries/<uuid:delivery_id>/redeliver/",
        tickets.WebhookRedeliverView.as_view(),
        name="webhook-delivery-redeliver",
    ),
    path("coaching-export.jsonl", tickets.CoachingExportView.as_view(), name="coaching-export"),
    # the hybrid loop: the bot's conversations, availability, the hybrid figures (api.conversations)
    path("conversations/", conversations.ConversationListView.as_view(), name="conversation-list"),
    path(
        "conversations/<uuid:conversation_id>/",
        conversations.ConversationDetailView.as_view(),
        name="conversation-detail",
    ),
    path("availability/", conversations.AvailabilityView.as_view(), name="availability"),
    path("quality/hybrid/", conversations.HybridQualityView.as_view(), name="quality-hybrid"),
    # offers and the dispatch policy (api.dispatch)
    path("offers/", dispatch.OfferListView.as_view(), name="offer-list"),
    path("offers/<uuid:offer_id>/", dispatch.OfferDetailView.as_view(), name="offer-detail"),
    path("offers/<uuid:offer_id>/accept/", dispatch.OfferAcceptView.as_view(), name="offer-accept"),
    path("offers/<uuid:offer_id>/decline/", dispatch.OfferDeclineView.as_view(), name="offer-decline"),
    path("dispatch/tickets/<uuid:ticket_id>/offers/", dispatch.TicketDecisionsView.as_view(), name="ticket-decisions"),
    path("dispatch-policy/", dispatch.DispatchPolicyView.as_view(), name="dispatch-policy"),
    # the supervisor's tools (api.supervisor)
    path("dashboard/", supervisor.DashboardView.as_view(), name="dashboard"),
    path("alerts/", supervisor.AlertListView.as_view(), name="alert-list"),
    path("alerts/<uuid:alert_id>/acknowledge/", supervisor.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("supervisor/tickets/", supervisor.SupervisorTicketListView.as_view(), name="supervisor-ticket-list"),
    path(
        "supervisor/tickets/<uuid:ticket_id>/timeline/", supervisor.TicketTimelineView.as_view(), name="ticket-timeline"
    ),
    path(
        "supervisor/tickets/<uuid:ticket_id>/reassign/", supervisor.TicketReassignView.as_view(), name="ticket-reassign"
    ),
    path("supervisor/tickets/<uuid:ticket_id>/requeue/", supervisor.TicketRequeueView.as_view(), name="ticket-requeue"),
    path(
        "supervisor/tickets/<uuid:ticket_id>/cancel/",
        supervisor.TicketSupervisorCancelView.as_view(),
        name="ticket-supervisor-cancel",
    ),
    path("pool/", supervisor.PoolView.as_view(), name="pool"),
    path("agents/<uuid:agent_id>/approve/", supervisor.AgentApproveView.as_view(), name="agent-approve"),
    path("agents/<uuid:agent_id>/certify/", supervisor.AgentCertifyView.as_view(), name="agent-certify"),
    path("agents/<uuid:agent_id>/pseudonymise/", supervisor.AgentPseudonymiseView.as_view(), name="agent-pseudonymise"),
    path("me/appeal/", supervisor.MyAppealView.as_view(), name="me-appeal"),
    path("appeals/", supervisor.AppealListView.as_view(), name="appeal-list"),
    path("appeals/<uuid:appeal_id>/decide/", supervisor.AppealDecideView.as_view(), name="appeal-decide"),
    path("shifts/", supervisor.ShiftListView.as_view(), name="shift-list"),
    path("shifts/<uuid:shift_id>/claim/", supervisor.ShiftClaimView.as_view(), name="shift-claim"),
    path("shifts/<uuid:shift_id>/release/", supervisor.ShiftReleaseView.as_view(), name="shift-release"),
    path("shifts/<uuid:shift_id>/cancel/", supervisor.ShiftCancelView.as_view(), name="shift-cancel"),
    path("staffing/coverage/", supervisor.CoverageView.as_view(), name="staffing-coverage"),
    path("quality/", supervisor.QualityView.as_view(), name="quality"),
    path("dispatch-policy/history/", supervisor.PolicyHistoryView.as_view(), name="dispatch-policy-history"),
    # pay, rate cards, payout batches (api.payouts)
    path("earnings/", payouts.EarningsView.as_view(), name="earnings"),
    path("shift-guarantees/", payouts.ShiftGuaranteeListView.as_view(), name="shift-guarantee-list"),
    path("pay-adjustments/", payouts.PayAdjustmentListView.as_view(), name="pay-adjustment-list"),
    path("rate-cards/", payouts.RateCardListView.as_view(), name="rate-card-list"),
    path("rate-cards/current/", payouts.RateCardCurrentView.as_view(), name="rate-card-current"),
    path("payout-batches/", payouts.PayoutBatchListView.as_view(), name="payout-batch-list"),
    path("payout-batches/<uuid:batch_id>/", payouts.PayoutBatchDetailView.as_view(), name="payout-batch-detail"),
    path(
        "payout-batches/<uuid:batch_id>/approve/", payouts.PayoutBatchApproveView.as_view(), name="payout-batch-approve"
    ),
    path(
        "payout-batches/<uuid:batch_id>/mark-paid/",
        payouts.PayoutBatchMarkPaidView.as_view(),
        name="payout-batch-mark-paid",
    ),
    path("payout-batches/<uuid:batch_id>/export.csv", payouts.PayoutBatchCsvView.as_view(), name="payout-batch-csv"),
    path("payout-batches/<uuid:batch_id>/export.xml", payouts.PayoutBatchXmlView.as_view(), name="payout-batch-xml"),
]
