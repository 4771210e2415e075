"""Finance's forms are for people: an agent picked by name, a ticket by the id the bot platform uses,
rate-card fields named for what they mean."""

import pytest
from django.test import Client

from payouts.models import PayLine
from tests.factories import TicketFactory, UserFactory
from tests.payouts.factories import payable_agent

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_adjustment_picks_the_agent_by_name_and_the_ticket_by_its_external_id():
    page = signed_in(UserFactory(role="finance"))
    agent = payable_agent(display_name="Greta Gründlich")
    ticket = TicketFactory(external_id="chat-8812", assigned_agent=agent)
    form = page.get("/finance/adjustments/").content.decode()
    assert f'<option value="{agent.pk}">Greta Gründlich ({agent.user.username})</option>' in form
    page.post(
        "/finance/adjustments/",
        {"agent": agent.pk, "ticket": "chat-404", "amount": "2.00", "currency": "EUR", "reason": "Missed"},
    )
    assert not PayLine.objects.exists()  # an unknown ticket is refused, nothing written
    response = page.post(
        "/finance/adjustments/",
        {"agent": agent.pk, "ticket": "chat-8812", "amount": "2.00", "currency": "EUR", "reason": "Missed"},
    )
    assert response.status_code == 302
    written = PayLine.objects.get()
    assert (written.agent, written.ticket) == (agent, ticket)


def test_an_unknown_ticket_is_named_as_the_problem():
    page = signed_in(UserFactory(role="finance"))
    agent = payable_agent()
    response = page.post(
        "/finance/adjustments/",
        {"agent": agent.pk, "ticket": "chat-404", "amount": "2.00", "currency": "EUR", "reason": "Missed"},
    )
    assert "No ticket has this id." in response.content.decode()


def test_rate_card_fields_say_what_they_mean():
    page = signed_in(UserFactory(role="finance")).get("/finance/rate-cards/").content.decode()
    assert "Floor k" not in page and "Floor a" not in page
    assert "Weekly floor: share of R per engaged hour" in page
    assert "Weekly floor: share of R per available hour" in page


def test_the_finance_landing_page_and_the_notice_have_navigation():
    page = signed_in(UserFactory(role="finance"))
    for path in ("/finance/", "/algorithm-notice/"):
        html = page.get(path).content.decode()
        assert 'href="/finance/batches/"' in html and 'href="/finance/rate-cards/"' in html, path
