"""Input validation and output shapes of the tickets API (CONTRACT.md "Escalation intake").

Intake limits (also in the README): at most 200 transcript entries, at most 64 KiB (65,536 bytes of
UTF-8) of transcript text in total, 4,000 characters per summary, 20 skills, 50 `handoff.attempted`
entries, 8 KiB of `handoff.verified_facts` as JSON; 1 MiB per request body (DATA_UPLOAD_MAX_MEMORY_SIZE).
"""

import datetime as dt
import json

from rest_framework import serializers

from agents.models import Skill
from agents.serializers import LANGUAGE_CODES
from core.rest import StrictSerializer
from tickets.models import (
    CANNED_TEXT_MAX_CHARS,
    CANNED_TITLE_MAX_CHARS,
    NOTE_MAX_CHARS,
    ConversationOutcome,
    CustomerTier,
    EscalationReason,
)

MAX_TRANSCRIPT_ENTRIES = 200
MAX_TRANSCRIPT_TEXT_BYTES = 64 * 1024
MAX_SUMMARY_CHARS = 4000
MAX_SKILLS = 20
MAX_ATTEMPTED = 50
MAX_VERIFIED_FACTS_BYTES = 8 * 1024
MAX_MESSAGE_CHARS = 8000
MAX_TOPIC_CHARS = 100


class ReportingStrictSerializer(StrictSerializer):
    """StrictSerializer that names unknown fields together with every other bad field in one 400."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
        try:
            value = serializers.Serializer.to_internal_value(self, data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**exc.detail, **unknown}) from exc
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its UTC offset (the contract's rule for every time)."""

    default_error_messages = {"naive": "Give the time with its UTC offset, e.g. 2026-11-21T10:00:00+01:00."}

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        if isinstance(value, str):
            try:
                raw = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raw = None
            if raw is not None and raw.tzinfo is None:
                self.fail("naive")
        return parsed


class CustomerSerializer(ReportingStrictSerializer):
    ref = serializers.CharField(max_length=200, help_text="The bot platform's id of the customer.")
    display_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="How to address the customer."
    )
    tier = serializers.ChoiceField(choices=CustomerTier.choices, default=CustomerTier.STANDARD)
    vulnerable = serializers.BooleanField(
        default=False, help_text="A vulnerable customer gets a higher priority and more experienced agents."
    )


class HandoffSerializer(ReportingStrictSerializer):
    bot_confidence = serializers.FloatField(
        min_value=0, max_value=1, required=False, allow_null=True, help_text="The bot's confidence, 0..1."
    )
    attempted = serializers.ListField(
        child=serializers.CharField(max_length=500),
        max_length=MAX_ATTEMPTED,
        required=False,
        default=list,
        help_text=f"What the bot already tried, e.g. 'kb:refund-policy' (at most {MAX_ATTEMPTED}).",
    )
    verified_facts = serializers.DictField(
        required=False,
        default=dict,
        help_text="Facts the bot verified, free-form JSON object (at most 8 KiB).",
    )
    suggested_next_step = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_verified_facts(self, value):
        if len(json.dumps(value).encode()) > MAX_VERIFIED_FACTS_BYTES:
            raise serializers.ValidationError(f"At most {MAX_VERIFIED_FACTS_BYTES} bytes of JSON.")
        return value


class TranscriptEntrySerializer(ReportingStrictSerializer):
    role = serializers.ChoiceField(choices=[("customer", "customer"), ("bot", "bot")])
    text = serializers.CharField(trim_whitespace=False, help_text="What was said.")
    at = AwareDateTimeField(help_text="When, ISO 8601 with offset.")


