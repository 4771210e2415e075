from django.urls import include, path

from dispatch import api

urlpatterns = [
    path("offers/", api.OfferListView.as_view(), name="offer-list"),
    path("offers/<uuid:offer_id>/", api.OfferDetailView.as_view(), name="offer-detail"),
    path("offers/<uuid:offer_id>/accept/", api.OfferAcceptView.as_view(), name="offer-accept"),
    path("offers/<uuid:offer_id>/decline/", api.OfferDeclineView.as_view(), name="offer-decline"),
    path("dispatch/tickets/<uuid:ticket_id>/offers/", api.TicketDecisionsView.as_view(), name="ticket-decisions"),
    path("dispatch-policy/", api.DispatchPolicyView.as_view(), name="dispatch-policy"),
    path("", include("dispatch.supervisor_urls")),
]
