"""IBAN / BIC validation (schwifty checks the checksum, the country's length and format, and the BIC)."""

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException


def normalise_iban(value: str) -> tuple[str | None, str | None]:
    """(compact IBAN, None) when valid, else (None, the reason in plain words)."""
    try:
        return IBAN(value).compact, None
    except SchwiftyException as exc:
        return None, f"Not a valid IBAN: {exc}."


def normalise_bic(value: str, *, iban: str | None = None) -> tuple[str | None, str | None]:
    try:
        bic = BIC(value)
    except SchwiftyException as exc:
        return None, f"Not a valid BIC: {exc}."
    if iban and bic.country_code != IBAN(iban).country_code:
        # Banks reject a transfer whose BIC is in another country than the account's IBAN.
        return None, f"The BIC is for {bic.country_code} but the IBAN is for {IBAN(iban).country_code}."
    return bic.compact, None


def payout_details_problem(agent) -> str | None:
    """Why `agent` cannot be paid by bank transfer right now, or None when they can."""
    if not (agent.payout_holder and agent.payout_iban and agent.payout_bic):
        return "No payout details: the agent has not entered account holder, IBAN and BIC."
    iban, error = normalise_iban(agent.payout_iban)
    if error:
        return error
    _, error = normalise_bic(agent.payout_bic, iban=iban)
    return error


def mask_iban(iban: str) -> str:
    """DE89 **** **** **** **30 00: enough for a person to recognise their account, not to use it."""
    if not iban:
        return ""
    compact = iban.replace(" ", "")
    masked = compact[:4] + "*" * max(len(compact) - 8, 0) + compact[-4:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))
