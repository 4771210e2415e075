from django.urls import path

from payouts import views

urlpatterns = [
    path("finance/batches/", views.batch_list, name="payouts-batches"),
    path("finance/batches/<uuid:batch_id>/", views.batch_detail, name="payouts-batch"),
    path("finance/adjustments/", views.adjustments, name="payouts-adjustments"),
    path("finance/rate-cards/", views.rate_cards, name="payouts-rate-cards"),
    path("algorithm-notice/", views.algorithm_notice, name="algorithm-notice"),
]
