"""Counts that add up: every figure the board, the pool page and the quality page show as parts of a
whole sums to that whole, and every figure comes with its definition (issue 14)."""

from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from django.utils.html import escape

from agents.models import Agent
from dispatch.models import Offer, OfferStatus
from dispatch.policy import policy_current
from supervisor import pages
from supervisor.selectors import board_snapshot, pool_rows, quality_report
from tests.factories import AgentFactory, TicketFactory, online

pytestmark = pytest.mark.django_db


def _agent_in(state: str, **fields) -> Agent:
    """An agent in one of the board's states, written as presence and dispatch would leave it."""
    agent = AgentFactory(**{k: v for k, v in fields.items() if k == "max_concurrent"})
    columns = {
        "offer_pending": {"presence": "online", "open_sockets": 1, "has_pending_offer": True},
        "busy": {"presence": "online", "open_sockets": 2, "active_tickets": agent.max_concurrent},
        "free": {"presence": "online", "open_sockets": 1},
        "reconnecting": {"presence": "online", "open_sockets": 0},
        "away": {"presence": "away", "open_sockets": 1},
        "away_no_socket": {"presence": "away", "open_sockets": 0},
        "offline_console_open": {"presence": "offline", "open_sockets": 1},
        "offline": {"presence": "offline", "open_sockets": 0},
        "suspended": {"status": "suspended", "presence": "online", "open_sockets": 1},
        "pending_approval": {"status": "pending"},
    }[state]
    Agent.objects.filter(pk=agent.pk).update(**columns, **{k: v for k, v in fields.items() if k != "max_concurrent"})
    agent.refresh_from_db()
    return agent


def _one_of_each():
    _agent_in("offer_pending")
    _agent_in("busy")
    _agent_in("busy", max_concurrent=2)
    _agent_in("free")
    _agent_in("free", max_concurrent=2, active_tickets=1)  # holds one ticket, has room for another
    _agent_in("offer_pending", active_tickets=1)  # at capacity yet offered (an offer from before a change)
    _agent_in("reconnecting")
    _agent_in("away")
    _agent_in("away_no_socket")
    _agent_in("offline_console_open")
    _agent_in("offline")
    _agent_in("offline")
    _agent_in("suspended")
    _agent_in("pending_approval")


def test_the_agent_figures_are_a_partition_that_adds_up():
    _one_of_each()

    agents = board_snapshot()["agents"]

    assert (agents["offer_pending"], agents["busy"], agents["available"]) == (2, 2, 2)
    assert agents["online"] == 6 == agents["offer_pending"] + agents["busy"] + agents["available"]
    assert (agents["reconnecting"], agents["away"], agents["offline_console_open"], agents["offline"]) == (1, 2, 1, 2)
    assert (
        agents["active"]
        == 12
        == (
            agents["online"]
            + agents["reconnecting"]
            + agents["away"]
            + agents["offline_console_open"]
            + agents["offline"]
        )
    )
    assert (agents["suspended"], agents["pending_approval"]) == (1, 1)
    assert agents["registered"] == 14 == agents["active"] + agents["suspended"] + agents["pending_approval"]
    assert agents["registered"] == Agent.objects.count()


def test_every_figure_on_the_board_has_its_definition_in_the_json():
    board = board_snapshot()
    definitions = board["definitions"]
    for block in ("agents", "waiting", "wait_last_hour", "sla", "offers_last_hour"):
        for key, value in board[block].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert definitions[block].get(key), f"{block}.{key} has no definition"
    assert "answer" in definitions["agents"]["offer_pending"]
    assert "room" in definitions["agents"]["available"]
    assert definitions["alerts_open"]


def _offer(ticket, agent, status, answered_at=None):
    now = timezone.now()
    return Offer.objects.create(
        ticket=ticket,
        agent=agent,
        status=status,
        created_at=(answered_at or now) - timedelta(seconds=5),
        expires_at=(answered_at or now) + timedelta(seconds=15),
        answered_at=answered_at,
        pay_estimate_amount="3.00",
        pay_estimate_currency="EUR",
        policy=policy_current(),
    )


