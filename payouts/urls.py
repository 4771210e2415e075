from django.urls import path

from payouts import api

urlpatterns = [
    path("earnings/", api.EarningsView.as_view(), name="earnings"),
    path("shift-guarantees/", api.ShiftGuaranteeListView.as_view(), name="shift-guarantee-list"),
    path("pay-adjustments/", api.PayAdjustmentListView.as_view(), name="pay-adjustment-list"),
    path("rate-cards/", api.RateCardListView.as_view(), name="rate-card-list"),
    path("rate-cards/current/", api.RateCardCurrentView.as_view(), name="rate-card-current"),
    path("payout-batches/", api.PayoutBatchListView.as_view(), name="payout-batch-list"),
    path("payout-batches/<uuid:batch_id>/", api.PayoutBatchDetailView.as_view(), name="payout-batch-detail"),
    path("payout-batches/<uuid:batch_id>/approve/", api.PayoutBatchApproveView.as_view(), name="payout-batch-approve"),
    path(
        "payout-batches/<uuid:batch_id>/mark-paid/",
        api.PayoutBatchMarkPaidView.as_view(),
        name="payout-batch-mark-paid",
    ),
    path("payout-batches/<uuid:batch_id>/export.csv", api.PayoutBatchCsvView.as_view(), name="payout-batch-csv"),
    path("payout-batches/<uuid:batch_id>/export.xml", api.PayoutBatchXmlView.as_view(), name="payout-batch-xml"),
]
