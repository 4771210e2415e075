import pytest

from tickets.triage import DEFAULT_SKILL_KEYWORDS, priority_derive, required_skill_level, skills_infer


@pytest.mark.parametrize(
    "tier, vulnerable, reason, sentiment, expected",
    [
        ("standard", False, "customer_request", None, 1),
        ("standard", False, "customer_request", 0.4, 1),
        ("standard", False, "bot_low_confidence", None, 0),
        ("standard", False, "bot_low_confidence", -0.5, 1),
        ("standard", False, "sensitive", None, 2),
        ("standard", False, "negative_sentiment", -0.9, 3),
        ("vip", False, "complex_case", None, 2),
        ("standard", True, "policy", -0.49, 2),
        ("vip", True, "sensitive", -1.0, 3),
        ("vip", False, "bot_low_confidence", 0.9, 1),
    ],
)
def test_priority_derive(tier, vulnerable, reason, sentiment, expected):
    assert priority_derive(tier=tier, vulnerable=vulnerable, reason=reason, sentiment=sentiment) == expected


@pytest.mark.parametrize(
    "base, tier, vulnerable, expected",
    [
        (1, "standard", False, 1),
        (1, "vip", False, 2),
        (1, "standard", True, 2),
        (1, "vip", True, 2),
        (5, "vip", True, 5),
    ],
)
def test_required_skill_level(base, tier, vulnerable, expected):
    assert required_skill_level(base_level=base, tier=tier, vulnerable=vulnerable) == expected


def test_skills_infer_names_the_first_keyword_and_where_it_was_found():
    matches = skills_infer(
        rules=DEFAULT_SKILL_KEYWORDS,
        texts=[("summary", "Customer is locked out"), ("transcript[0]", "I want my money back for the Card")],
    )
    assert [m.as_dict() for m in matches] == [
        {"skill": "payments", "keyword": "card", "source": "transcript[0]"},
        {"skill": "refunds", "keyword": "money back", "source": "transcript[0]"},
        {"skill": "account", "keyword": "locked out", "source": "summary"},
    ]


def test_skills_infer_matches_whole_words_only():
    assert skills_infer(rules={"payments": ["card"]}, texts=[("summary", "please discard this")]) == []
    assert skills_infer(rules={"payments": ["card", " "]}, texts=[("summary", "")]) == []
