"""Why an agent was offered a ticket, as data and as words.

A decision records its reasons as codes with parameters (Offer.why_codes), never as sentences, so each
reader gets them in their own language and person: the offered agent reads "You speak the customer's
language (German)." in the language they chose, a supervisor reads "Mia speaks ..." in theirs. The
English second-person rendering is also stored (Offer.why) as the record of what was first shown.

Codes (params):
- language (language)                 - skill_level (skill, level, required)
- relaxed (by)                        - never_offered
- idle (seconds)                      - rating (csat, count)
- on_shift                            - fanout (agents)
- previous_holder                     - transfer (sender)
"""

from django.utils.translation import gettext as _
from django.utils.translation import override

LANGUAGE_NAMES = {"de": "German", "en": "English", "sv": "Swedish"}


def why_codes(*, scored, ticket, requirements, stage) -> list[dict]:
    """The reasons of one decision (`scored` is the chosen agent's ScoredAgent) as codes."""
    reasons = [{"code": "language", "params": {"language": ticket.language}}]
    levels = scored.facts["skill_levels"]
    for requirement in requirements:
        reasons.append(
            {
                "code": "skill_level",
                "params": {
                    "skill": requirement.code,
                    "level": levels.get(str(requirement.skill_id)),
                    "required": requirement.level,
                },
            }
        )
    if stage.skill_relaxation:
        reasons.append({"code": "relaxed", "params": {"by": stage.skill_relaxation}})
    idle = scored.facts["idle_seconds"]
    if idle is None:
        reasons.append({"code": "never_offered", "params": {}})
    else:
        reasons.append({"code": "idle", "params": {"seconds": idle}})
    reasons.append({"code": "rating", "params": {"csat": scored.facts["csat"], "count": scored.facts["csat_count"]}})
    if scored.facts.get("on_shift"):
        reasons.append({"code": "on_shift", "params": {}})
    if scored.facts.get("previous_holder"):
        reasons.append({"code": "previous_holder", "params": {}})
    if stage.fanout > 1:
        reasons.append({"code": "fanout", "params": {"agents": stage.fanout}})
    return reasons


def _language_name(code: str) -> str:
    return _(LANGUAGE_NAMES.get(code, code))


def reason_text(reason: dict, *, about: str | None = None) -> str:
    """One reason in the active language: to the agent ("You ...") or, with `about`, of them."""
    code, p = reason["code"], reason.get("params", {})
    you = about is None
    if code == "language":
        language = _language_name(p["language"])
        return (
            _("You speak the customer's language (%(language)s).")
            if you
            else _("%(agent)s speaks the customer's language (%(language)s).")
        ) % {"language": language, "agent": about}
    if code == "skill_level":
        values = {"skill": p["skill"], "level": p["level"], "required": p["required"], "agent": about}
        return (
            _("Your %(skill)s level %(level)s meets the required level %(required)s.")
            if you
            else _("%(agent)s's %(skill)s level %(level)s meets the required level %(required)s.")
        ) % values
    if code == "relaxed":
        return _("The customer has waited a while, so the skill level asked was lowered by %(by)s.") % p
    if code == "never_offered":
        return (
            _("You have not had an offer yet in this period, so you are first in line.")
            if you
            else _("%(agent)s had not had an offer yet in this period, so they were first in line.")
        ) % {"agent": about}
    if code == "idle":
        minutes, seconds = divmod(int(p["seconds"]), 60)
        values = {"minutes": minutes, "seconds": seconds, "agent": about}
        return (
            _("Your last offer was %(minutes)s min %(seconds)s s ago; agents who waited longer go first.")
            if you
            else _(
                "%(agent)s's last offer was %(minutes)s min %(seconds)s s before; agents who waited longer go first."
            )
        ) % values
    if code == "rating":
        values = {"csat": f"{float(p['csat']):.1f}", "count": p["count"], "agent": about}
        return (
            _(
                "Your customer rating counts as %(csat)s of 5 (%(count)s ratings, smoothed so a few ratings do not "
                "decide)."
            )
            if you
            else _(
                "%(agent)s's customer rating counts as %(csat)s of 5 (%(count)s ratings, smoothed so a few ratings "
                "do not decide)."
            )
        ) % values
    if code == "on_shift":
        return (
            _("You are on a shift you booked, and agents on a booked shift go first.")
            if you
            else _("%(agent)s is on a shift they booked, and agents on a booked shift go first.")
        ) % {"agent": about}
    if code == "previous_holder":
        return (
            _("You served this customer's conversation before, so you are asked first.")
            if you
            else _("%(agent)s served this customer's conversation before, so they were asked first.")
        ) % {"agent": about}
    if code == "fanout":
        return _("This offer went to %(agents)s agents at once; the first to accept gets it.") % p
    if code == "transfer":
        return _("%(sender)s passes this customer on to you.") % p
    return code


def why_text(codes: list[dict], *, about: str | None = None, language: str | None = None) -> list[str]:
    """All reasons, in `language` (default: the active one)."""
    if language:
        with override(language):
            return [reason_text(reason, about=about) for reason in codes]
    return [reason_text(reason, about=about) for reason in codes]
