from decimal import Decimal

from rest_framework import serializers

from config.api import StrictSerializer
from dispatch.escalation import validate_steps


class DeclineSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class OfferAnswerSerializer(serializers.Serializer):
    offer_id = serializers.UUIDField()
    ticket_id = serializers.UUIDField()
    status = serializers.CharField()


class OfferSerializer(serializers.Serializer):
    offer_id = serializers.UUIDField(source="id")
    ticket_id = serializers.UUIDField()
    agent_id = serializers.UUIDField()
    agent_display_name = serializers.CharField(source="agent.display_name")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    decline_reason = serializers.CharField()
    withdraw_reason = serializers.CharField()
    surge = serializers.DecimalField(max_digits=4, decimal_places=2)
    pay_estimate_amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    pay_estimate_currency = serializers.CharField()
    why = serializers.ListField(child=serializers.CharField())
    policy_version = serializers.IntegerField(source="policy.version")


class OfferDecisionSerializer(OfferSerializer):
    decision = serializers.JSONField(help_text="The full decision record: pool, exclusions by reason, scores.")


class EscalationStepSerializer(serializers.Serializer):
    after_seconds = serializers.IntegerField(min_value=1, max_value=86400)
    action = serializers.ChoiceField(choices=["relax_skill_level", "widen_fanout", "alert_supervisors"])
    value = serializers.IntegerField(required=False, allow_null=True)


class RankingWeightsSerializer(StrictSerializer):
    skill_fit = serializers.FloatField(min_value=0, max_value=10)
    quality = serializers.FloatField(min_value=0, max_value=10)
    fairness = serializers.FloatField(min_value=0, max_value=10)
    shift = serializers.FloatField(min_value=0, max_value=10)


POLICY_FIELDS = (
    "offer_timeout_seconds",
    "offer_fanout",
    "escalation_steps",
    "ranking_weights",
    "surge_min",
    "surge_max",
    "sla_target_seconds",
    "sla_target_ratio",
    "presence_grace_seconds",
    "requeue_after_seconds",
    "max_missed_offers_in_row",
    "default_skill_level",
)


class PolicyUpdateSerializer(StrictSerializer):
    offer_timeout_seconds = serializers.IntegerField(min_value=3, max_value=300, required=False)
    offer_fanout = serializers.IntegerField(min_value=1, max_value=50, required=False)
    escalation_steps = serializers.JSONField(required=False, help_text="List of {after_seconds, action, value}.")
    ranking_weights = RankingWeightsSerializer(required=False)
    surge_min = serializers.DecimalField(max_digits=4, decimal_places=2, min_value=Decimal("1.00"), required=False)
    surge_max = serializers.DecimalField(max_digits=4, decimal_places=2, max_value=Decimal("5.00"), required=False)
    sla_target_seconds = serializers.IntegerField(min_value=5, max_value=3600, required=False)
    sla_target_ratio = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=Decimal("0.10"), max_value=Decimal("1.00"), required=False
    )
    presence_grace_seconds = serializers.IntegerField(min_value=0, max_value=600, required=False)
    requeue_after_seconds = serializers.IntegerField(min_value=10, max_value=3600, required=False)
    max_missed_offers_in_row = serializers.IntegerField(min_value=0, max_value=20, required=False)
    default_skill_level = serializers.IntegerField(min_value=1, max_value=5, required=False)
    change_reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate_escalation_steps(self, value):
        problems = validate_steps(value)
        if problems:
            raise serializers.ValidationError(problems)
        return value


class PolicySerializer(serializers.Serializer):
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    change_reason = serializers.CharField()
    offer_timeout_seconds = serializers.IntegerField()
    offer_fanout = serializers.IntegerField()
    escalation_steps = EscalationStepSerializer(many=True)
    ranking_weights = serializers.DictField(child=serializers.FloatField())
    surge_min = serializers.DecimalField(max_digits=4, decimal_places=2)
    surge_max = serializers.DecimalField(max_digits=4, decimal_places=2)
    sla_target_seconds = serializers.IntegerField()
    sla_target_ratio = serializers.DecimalField(max_digits=3, decimal_places=2)
    presence_grace_seconds = serializers.IntegerField()
    requeue_after_seconds = serializers.IntegerField()
    max_missed_offers_in_row = serializers.IntegerField()
    default_skill_level = serializers.IntegerField()