class TicketCreateSerializer(ReportingStrictSerializer):
    external_id = serializers.CharField(
        max_length=200, help_text="The bot platform's conversation id; the same id again returns the same ticket."
    )
    customer = CustomerSerializer()
    language = serializers.CharField(max_length=2, help_text="ISO 639-1 code of the conversation, e.g. 'de'.")
    skills = serializers.ListField(
        child=serializers.SlugField(max_length=40),
        max_length=MAX_SKILLS,
        required=False,
        default=list,
        help_text="Skill codes the ticket needs. Unknown codes are refused. Empty or absent: inferred from the "
        "summary and transcript by the supervisors' keyword rules (see skill_inference on the ticket).",
    )
    reason = serializers.ChoiceField(choices=EscalationReason.choices, help_text="Why the bot escalated.")
    priority = serializers.IntegerField(
        min_value=0,
        max_value=3,
        required=False,
        allow_null=True,
        help_text="0..3, 3 most urgent. Absent: derived from tier, vulnerability, reason and sentiment.",
    )
    sentiment = serializers.FloatField(
        min_value=-1, max_value=1, required=False, allow_null=True, help_text="-1 (angry) .. 1 (happy)."
    )
    summary = serializers.CharField(max_length=MAX_SUMMARY_CHARS, required=False, allow_blank=True, default="")
    handoff = HandoffSerializer(required=False)
    transcript = serializers.ListField(
        child=TranscriptEntrySerializer(),
        max_length=MAX_TRANSCRIPT_ENTRIES,
        required=False,
        default=list,
        help_text=f"The conversation so far, oldest first: at most {MAX_TRANSCRIPT_ENTRIES} entries and "
        f"{MAX_TRANSCRIPT_TEXT_BYTES // 1024} KiB of text in total.",
    )
    conversation_id = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="The bot's conversation this escalation belongs to (a conversation's external_id, see "
        "POST /api/v1/conversations/). Escalations of one conversation are linked: the agent sees the earlier "
        "ones, and the agent who last served it is offered it first when online with room.",
    )
    topic = serializers.CharField(
        max_length=MAX_TOPIC_CHARS,
        required=False,
        allow_blank=True,
        default="",
        help_text=f"The bot's topic label, e.g. 'refund' (at most {MAX_TOPIC_CHARS} characters).",
    )

    def validate_language(self, value):
        if value not in LANGUAGE_CODES:
            raise serializers.ValidationError(f"'{value}' is not an ISO 639-1 language code.")
        return value

    def validate_skills(self, value):
        codes = list(dict.fromkeys(value))
        known = set(Skill.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise serializers.ValidationError([f"Unknown skill code: {code}." for code in unknown])
        return codes

    def validate_transcript(self, value):
        size = sum(len(entry["text"].encode()) for entry in value)
        if size > MAX_TRANSCRIPT_TEXT_BYTES:
            raise serializers.ValidationError(
                f"The transcript has {size} bytes of text; at most {MAX_TRANSCRIPT_TEXT_BYTES} are accepted."
            )
        return value


class ConversationReportSerializer(ReportingStrictSerializer):
    external_id = serializers.CharField(
        max_length=200, help_text="The bot platform's conversation id; the same id again updates outcome and csat."
    )
    language = serializers.CharField(max_length=2, help_text="ISO 639-1 code of the conversation, e.g. 'de'.")
    outcome = serializers.ChoiceField(
        choices=ConversationOutcome.choices,
        help_text="contained: the bot finished it alone; escalated: handed to a person; abandoned: the customer left.",
    )
    topic = serializers.CharField(
        max_length=MAX_TOPIC_CHARS,
        required=False,
        allow_blank=True,
        default="",
        help_text=f"The bot's topic label (at most {MAX_TOPIC_CHARS} characters).",
    )
    csat = serializers.IntegerField(
        min_value=1, max_value=5, required=False, allow_null=True, default=None, help_text="1..5 or null."
    )
    started_at = AwareDateTimeField(help_text="ISO 8601 with offset.")
    ended_at = AwareDateTimeField(
        required=False, allow_null=True, default=None, help_text="ISO 8601 with offset; not before started_at."
    )
    customer_ref = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional: the bot platform's id of the customer (as customer.ref of an escalation), for the "
        "repeat-contact figure.",
    )

    def validate_language(self, value):
        if value not in LANGUAGE_CODES:
            raise serializers.ValidationError(f"'{value}' is not an ISO 639-1 language code.")
        return value

    def validate(self, attrs):
        if attrs.get("ended_at") is not None and attrs["ended_at"] < attrs["started_at"]:
            raise serializers.ValidationError({"ended_at": ["The end is before started_at."]})
        return attrs


class ConversationOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField()
    language = serializers.CharField()
    outcome = serializers.ChoiceField(choices=ConversationOutcome.choices)
    topic = serializers.CharField()
    csat = serializers.IntegerField(allow_null=True)
    customer_ref = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    escalations = serializers.ListField(child=serializers.DictField(), help_text="Its tickets, oldest first.")


class MessageCreateSerializer(StrictSerializer):
    text = serializers.CharField(max_length=MAX_MESSAGE_CHARS, trim_whitespace=False)


class CsatSerializer(StrictSerializer):
    score = serializers.IntegerField(min_value=1, max_value=5, help_text="1 (bad) .. 5 (excellent).")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class BotFeedbackSerializer(StrictSerializer):
    escalation_avoidable = serializers.BooleanField(help_text="Could the bot have solved it alone?")
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class ResolveSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=[("solved", "solved"), ("not_solved", "not_solved")])
    notes = serializers.CharField(max_length=8000, required=False, allow_blank=True, default="")
    bot_feedback = BotFeedbackSerializer(required=False)


class HandBackSerializer(StrictSerializer):
    notes = serializers.CharField(
        max_length=8000, required=False, allow_blank=True, default="", help_text="For the bot taking over."
    )


