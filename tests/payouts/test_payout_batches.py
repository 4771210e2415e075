import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from django.db import IntegrityError, transaction
from django.utils import timezone
from lxml import etree

from payouts.models import PayoutBatch, PayoutExport, PayoutItemLine
from tests.conftest import client_with_token
from tests.factories import AgentFactory, UserFactory
from tests.payouts.factories import line, payable_agent

pytestmark = pytest.mark.django_db

XSD_DIR = Path(sepaxml.__file__).parent / "schemas"
TODAY = timezone.now().date()
PERIOD = {"period_start": (TODAY - dt.timedelta(days=6)).isoformat(), "period_end": TODAY.isoformat()}


@pytest.fixture
def finance2_client():
    return client_with_token(UserFactory(role="finance"))


def create_batch(client, **overrides):
    return client.post("/api/v1/payout-batches/", {**PERIOD, "currency": "EUR", **overrides}, format="json")


def approved_batch(finance_client, finance2_client):
    batch_id = create_batch(finance_client).json()["id"]
    assert finance2_client.post(f"/api/v1/payout-batches/{batch_id}/approve/").status_code == 200
    return batch_id


def test_draft_has_one_item_per_agent_with_a_positive_total_and_held_items(finance_client):
    anna = payable_agent(display_name="Anna")
    line(agent=anna, amount="10.00")
    line(agent=anna, amount="2.50")
    nodetails = AgentFactory(display_name="No details")
    line(agent=nodetails, amount="4.00")
    negative = payable_agent(display_name="Negative")
    line(agent=negative, amount="-3.00")
    line(agent=anna, amount="99.00", currency="SEK")
    line(agent=anna, amount="50.00", created_at=timezone.now() - dt.timedelta(days=30))

    response = create_batch(finance_client)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    items = {item["agent_name"]: item for item in body["items"]}
    assert set(items) == {"Anna", "No details"}
    assert items["Anna"]["status"] == "payable" and items["Anna"]["amount"] == "12.50"
    assert items["No details"]["status"] == "held"
    assert "No payout details" in items["No details"]["held_reason"]
    assert body["total"] == "12.50" and body["held_amount"] == "4.00"
    # Held lines are not claimed: once the agent enters details, a new batch pays them.
    assert PayoutItemLine.objects.count() == 2


def test_empty_period_is_refused_with_the_reason(finance_client):
    response = create_batch(finance_client)
    assert response.status_code == 409
    assert response.json()["code"] == "empty_period"
    assert "Nothing to pay" in response.json()["message"]
    assert not PayoutBatch.objects.exists()


def test_bad_period_is_400(finance_client):
    response = create_batch(finance_client, period_start=TODAY.isoformat(), period_end="2000-01-01")
    assert response.status_code == 400


def test_a_line_is_never_in_two_batches(finance_client):
    agent = payable_agent()
    paid = line(agent=agent, amount="5.00")
    assert create_batch(finance_client).status_code == 201
    # The same period again has nothing left to pay ...
    assert create_batch(finance_client).status_code == 409
    # ... a new line is paid by a new batch, the old one is not taken again ...
    line(agent=agent, amount="1.00")
    second = create_batch(finance_client).json()
    assert second["total"] == "1.00"
    # ... and the database itself refuses a second claim.
    other_item = PayoutBatch.objects.get(pk=second["id"]).items.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutItemLine.objects.create(line=paid, item=other_item)


def test_held_lines_are_paid_later_once_details_are_valid(finance_client):
    agent = AgentFactory()
    line(agent=agent, amount="7.00")
    first = create_batch(finance_client).json()
    assert first["items"][0]["status"] == "held" and first["item_count"] == 0
    type(agent).objects.filter(pk=agent.pk).update(
        payout_holder="A", payout_iban="DE89370400440532013000", payout_bic="COBADEFFXXX"
    )
    second = create_batch(finance_client).json()
    assert second["items"][0]["status"] == "payable" and second["total"] == "7.00"


def test_four_eyes(finance_client, finance2_client):
    line(agent=payable_agent(), amount="5.00")
    batch_id = create_batch(finance_client).json()["id"]

    own = finance_client.post(f"/api/v1/payout-batches/{batch_id}/approve/")
    assert own.status_code == 403
    assert own.json()["code"] == "four_eyes"

    other = finance2_client.post(f"/api/v1/payout-batches/{batch_id}/approve/")
    assert other.status_code == 200
    assert other.json()["status"] == "approved"
    assert finance2_client.post(f"/api/v1/payout-batches/{batch_id}/approve/").status_code == 409


def test_the_database_refuses_self_approval(finance_user):
    line(agent=payable_agent(), amount="5.00")
    from payouts.batches import payout_batch_create

    batch = payout_batch_create(actor=finance_user, period_start=TODAY, period_end=TODAY, currency="EUR")
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutBatch.objects.filter(pk=batch.pk).update(approved_by=finance_user, status="approved")


