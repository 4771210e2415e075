"""Rows are locked before they are written, wherever a write depends on what was read (locks.py of each
app): checked on the SQL the services really run."""

import pytest

from actions.people import agent_pseudonymise
from actions.supervision import ticket_requeue
from agents.presence import presence_set
from dispatch import services as dispatch
from tests.factories import AgentFactory, TicketFactory, UserFactory, online

pytestmark = pytest.mark.django_db


def test_presence_locks_the_agent_before_it_changes_it(lock_order):
    agent = AgentFactory()
    with lock_order.capture:
        presence_set(agent=agent, status="online")
    lock_order.assert_locked_before_write("agents_agent", agent.pk)


def test_accepting_an_offer_locks_the_ticket_before_it_moves_it(lock_order):
    agent = online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="en")
    [offer] = dispatch.ticket_dispatch(ticket_id=ticket.pk)
    with lock_order.capture:
        dispatch.offer_accept(offer_id=offer.pk, agent=agent)
    lock_order.assert_locked_before_write("tickets_ticket", ticket.pk)


def test_a_requeue_locks_the_ticket_before_it_moves_it(lock_order):
    agent = online(AgentFactory(languages=["en"]))
    ticket = TicketFactory(language="en")
    [offer] = dispatch.ticket_dispatch(ticket_id=ticket.pk)
    dispatch.offer_accept(offer_id=offer.pk, agent=agent)
    with lock_order.capture:
        ticket_requeue(ticket_id=ticket.pk, actor=UserFactory(role="supervisor"), reason="stuck")
    lock_order.assert_locked_before_write("tickets_ticket", ticket.pk)


def test_pseudonymisation_locks_the_agent_before_it_rewrites_them(lock_order):
    agent = AgentFactory()
    with lock_order.capture:
        agent_pseudonymise(agent=agent, actor=UserFactory(role="supervisor"), reason="left the platform")
    lock_order.assert_locked_before_write("agents_agent", agent.pk)
