from django.urls import path

from tickets import api

urlpatterns = [
    path("tickets/", api.TicketListView.as_view(), name="ticket-list"),
    path("tickets/<uuid:ticket_id>/", api.TicketDetailView.as_view(), name="ticket-detail"),
    path("tickets/<uuid:ticket_id>/messages/", api.TicketMessageView.as_view(), name="ticket-messages"),
    path("tickets/<uuid:ticket_id>/cancel/", api.TicketCancelView.as_view(), name="ticket-cancel"),
    path("tickets/<uuid:ticket_id>/csat/", api.TicketCsatView.as_view(), name="ticket-csat"),
    path("tickets/<uuid:ticket_id>/resolve/", api.TicketResolveView.as_view(), name="ticket-resolve"),
    path("tickets/<uuid:ticket_id>/hand-back/", api.TicketHandBackView.as_view(), name="ticket-hand-back"),
    path("tickets/<uuid:ticket_id>/wrap-up-done/", api.TicketWrapUpDoneView.as_view(), name="ticket-wrap-up-done"),
    path("skill-keywords/", api.SkillKeywordsView.as_view(), name="skill-keywords"),
    path("webhook-deliveries/", api.WebhookDeliveryListView.as_view(), name="webhook-delivery-list"),
    path(
        "webhook-deliveries/<uuid:delivery_id>/redeliver/",
        api.WebhookRedeliverView.as_view(),
        name="webhook-delivery-redeliver",
    ),
    path("coaching-export.jsonl", api.CoachingExportView.as_view(), name="coaching-export"),
]
