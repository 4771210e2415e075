"""The SEPA file debits the platform's own account (PAYOUT_DEBTOR_NAME, _IBAN, _BIC). There is no default:
without them, or with an invalid IBAN or BIC, the XML export is refused with a 409 that names what to set,
and the finance page says the same instead of offering the download. The CSV carries no debtor."""

from pathlib import Path

import pytest
import sepaxml
from django.test import Client
from lxml import etree

from payouts.models import PayoutExport
from tests.conftest import client_with_token
from tests.factories import UserFactory
from tests.payouts.conftest import TEST_DEBTOR
from tests.payouts.factories import line, payable_agent
from tests.payouts.test_payout_batches import approved_batch

pytestmark = pytest.mark.django_db

VARIABLES = ["PAYOUT_DEBTOR_NAME", "PAYOUT_DEBTOR_IBAN", "PAYOUT_DEBTOR_BIC"]


@pytest.fixture
def finance2_client():
    return client_with_token(UserFactory(role="finance"))


@pytest.fixture
def batch_id(finance_client, finance2_client):
    line(agent=payable_agent(), amount="12.40")
    return approved_batch(finance_client, finance2_client)


def xml_export(client, batch_id, version="pain.001.001.09"):
    return client.get(f"/api/v1/payout-batches/{batch_id}/export.xml?version={version}")


def test_without_a_debtor_the_sepa_export_is_refused_naming_every_missing_setting(settings, finance_client, batch_id):
    settings.PAYOUT_DEBTOR = {}

    response = xml_export(finance_client, batch_id)

    assert response.status_code == 409
    assert response.json()["code"] == "payout_debtor_missing"
    assert all(variable in response.json()["message"] for variable in VARIABLES), response.json()
    assert not PayoutExport.objects.filter(batch_id=batch_id).exclude(format="csv").exists()
    assert finance_client.get(f"/api/v1/payout-batches/{batch_id}/export.csv").status_code == 200


def test_a_partly_configured_debtor_names_only_what_is_missing(settings, finance_client, batch_id):
    settings.PAYOUT_DEBTOR = {"name": "Dispatch GmbH"}

    message = xml_export(finance_client, batch_id, version="pain.001.001.03").json()["message"]

    assert "PAYOUT_DEBTOR_IBAN" in message and "PAYOUT_DEBTOR_BIC" in message
    assert "PAYOUT_DEBTOR_NAME" not in message


@pytest.mark.parametrize(
    "wrong, variable",
    [
        ({"IBAN": "DE02500105170137075031"}, "PAYOUT_DEBTOR_IBAN"),  # checksum off by one
        ({"BIC": "NOTABIC"}, "PAYOUT_DEBTOR_BIC"),
        ({"BIC": "ESSESESSXXX"}, "PAYOUT_DEBTOR_BIC"),  # a Swedish bank for a German account
    ],
)
def test_an_invalid_debtor_iban_or_bic_is_refused_the_same_way(settings, finance_client, batch_id, wrong, variable):
    settings.PAYOUT_DEBTOR = {**TEST_DEBTOR, **wrong}

    response = xml_export(finance_client, batch_id)

    assert response.status_code == 409
    assert response.json()["code"] == "payout_debtor_invalid"
    assert variable in response.json()["message"]


@pytest.mark.parametrize("version", ["pain.001.001.09", "pain.001.001.03"])
def test_with_the_debtor_set_the_file_debits_it_and_validates(finance_client, batch_id, version):
    response = xml_export(finance_client, batch_id, version=version)

    assert response.status_code == 200, response.content
    schema = etree.XMLSchema(etree.parse(str(Path(sepaxml.__file__).parent / "schemas" / f"{version}.xsd")))
    root = etree.fromstring(response.content)
    schema.assertValid(root)
    ns = {"p": root.nsmap[None]}
    assert root.findtext(".//p:PmtInf/p:Dbtr/p:Nm", namespaces=ns) == TEST_DEBTOR["name"]
    assert root.findtext(".//p:PmtInf/p:DbtrAcct/p:Id/p:IBAN", namespaces=ns) == TEST_DEBTOR["IBAN"]


def test_the_batch_page_gives_the_reason_instead_of_the_sepa_download(settings, finance_user, batch_id):
    page = Client()
    page.force_login(finance_user)
    configured = page.get(f"/finance/batches/{batch_id}/").content.decode()
    assert "export.xml" in configured

    settings.PAYOUT_DEBTOR = {}
    refused = page.get(f"/finance/batches/{batch_id}/").content.decode()

    assert "export.xml" not in refused and "export.csv" in refused
    assert all(variable in refused for variable in VARIABLES)


def test_make_run_sets_a_clearly_named_valid_demo_debtor_only_when_none_is_configured(monkeypatch, settings):
    import os

    from ops import runplatform
    from payouts.exports import DEBTOR_SETTINGS, debtor_refusal

    environ = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    monkeypatch.setattr(os, "environ", environ)  # restored afterwards, the demo values included
    runplatform._demo_debtor_unless_configured()
    settings.PAYOUT_DEBTOR = {key: environ[variable] for key, variable in DEBTOR_SETTINGS.items()}
    assert settings.PAYOUT_DEBTOR["name"] == "DEMO DEBTOR - not a real account"
    assert debtor_refusal() is None

    partly = {"PAYOUT_DEBTOR_NAME": "Dispatch GmbH"}
    monkeypatch.setattr(os, "environ", partly)
    runplatform._demo_debtor_unless_configured()  # partly configured: left for the export to name the rest
    assert partly == {"PAYOUT_DEBTOR_NAME": "Dispatch GmbH"}
