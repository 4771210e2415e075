"""Export files of an approved batch: CSV and SEPA credit transfer (pain.001.001.09 / .03).

The SEPA file names the platform's own account as the debtor (PAYOUT_DEBTOR_*, no default); the CSV is a
list of payees for the bank's own upload and carries no debtor, so it needs none.

Both are pure functions of the stored batch and its items, so exporting twice gives identical bytes:
the message, payment-information and end-to-end ids are fixed when the batch is built, and the
creation time written into the XML is the approval time.
"""

import csv
import datetime as dt
import functools
import io
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import sepaxml
from django.conf import settings
from django.utils.translation import gettext
from lxml import etree
from sepaxml import SepaTransfer

from agents.payout_details import normalise_bic, normalise_iban
from core.errors import DomainError

CSV_COLUMNS = ["agent_id", "agent_name", "iban", "bic", "amount", "currency", "reference", "period_start", "period_end"]
SEPA_VERSIONS = ("pain.001.001.09", "pain.001.001.03")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# The platform's own account, debited by a SEPA file: settings.PAYOUT_DEBTOR, read from these variables.
# There is no default: a file that debits a made-up account is worse than no file.
DEBTOR_SETTINGS = {"name": "PAYOUT_DEBTOR_NAME", "IBAN": "PAYOUT_DEBTOR_IBAN", "BIC": "PAYOUT_DEBTOR_BIC"}


def debtor_refusal() -> DomainError | None:
    """Why no SEPA file can be written with the configured debtor account (the settings missing, or an
    IBAN or BIC that is not valid), as the 409 to answer; None when the account is usable."""
    configured = getattr(settings, "PAYOUT_DEBTOR", None) or {}
    missing = [variable for key, variable in DEBTOR_SETTINGS.items() if not str(configured.get(key, "")).strip()]
    if missing:
        return DomainError(
            "payout_debtor_missing",
            gettext(
                "The platform's own bank account, which a SEPA file debits, is not configured. "
                "Set %(variables)s in the environment and restart."
            )
            % {"variables": ", ".join(missing)},
        )
    iban, iban_error = normalise_iban(configured["IBAN"])
    if iban_error:
        return DomainError(
            "payout_debtor_invalid",
            gettext("PAYOUT_DEBTOR_IBAN is not a valid IBAN: %(reason)s") % {"reason": iban_error},
        )
    _, bic_error = normalise_bic(configured["BIC"], iban=iban)
    if bic_error:
        return DomainError(
            "payout_debtor_invalid",
            gettext("PAYOUT_DEBTOR_BIC does not fit: %(reason)s") % {"reason": bic_error},
        )
    return None


def debtor() -> dict:
    """The platform's own account for sepaxml; raises the 409 of debtor_refusal when it is not usable."""
    refusal = debtor_refusal()
    if refusal is not None:
        raise refusal
    configured = settings.PAYOUT_DEBTOR
    iban, _ = normalise_iban(configured["IBAN"])
    bic, _ = normalise_bic(configured["BIC"], iban=iban)
    return {"name": configured["name"].strip(), "IBAN": iban, "BIC": bic}


def neutralise(cell) -> str:
    """A cell a spreadsheet would run as a formula is prefixed with a quote (OWASP CSV injection)."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def batch_csv(*, batch, items: Iterable) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(
            [
                neutralise(v)
                for v in (
                    item.agent_id,
                    item.agent_name,
                    item.iban,
                    item.bic,
                    f"{item.amount:.2f}",
                    item.currency,
                    item.reference,
                    batch.period_start.isoformat(),
                    batch.period_end.isoformat(),
                )
            ]
        )
    return out.getvalue().encode("utf-8")


class _FixedIdTransfer(SepaTransfer):
    """sepaxml with the ids and creation time given by the caller instead of random ones and "now"."""

    def __init__(self, config, schema, *, message_id: str, payment_info_id: str, created_at: dt.datetime):
        self._fixed = (message_id, payment_info_id, created_at)
        super().__init__(config, schema=schema, clean=True)

    def _create_header(self):
        super()._create_header()
        message_id, _, created_at = self._fixed
        self.msg_id = message_id
        header = self._xml.find("CstmrCdtTrfInitn").find("GrpHdr")
        header.find("MsgId").text = message_id
        header.find("CreDtTm").text = created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")

    def _finalize_batch(self):
        super()._finalize_batch()
        for index, node in enumerate(self._xml.iter("PmtInfId")):
            node.text = self._fixed[1] if index == 0 else f"{self._fixed[1][:30]}-{index}"


def _cents(amount: Decimal) -> int:
    return int((Decimal(amount) * 100).to_integral_exact())


@functools.cache
def sepa_schema(version: str) -> etree.XMLSchema:
    """The ISO 20022 XSD shipped inside sepaxml, parsed once per process."""
    return etree.XMLSchema(etree.parse(str(Path(sepaxml.__file__).parent / "schemas" / f"{version}.xsd")))


def sepa_validate(content: bytes, *, version: str) -> None:
    """Checks `content` against the XSD with lxml (libxml2): sepaxml's own check (xmlschema, pure Python)
    takes minutes for 10,000 transactions, this takes well under a second."""
    schema = sepa_schema(version)
    if not schema.validate(etree.fromstring(content)):
        first = schema.error_log.last_error
        raise DomainError(
            "sepa_invalid", f"The SEPA file does not validate against {version}: line {first.line}: {first.message}"
        )


def batch_sepa_xml(*, batch, items: Iterable, version: str = SEPA_VERSIONS[0], validate: bool = True) -> bytes:
    """One payment information block, one transaction per payable item, validated against the XSD."""
    created_at = batch.approved_at or batch.created_at
    transfer = _FixedIdTransfer(
        {**debtor(), "batch": True, "currency": batch.currency},
        version,
        message_id=batch.message_id,
        payment_info_id=batch.message_id,
        created_at=created_at,
    )
    execution_date = created_at.astimezone(dt.UTC).date()
    for item in items:
        payment = {
            "name": item.holder,
            "IBAN": item.iban,
            "BIC": item.bic,
            "amount": _cents(item.amount),
            "currency": item.currency,
            "execution_date": execution_date,
            "description": f"Payout {batch.period_start:%Y-%m-%d}..{batch.period_end:%Y-%m-%d} {item.reference}",
            "endtoend_id": item.reference,
        }
        if item.town and item.country:
            # Structured address (town and country at least), as banks require from November 2026.
            payment["address"] = {
                key: value
                for key, value in (
                    ("street_name", item.street),
                    ("postcode", item.postcode),
                    ("town", item.town),
                    ("country", item.country),
                )
                if value
            }
        transfer.add_payment(payment)
    content = transfer.export(validate=False)
    if validate:
        sepa_validate(content, version=version)
    return content
