"""The supervisor's pages, under /supervisor/ (the live board is /supervisor/ itself)."""

from django.urls import path

from supervisor import hybrid_pages, pages

urlpatterns = [
    path("supervisor/", pages.board_page, name="supervisor-home"),
    path("supervisor/tickets/", pages.tickets_page, name="supervisor-tickets"),
    path("supervisor/tickets/<uuid:ticket_id>/", pages.ticket_page, name="supervisor-ticket"),
    path("supervisor/tickets/<uuid:ticket_id>/monitor/", pages.ticket_monitor_page, name="supervisor-ticket-monitor"),
    path("supervisor/pool/", pages.pool_page, name="supervisor-pool"),
    path("supervisor/pool/<uuid:agent_id>/", pages.agent_page, name="supervisor-agent"),
    path("supervisor/appeals/", pages.appeals_page, name="supervisor-appeals"),
    path("supervisor/shifts/", pages.shifts_page, name="supervisor-shifts"),
    path("supervisor/quality/", pages.quality_page, name="supervisor-quality"),
    path("supervisor/policy/", pages.policy_page, name="supervisor-policy"),
    path("supervisor/hybrid/", hybrid_pages.hybrid_page, name="supervisor-hybrid"),
]
