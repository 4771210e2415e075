import pytest

from agents.payout_details import mask_iban

VALID = {"holder": "Anna Example", "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX"}


@pytest.mark.django_db
def test_valid_payout_details_are_stored_compact(agent_client, agent):
    response = agent_client.put(
        "/api/v1/me/payout-details/",
        {**VALID, "address": {"street": "Hauptstr. 1", "postcode": "50667", "town": "Köln", "country": "DE"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    agent.refresh_from_db()
    assert agent.payout_iban == "DE89370400440532013000"
    assert agent.payout_town == "Köln"
    assert agent.has_valid_payout_details


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field",
    [
        ({"iban": "DE89370400440532013001"}, "iban"),  # checksum
        ({"iban": "DE8937040044053201300"}, "iban"),  # length for DE
        ({"iban": "XX89370400440532013000"}, "iban"),  # country
        ({"bic": "NOTABIC"}, "bic"),
        ({"bic": "NDEASESSXXX"}, "bic"),  # a Swedish BIC for a German IBAN
        ({"holder": ""}, "holder"),
    ],
)
def test_invalid_payout_details_are_refused_and_not_stored(agent_client, agent, change, field):
    response = agent_client.put("/api/v1/me/payout-details/", {**VALID, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    agent.refresh_from_db()
    assert agent.payout_iban == ""


def test_iban_is_masked_for_display():
    assert mask_iban("DE89370400440532013000") == "DE89 **** **** **** **30 00"