def test_draft_exports_are_409(finance_client):
    line(agent=payable_agent(), amount="5.00")
    batch_id = create_batch(finance_client).json()["id"]
    for suffix in ("export.csv", "export.xml"):
        response = finance_client.get(f"/api/v1/payout-batches/{batch_id}/{suffix}")
        assert response.status_code == 409
        assert response.json()["code"] == "not_approved"


def test_csv_columns_and_formula_cells_neutralised(finance_client, finance2_client):
    agent = payable_agent(display_name="=HYPERLINK(evil)", payout_holder="@holder")
    line(agent=agent, amount="12.40")
    batch_id = approved_batch(finance_client, finance2_client)

    response = finance_client.get(f"/api/v1/payout-batches/{batch_id}/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["agent_id", "agent_name", "iban", "bic", "amount", "currency", "reference", "period_start",
                       "period_end"]  # fmt: skip
    assert rows[1][0] == str(agent.pk)
    assert rows[1][1] == "'=HYPERLINK(evil)"
    assert rows[1][2:6] == ["DE89370400440532013000", "COBADEFFXXX", "12.40", "EUR"]
    assert rows[1][7:] == [PERIOD["period_start"], PERIOD["period_end"]]


def sepa_total(xml: bytes) -> tuple[Decimal, int, Decimal]:
    root = etree.fromstring(xml)
    ns = {"p": root.nsmap[None]}
    header_sum = Decimal(root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns))
    header_count = int(root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=ns))
    amounts = sum(Decimal(a.text) for a in root.iterfind(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", namespaces=ns))
    return header_sum, header_count, amounts


@pytest.mark.parametrize("version", ["pain.001.001.09", "pain.001.001.03"])
def test_sepa_xml_is_valid_deterministic_and_matches_the_csv(finance_client, finance2_client, version):
    for number, amount in enumerate(["12.40", "0.01", "1000.00"]):
        agent = payable_agent(display_name=f"Agent Ä{number}")
        line(agent=agent, amount=amount)
        line(agent=agent, amount="1.10")
    line(agent=payable_agent(payout_town="", payout_country=""), amount="1.10")  # no address: no PstlAdr
    line(agent=AgentFactory(), amount="5.00")  # held: not exported
    batch_id = approved_batch(finance_client, finance2_client)

    query = "" if version == "pain.001.001.09" else f"?version={version}"
    first = finance_client.get(f"/api/v1/payout-batches/{batch_id}/export.xml{query}")
    second = finance_client.get(f"/api/v1/payout-batches/{batch_id}/export.xml{query}")
    csv_response = finance_client.get(f"/api/v1/payout-batches/{batch_id}/export.csv")

    assert first.status_code == 200, first.content
    assert first.content == second.content
    xmlschema.XMLSchema(str(XSD_DIR / f"{version}.xsd")).validate(first.content.decode())
    etree.XMLSchema(etree.parse(str(XSD_DIR / f"{version}.xsd"))).assertValid(etree.fromstring(first.content))
    header_sum, header_count, amounts = sepa_total(first.content)
    csv_rows = list(csv.DictReader(io.StringIO(csv_response.content.decode())))
    csv_total = sum(Decimal(row["amount"]) for row in csv_rows)
    assert header_sum == amounts == csv_total == Decimal("1016.81")
    assert header_count == len(csv_rows) == 4
    root = etree.fromstring(first.content)
    ns = {"p": root.nsmap[None]}
    assert root.findtext(".//p:Cdtr/p:PstlAdr/p:TwnNm", namespaces=ns) == "Berlin"
    assert root.findtext(".//p:Cdtr/p:PstlAdr/p:Ctry", namespaces=ns) == "DE"
    export = PayoutExport.objects.get(batch_id=batch_id, format=version)
    import hashlib

    assert export.sha256 == hashlib.sha256(first.content).hexdigest()
    assert PayoutExport.objects.filter(batch_id=batch_id, format="csv").exists()


def test_non_euro_batch_exports_csv_only(finance_client, finance2_client):
    line(agent=payable_agent(), amount="50.00", currency="SEK")
    batch_id = create_batch(finance_client, currency="SEK").json()["id"]
    finance2_client.post(f"/api/v1/payout-batches/{batch_id}/approve/")
    assert finance_client.get(f"/api/v1/payout-batches/{batch_id}/export.csv").status_code == 200
    response = finance_client.get(f"/api/v1/payout-batches/{batch_id}/export.xml")
    assert response.status_code == 409
    assert "euros only" in response.json()["message"]


def test_mark_paid_and_list(finance_client, finance2_client):
    line(agent=payable_agent(), amount="5.00")
    batch_id = create_batch(finance_client).json()["id"]
    assert finance_client.post(f"/api/v1/payout-batches/{batch_id}/mark-paid/").status_code == 409
    finance2_client.post(f"/api/v1/payout-batches/{batch_id}/approve/")
    paid = finance_client.post(f"/api/v1/payout-batches/{batch_id}/mark-paid/")
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    listed = finance_client.get("/api/v1/payout-batches/").json()
    assert [b["id"] for b in listed] == [batch_id]
    detail = finance_client.get(f"/api/v1/payout-batches/{batch_id}/").json()
    assert detail["items"][0]["amount"] == "5.00"
