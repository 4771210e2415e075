import pycountry
from rest_framework import serializers

from agents.models import MAX_CONCURRENT_MAX, MAX_CONCURRENT_MIN
from agents.payout_details import mask_iban
from agents.selectors import agent_languages, agent_skills
from core.rest import StrictSerializer

LANGUAGE_CODES = frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


def validate_language_codes(codes: list[str]) -> list[str]:
    bad = [code for code in codes if code not in LANGUAGE_CODES]
    if bad:
        raise serializers.ValidationError([f"'{code}' is not an ISO 639-1 language code." for code in bad])
    return sorted(set(codes))


def validate_skill_levels(levels: dict) -> dict[str, int]:
    errors = []
    for code, level in levels.items():
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5:
            errors.append(f"Level for '{code}' must be a whole number from 1 to 5, not {level!r}.")
    if errors:
        raise serializers.ValidationError(errors)
    return levels


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    role = serializers.CharField()


class SkillSerializer(StrictSerializer):
    code = serializers.SlugField(max_length=40, help_text="Stable code, e.g. 'payments'.")
    name = serializers.CharField(max_length=100)


class AgentCreateSerializer(StrictSerializer):
    username = serializers.RegexField(r"^[\w.@+-]{2,150}$", help_text="Sign-in name.")
    password = serializers.CharField(min_length=4, write_only=True)
    display_name = serializers.CharField(max_length=100)
    languages = serializers.ListField(child=serializers.CharField(max_length=2), allow_empty=False)
    skills = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)
    max_concurrent = serializers.IntegerField(min_value=MAX_CONCURRENT_MIN, max_value=MAX_CONCURRENT_MAX, default=1)

    def validate_languages(self, value):
        return validate_language_codes(value)

    def validate_skills(self, value):
        return validate_skill_levels(value)


class AgentUpdateSerializer(StrictSerializer):
    display_name = serializers.CharField(max_length=100, required=False)
    languages = serializers.ListField(child=serializers.CharField(max_length=2), allow_empty=False, required=False)
    skills = serializers.DictField(child=serializers.JSONField(), required=False)
    max_concurrent = serializers.IntegerField(
        min_value=MAX_CONCURRENT_MIN, max_value=MAX_CONCURRENT_MAX, required=False
    )

    def validate_languages(self, value):
        return validate_language_codes(value)

    def validate_skills(self, value):
        return validate_skill_levels(value)


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(allow_blank=False, max_length=2000)


class AgentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField(source="user.username")
    display_name = serializers.CharField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    presence = serializers.CharField()
    languages = serializers.SerializerMethodField()
    skills = serializers.SerializerMethodField()
    max_concurrent = serializers.IntegerField()
    active_tickets = serializers.IntegerField()
    payout_iban_masked = serializers.SerializerMethodField(
        help_text="Enough for a supervisor to tell whether and which account is on file, never the whole IBAN."
    )

    def get_payout_iban_masked(self, agent) -> str:
        return mask_iban(agent.payout_iban)

    def get_languages(self, agent) -> list[str]:
        return agent_languages(agent)

    def get_skills(self, agent) -> dict[str, int]:
        return agent_skills(agent)


class AddressSerializer(StrictSerializer):
    street = serializers.CharField(max_length=70, required=False, allow_blank=True)
    postcode = serializers.CharField(max_length=16, required=False, allow_blank=True)
    town = serializers.CharField(max_length=35)
    country = serializers.RegexField(r"^[A-Z]{2}$", help_text="ISO 3166-1 alpha-2, e.g. DE.")


class PayoutDetailsSerializer(StrictSerializer):
    holder = serializers.CharField(max_length=70)
    iban = serializers.CharField(max_length=42)
    bic = serializers.CharField(max_length=11)
    address = AddressSerializer(required=False)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    display_name = serializers.CharField(required=False)
    agent_id = serializers.UUIDField(required=False)
    status = serializers.CharField(required=False)
    status_reason = serializers.CharField(required=False)
    presence = serializers.CharField(required=False)
    languages = serializers.ListField(child=serializers.CharField(), required=False)
    skills = serializers.DictField(child=serializers.IntegerField(), required=False)
    max_concurrent = serializers.IntegerField(required=False)
    payout_details = serializers.DictField(required=False)
    ui_language = serializers.CharField(required=False, help_text='"" = the browser\'s language')
    time_zone = serializers.CharField(required=False, help_text='"" = the browser\'s time zone')


class DisplayPreferencesSerializer(StrictSerializer):
    """PATCH /api/v1/me/ (agent): the language and time zone the console uses; "" follows the browser."""

    ui_language = serializers.CharField(required=False, allow_blank=True, max_length=8, trim_whitespace=True)
    time_zone = serializers.CharField(required=False, allow_blank=True, max_length=64, trim_whitespace=True)


def me_payload(user, agent=None) -> dict:
    payload = {"username": user.username, "role": user.role}
    if agent is not None:
        payload.update(
            agent_id=str(agent.id),
            display_name=agent.display_name,
            status=agent.status,
            status_reason=agent.status_reason,
            presence=agent.presence,
            languages=agent_languages(agent),
            skills=agent_skills(agent),
            max_concurrent=agent.max_concurrent,
            ui_language=agent.ui_language,
            time_zone=agent.time_zone,
            payout_details={
                "holder": agent.payout_holder,
                # The agent sees their own IBAN in full; everyone else gets mask_iban().
                "iban": agent.payout_iban,
                "iban_masked": mask_iban(agent.payout_iban),
                "bic": agent.payout_bic,
                "address": {
                    "street": agent.payout_street,
                    "postcode": agent.payout_postcode,
                    "town": agent.payout_town,
                    "country": agent.payout_country,
                },
            },
        )
    return payload


class IntegrationCreateSerializer(StrictSerializer):
    name = serializers.RegexField(r"^[\w.-]{2,100}$")
    webhook_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")


class IntegrationCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    webhook_url = serializers.CharField()
    token = serializers.CharField()
    webhook_secret = serializers.CharField()
