"""The intake's three judgement calls, each one documented function: priority, skill level, skills.

They are pure (no database), so the rules are easy to read, test and explain to the agent who sees
their result (`priority_was_derived`, `skills_were_inferred`, `skill_inference`).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SKILL_LEVEL = 5

# reason -> points towards priority (see priority_derive)
REASON_POINTS = {
    "customer_request": 0,
    "complex_case": 0,
    "policy": 0,
    "negative_sentiment": 1,
    "sensitive": 1,
    "bot_low_confidence": -1,
}
NEGATIVE_SENTIMENT_AT_OR_BELOW = -0.5


def priority_derive(*, tier: str, vulnerable: bool, reason: str, sentiment: float | None) -> int:
    """The priority (0..3, 3 most urgent) of a ticket the bot sent without one.

    Start at 1 (normal) and add:
      +1 if the customer is a `vip`;
      +1 if the customer is vulnerable;
      +1 if the sentiment is -0.5 or lower (clearly upset);
      +1 for reason `sensitive` or `negative_sentiment`, -1 for `bot_low_confidence` (the bot is unsure,
         the customer is not necessarily waiting on anything urgent), 0 for the other reasons;
    then clamp to 0..3. Example: a vulnerable standard customer with sentiment -0.7 and reason
    `sensitive` gets 1 + 1 + 1 + 1 = 4 -> 3; a calm standard customer the bot was unsure about gets 0.
    """
    points = 1
    points += 1 if tier == "vip" else 0
    points += 1 if vulnerable else 0
    points += 1 if sentiment is not None and sentiment <= NEGATIVE_SENTIMENT_AT_OR_BELOW else 0
    points += REASON_POINTS.get(reason, 0)
    return max(0, min(3, points))


def required_skill_level(*, base_level: int, tier: str, vulnerable: bool) -> int:
    """The minimum agent level for each skill the ticket needs.

    `base_level` is the dispatch policy's `default_skill_level`; a `vip` or vulnerable customer needs one
    level more (not two for both), capped at 5. The escalation steps may relax it later, per ticket.
    """
    bump = 1 if tier == "vip" or vulnerable else 0
    return max(1, min(MAX_SKILL_LEVEL, base_level + bump))


# Used for a skill that has no SkillKeywordRule row (supervisors override per skill).
DEFAULT_SKILL_KEYWORDS: dict[str, list[str]] = {
    "payments": ["payment", "charge", "charged", "double charge", "card", "invoice", "bill", "paid", "zahlung"],
    "refunds": ["refund", "money back", "reimburse", "return", "erstattung", "rückerstattung", "återbetalning"],
    "disputes": ["dispute", "chargeback", "complaint", "unfair", "reklamation", "beschwerde"],
    "fraud": ["fraud", "scam", "stolen", "unauthorised", "unauthorized", "hacked", "phishing", "betrug"],
    "account": ["login", "log in", "password", "locked out", "sign in", "account", "konto", "passwort"],
    "vulnerable_customers": ["bereavement", "passed away", "died", "illness", "disability", "can't afford"],
}


@dataclass(frozen=True)
class SkillMatch:
    skill: str
    keyword: str
    source: str  # "summary" or "transcript[<index>]"

    def as_dict(self) -> dict:
        return {"skill": self.skill, "keyword": self.keyword, "source": self.source}


def _pattern(keyword: str) -> re.Pattern:
    # Whole words and phrases, case-insensitive: "card" matches "my card" but not "discard".
    return re.compile(r"(?<!\w)" + re.escape(keyword.strip()) + r"(?!\w)", re.IGNORECASE)


def skills_infer(*, rules: dict[str, list[str]], texts: Iterable[tuple[str, str]]) -> list[SkillMatch]:
    """Skills whose keywords occur in `texts` ((source, text) pairs: the summary, then the transcript).

    One match per skill, the first one found, so the agent can see why each skill was inferred
    ("payments because 'charged' in transcript[0]"). Skills come out in the order of `rules`.
    """
    texts = list(texts)
    matches = []
    for skill, keywords in rules.items():
        found = next(
            (
                SkillMatch(skill=skill, keyword=keyword, source=source)
                for source, text in texts
                for keyword in keywords
                if keyword.strip() and _pattern(keyword).search(text)
            ),
            None,
        )
        if found is not None:
            matches.append(found)
    return matches