def test_waiting_sla_and_offer_figures_add_up():
    now = timezone.now()
    agent = online(AgentFactory())
    ago = lambda seconds: now - timedelta(seconds=seconds)  # noqa: E731
    TicketFactory(status="queued", skills={"payments": 1, "refunds": 1}, created_at=ago(20), queued_at=ago(20))
    TicketFactory(status="queued", skills={"payments": 1}, created_at=ago(300), queued_at=ago(300))
    offered = TicketFactory(status="offered", language="de", created_at=ago(30), queued_at=ago(30))
    TicketFactory(status="assigned", assigned_agent=agent, created_at=ago(600), assigned_at=ago(590))  # met
    TicketFactory(status="assigned", assigned_agent=agent, created_at=ago(900), assigned_at=ago(700))  # late
    TicketFactory(status="cancelled", created_at=ago(1000), closed_at=ago(800))  # left after the target
    TicketFactory(status="cancelled", created_at=ago(1000), closed_at=ago(990))  # left within it
    _offer(offered, agent, OfferStatus.PENDING)
    for status in (OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED, OfferStatus.WITHDRAWN):
        _offer(TicketFactory(status="queued", created_at=ago(7200)), agent, status, answered_at=ago(60))

    board = board_snapshot(now=now)

    waiting = board["waiting"]
    assert waiting["total"] == 7 == waiting["queued"] + waiting["offered"]
    assert waiting["offered"] == 1
    assert sum(waiting["by_language"].values()) == waiting["total"]
    # A ticket needing two skills is counted once, under the pair, so the rows add up to the total.
    assert waiting["by_skill"]["payments + refunds"] == 1 and waiting["by_skill"]["payments"] == 1
    assert sum(waiting["by_skill"].values()) == waiting["total"]

    sla = board["sla"]
    assert sla["created"] == 7  # the four offered ones were created two hours ago
    assert sla["created"] == sla["met"] + sla["breaches"] + sla["not_yet_known"]
    assert (sla["met"], sla["assigned_late"], sla["waiting_beyond_target"], sla["left_after_target"]) == (1, 1, 1, 1)
    assert sla["breaches"] == sla["assigned_late"] + sla["waiting_beyond_target"] + sla["left_after_target"]
    assert sla["not_yet_known"] == 3  # waiting 20 s and 30 s, and the one that left within the target

    offers = board["offers_last_hour"]
    assert offers["ended"] == 4 == offers["accepted"] + offers["declined"] + offers["expired"] + offers["withdrawn"]
    assert offers["pending"] == 1


def test_the_board_page_shows_each_agent_figure_with_its_definition(supervisor):
    request = RequestFactory().get("/supervisor/")
    request.user = supervisor
    request.session = {}
    page = pages.board_page(request).content.decode()
    definitions = board_snapshot()["definitions"]["agents"]
    for key in ("online", "offer_pending", "busy", "available", "reconnecting", "away", "offline", "active"):
        assert f'data-board="agents.{key}"' in page
        assert escape(definitions[key]) in page
    assert 'data-board="alerts_open"' in page


def test_the_pool_page_states_add_up_to_the_agents_listed(supervisor):
    _one_of_each()
    rows = pool_rows()
    states = [row["state"] for row in rows]
    assert states.count("offer_pending") == 2 and states.count("busy") == 2 and states.count("available") == 2
    assert states.count("reconnecting") == 1  # presence "online" without a socket is not shown as online
    client = Client()
    client.force_login(supervisor)
    page = client.get("/supervisor/pool/").content.decode()
    assert 'data-testid="pool-summary"' in page
    summary = page.split('data-testid="pool-summary"')[1].split("</p>")[0]
    assert "14 agents listed" in summary
    assert "6 online" in summary and "2 with an offer pending" in summary


def test_quality_rows_add_up_to_the_finished_tickets():
    now = timezone.now()
    agent = AgentFactory()
    for skills in ({"payments": 1, "refunds": 1}, {"payments": 1}, {}):
        TicketFactory(
            status="resolved",
            assigned_agent=agent,
            assigned_at=now - timedelta(minutes=10),
            closed_at=now - timedelta(minutes=4),
            skills=skills,
        )
    report = quality_report(now=now)
    assert report["tickets"] == 3
    for block in ("by_agent", "by_skill", "by_reason"):
        assert sum(row["tickets"] for row in report[block]) == report["tickets"], block
    assert {row["skill"] for row in report["by_skill"]} == {"payments + refunds", "payments", "(none)"}