class SkillKeywordRuleSerializer(StrictSerializer):
    skill = serializers.SlugField(max_length=40, help_text="Skill code.")
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=200,
        help_text="Words or phrases (case-insensitive, whole words); an empty list turns inference off.",
    )
    source = serializers.ChoiceField(choices=[("configured", "configured"), ("default", "default")], read_only=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class SkillKeywordRulesSerializer(StrictSerializer):
    rules = SkillKeywordRuleSerializer(many=True, help_text="One entry per skill; skills left out keep theirs.")


# ---------------------------------------------------------------- output shapes (for the schema)


class CustomerOutSerializer(serializers.Serializer):
    ref = serializers.CharField()
    display_name = serializers.CharField()
    tier = serializers.CharField()
    vulnerable = serializers.BooleanField()


class TicketSkillOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    min_level = serializers.IntegerField()


class SkillInferenceSerializer(serializers.Serializer):
    skill = serializers.CharField()
    keyword = serializers.CharField()
    source = serializers.CharField(help_text="'summary' or 'transcript[<index>]'.")


class MessageOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    seq = serializers.IntegerField()
    author_kind = serializers.ChoiceField(choices=["customer", "bot", "agent", "system"])
    text = serializers.CharField()
    at = serializers.DateTimeField()


class AgentNameSerializer(serializers.Serializer):
    display_name = serializers.CharField()


class EarlierEscalationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    status = serializers.CharField()
    summary = serializers.CharField()
    outcome = serializers.CharField()
    resolution_notes = serializers.CharField()
    agent = AgentNameSerializer(allow_null=True)


class TicketOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["queued", "offered", "assigned", "resolved", "cancelled", "handed_back"])
    created_at = serializers.DateTimeField()
    queued_at = serializers.DateTimeField()
    first_offered_at = serializers.DateTimeField(allow_null=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    customer = CustomerOutSerializer()
    language = serializers.CharField()
    reason = serializers.CharField()
    priority = serializers.IntegerField()
    priority_was_derived = serializers.BooleanField()
    sentiment = serializers.FloatField(allow_null=True)
    summary = serializers.CharField()
    handoff = serializers.DictField()
    skills = TicketSkillOutSerializer(many=True)
    skills_were_inferred = serializers.BooleanField()
    skill_inference = SkillInferenceSerializer(many=True)
    queue_position = serializers.IntegerField(allow_null=True, help_text="1 = next; only while queued.")
    estimated_wait_seconds = serializers.IntegerField(
        allow_null=True,
        help_text="Only while queued: queue_position x 900 / (assignments in the last 15 minutes); "
        "null when there were none.",
    )
    agent = AgentNameSerializer(allow_null=True, help_text="The human who joined; null until assigned.")
    outcome = serializers.CharField()
    resolution_notes = serializers.CharField()
    bot_feedback = serializers.DictField()
    csat = serializers.DictField(allow_null=True)
    messages = MessageOutSerializer(many=True)
    conversation_id = serializers.CharField(help_text="The bot's conversation this escalation belongs to, or ''.")
    topic = serializers.CharField()
    earlier_escalations = EarlierEscalationSerializer(
        many=True, help_text="The conversation's escalations before this one (e.g. before a hand-back), oldest first."
    )


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Also the X-Dispatch-Delivery header and the body's delivery_id.")
    ticket = serializers.UUIDField(source="ticket_id")
    seq = serializers.IntegerField()
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "delivered", "failed", "skipped"])
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    body = serializers.CharField(help_text="The exact JSON body sent.")


# ---------------------------------------------------------------- notes and canned responses


class NoteCreateSerializer(StrictSerializer):
    text = serializers.CharField(max_length=NOTE_MAX_CHARS, help_text=f"At most {NOTE_MAX_CHARS} characters.")


class NoteAuthorSerializer(serializers.Serializer):
    display_name = serializers.CharField()
    role = serializers.CharField()


class NoteSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    author = NoteAuthorSerializer()
    text = serializers.CharField()
    at = serializers.DateTimeField()


class CannedResponseCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=CANNED_TITLE_MAX_CHARS)
    text = serializers.CharField(
        max_length=CANNED_TEXT_MAX_CHARS,
        help_text="{customer_name} and {agent_name} are filled in when inserted; any other {placeholder} is refused.",
    )
    language = serializers.ChoiceField(choices=LANGUAGE_CODES)


class CannedResponseUpdateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=CANNED_TITLE_MAX_CHARS, required=False)
    text = serializers.CharField(max_length=CANNED_TEXT_MAX_CHARS, required=False)
    language = serializers.ChoiceField(choices=LANGUAGE_CODES, required=False)


class CannedResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    text = serializers.CharField()
    language = serializers.CharField()
    shared = serializers.BooleanField()
    filled = serializers.CharField(
        required=False, help_text="With ?ticket=<id> (a ticket you hold): the text with its placeholders filled in."
    )
