"""The only place the agents app takes row locks: evaluated, of the rows themselves, several in pk order.

Order across apps: a ticket's row first (tickets.locks), then agents' rows (here), so two transactions
that lock both never wait for each other in a circle.
"""

from agents.models import Agent


def agent_lock(*, agent_id, related: tuple[str, ...] = ()) -> Agent:
    """Lock one agent's row for the rest of the transaction (Agent.DoesNotExist if there is none)."""
    return Agent.objects.select_for_update(of=("self",)).select_related(*related).get(pk=agent_id)


def agents_lock(*, agent_ids) -> list[Agent]:
    """Lock several agents' rows, in pk order (the order every transaction uses), and return them."""
    return list(Agent.objects.select_for_update(of=("self",)).filter(pk__in=list(agent_ids)).order_by("pk"))
