from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.serializers import LANGUAGE_CODES
from core.rest import StrictSerializer
from dispatch.escalation import validate_steps
from dispatch.models import TRANSFER_NOTE_MAX_CHARS


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
    """For supervisors: the whole record, colleagues included."""

    decision = serializers.JSONField(help_text="The full decision record: pool, exclusions by reason, scores.")


# What of a decision record concerns the offered agent alone. Everything else (runners-up, the pool and
# its exclusion counts, the pool's median offer rate) is about colleagues: in a small pool a count or a
# median identifies a person, so it is left out rather than masked.
OWN_DECISION_KEYS = ("policy_version", "decided_at", "stage", "waited_seconds", "requirements", "weights", "fanout")
OWN_FACT_KEYS = (
    "csat",
    "csat_count",
    "idle_seconds",
    "offers_per_online_hour",
    "skill_levels",
    "on_shift",
    "previous_holder",
)


def decision_for_agent(decision: dict, *, agent_id) -> dict:
    """The decision record as the offered agent reads it: their own score, its components and the facts
    they were computed from, the weights and the rule that applied; no other agent."""
    own = {key: decision[key] for key in OWN_DECISION_KEYS if key in decision}
    winner = decision.get("winner") or {}
    if winner.get("agent_id") == str(agent_id):
        facts = winner.get("facts") or {}
        own.update(
            score=winner.get("score"),
            components=winner.get("components") or {},
            facts={key: facts[key] for key in OWN_FACT_KEYS if key in facts},
        )
    return own


class OwnDecisionSerializer(serializers.Serializer):
    policy_version = serializers.IntegerField(required=False)
    decided_at = serializers.CharField(required=False)
    stage = serializers.DictField(required=False)
    waited_seconds = serializers.IntegerField(required=False)
    requirements = serializers.ListField(child=serializers.DictField(), required=False)
    weights = serializers.DictField(child=serializers.FloatField(), required=False)
    fanout = serializers.IntegerField(required=False)
    score = serializers.FloatField(required=False, help_text="Your score: the sum of weight x component.")
    components = serializers.DictField(child=serializers.FloatField(), required=False)
    facts = serializers.DictField(required=False, help_text="Your own figures the components come from.")


class OfferForAgentSerializer(OfferSerializer):
    """For the offered agent: their own score and why, nothing about colleagues."""

    decision = serializers.SerializerMethodField()

    @extend_schema_field(OwnDecisionSerializer)
    def get_decision(self, offer) -> dict:
        return decision_for_agent(offer.decision, agent_id=offer.agent_id)


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
    "wrap_up_seconds",
    "transfer_timeout_seconds",
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
    wrap_up_seconds = serializers.IntegerField(
        min_value=0,
        max_value=900,
        required=False,
        help_text="After a resolve or hand-back, how long the agent's slot stays taken for notes (0: free at once).",
    )
    transfer_timeout_seconds = serializers.IntegerField(
        min_value=10,
        max_value=1800,
        required=False,
        help_text="How long a warm transfer waits for someone to accept it; then the sender keeps the customer.",
    )
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
    transfer_timeout_seconds = serializers.IntegerField()


# ---------------------------------------------------------------- transfers


class TransferTargetSerializer(StrictSerializer):
    agent_id = serializers.UUIDField(required=False, help_text="A named colleague.")
    skills = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=20, help_text="A pool's skills."
    )
    language = serializers.ChoiceField(
        choices=LANGUAGE_CODES, required=False, help_text="A pool's language (default: the ticket's)."
    )

    def validate(self, attrs):
        if "agent_id" in attrs and ({"skills", "language"} & set(attrs)):
            raise serializers.ValidationError('Either {"agent_id"} or {"skills", "language"}, not both.')
        if "agent_id" not in attrs and not ({"skills", "language"} & set(attrs)):
            raise serializers.ValidationError("Name a colleague (agent_id) or a pool (skills and/or language).")
        return attrs


class TransferRequestSerializer(StrictSerializer):
    to = TransferTargetSerializer()
    note = serializers.CharField(
        max_length=TRANSFER_NOTE_MAX_CHARS,
        required=False,
        allow_blank=True,
        default="",
        help_text=f"Why, for the colleague (at most {TRANSFER_NOTE_MAX_CHARS} characters). Never sent to the bot.",
    )


class TransferSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    ticket_id = serializers.UUIDField()
    status = serializers.CharField()
    to = serializers.SerializerMethodField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()

    def get_to(self, transfer) -> dict:
        if transfer.to_agent_id is not None:
            return {"agent_id": str(transfer.to_agent_id), "display_name": transfer.to_agent.display_name}
        return {"skills": transfer.to_skills, "language": transfer.to_language}
