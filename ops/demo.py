"""The demo data of CONTRACT.md ("Setup and accounts"). Every step is get-or-create: running it twice
changes nothing."""

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from schwifty import IBAN

from agents.models import Agent, AgentLanguage, AgentSkill, Integration, Role, Skill, User
from agents.services import integration_create, user_create
from agents.tokens import demo_integration_token
from dispatch.policy import policy_current
from payouts.services import rate_card_in_force

DEMO_SKILLS = {
    "payments": "Payments",
    "refunds": "Refunds",
    "disputes": "Disputes and chargebacks",
    "fraud": "Fraud",
    "account": "Account and login",
    "vulnerable_customers": "Vulnerable customers",
}
LANGUAGE_SETS = [["de"], ["en"], ["de", "en"], ["sv", "en"], ["de", "en", "sv"]]
SKILL_CODES = list(DEMO_SKILLS)
DEMO_AGENT_COUNT = 25
FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elif",
    "Finn",
    "Greta",
    "Hugo",
    "Ida",
    "Jonas",
    "Karin",
    "Lars",
    "Mia",
    "Nils",
    "Olga",
    "Paul",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Uwe",
    "Vera",
    "Wim",
    "Xenia",
    "Yusuf",
]


def demo_agent_profile(number: int) -> dict:
    """Agent `number` (1-based): languages, skills and capacity spread so every combination is covered."""
    languages = LANGUAGE_SETS[(number - 1) % len(LANGUAGE_SETS)]
    skills = {SKILL_CODES[(number + offset) % len(SKILL_CODES)]: 1 + (number + offset * 2) % 5 for offset in range(3)}
    return {
        "username": f"agent{number:02d}",
        "display_name": f"{FIRST_NAMES[number - 1]} {chr(64 + number)}.",
        "languages": languages,
        "skills": skills,
        "max_concurrent": 1 + number % 3,
        "iban": IBAN.generate("DE", bank_code="37040044", account_code=f"{532013000 + number:010d}"),
    }


def _ensure_person(username: str, role: str, password_hash: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = user_create(username=username, password=None, role=role)
        user.password = password_hash
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@transaction.atomic
def seed_demo() -> dict:
    for role in Role:
        Group.objects.get_or_create(name=role.value)
    # Hashing is deliberately slow (over a second here); every demo account shares one password.
    password_hash = make_password(settings.DEMO_PASSWORD)
    skills = {
        code: Skill.objects.get_or_create(code=code, defaults={"name": name})[0] for code, name in DEMO_SKILLS.items()
    }
    for number in range(1, DEMO_AGENT_COUNT + 1):
        profile = demo_agent_profile(number)
        user = _ensure_person(profile["username"], Role.AGENT, password_hash)
        iban = profile["iban"]
        agent, _ = Agent.objects.get_or_create(
            user=user,
            defaults={
                "display_name": profile["display_name"],
                "max_concurrent": profile["max_concurrent"],
                "payout_holder": profile["display_name"],
                "payout_iban": iban.compact,
                "payout_bic": str(iban.bic),
                "payout_town": "Köln",
                "payout_country": "DE",
            },
        )
        for code in profile["languages"]:
            AgentLanguage.objects.get_or_create(agent=agent, code=code)
        for code, level in profile["skills"].items():
            AgentSkill.objects.get_or_create(agent=agent, skill=skills[code], defaults={"level": level})
    _ensure_person("supervisor", Role.SUPERVISOR, password_hash)
    _ensure_person("supervisor2", Role.SUPERVISOR, password_hash)
    _ensure_person("finance", Role.FINANCE, password_hash)
    _ensure_person("finance2", Role.FINANCE, password_hash)
    token = demo_integration_token("demo-bot")
    if not Integration.objects.filter(name="demo-bot").exists():
        integration_create(name="demo-bot", webhook_url=settings.DEMO_WEBHOOK_URL, token=token)
    policy_current()  # the dispatch policy's first version, with its defaults
    rate_card_in_force(currency="EUR")  # the default EUR rate card, so every offer has a pay estimate
    return {"integration_token": token}
