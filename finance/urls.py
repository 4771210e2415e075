"""Finance's pages, under /finance/."""

from django.urls import path

from finance import pages

urlpatterns = [
    path("finance/", pages.home, name="finance-home"),
    path("finance/batches/", pages.batch_list, name="payouts-batches"),
    path("finance/batches/<uuid:batch_id>/", pages.batch_detail, name="payouts-batch"),
    path("finance/adjustments/", pages.adjustments, name="payouts-adjustments"),
    path("finance/rate-cards/", pages.rate_cards, name="payouts-rate-cards"),
]
