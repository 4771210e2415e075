"""Export files of an approved batch: CSV and SEPA credit transfer (pain.001.001.09 / .03).

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
from lxml import etree
from sepaxml import SepaTransfer

from config.errors import DomainError

CSV_COLUMNS = ["agent_id", "agent_name", "iban", "bic", "amount", "currency", "reference", "period_start", "period_end"]
SEPA_VERSIONS = ("pain.001.001.09", "pain.001.001.03")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

DEFAULT_DEBTOR = {"name": "Dispatch Platform", "IBAN": "DE89370400440532013000", "BIC": "COBADEFFXXX"}


def debtor() -> dict:
    """The platform's own account, from settings.PAYOUT_DEBTOR (a demo account by default)."""
    return {**DEFAULT_DEBTOR, **getattr(settings, "PAYOUT_DEBTOR", {})}


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
