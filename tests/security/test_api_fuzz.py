"""The API fuzzed with schemathesis against its own OpenAPI schema (/api/schema/).

Every operation gets generated requests, valid ones and deliberately invalid ones, from the roles
allowed to call it (most examples) and from every other role and no one at all (a few each: the refusal
must be documented too). Two checks on every answer: never a 5xx, and the status is one the schema
documents for the operation. Path parameters are sometimes ids of real objects, so the fuzzer gets
past "404 not found" into the views themselves.

Bounded: FUZZ_EXAMPLES (default 8, so that this and the stateful pass stay near a minute) examples per
operation for its own roles, 2 per foreign role (`make fuzz` runs many more). Seeded afresh each run, so
every run looks somewhere new: the seed is printed at the top of the run and FUZZ_SEED=<seed> replays it
(tests/security/fuzz_figures.py). The cases run, by status, are printed in the terminal summary.
"""

import datetime as dt
import os
import re
import zlib
from dataclasses import dataclass, field

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import resolve
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from rest_framework.permissions import AllowAny
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from actions.supervision import appeal_submit
from actions.tickets import ticket_escalate
from agents.models import Agent, Role
from agents.services import agent_suspend, person_token_issue
from agents.shifts import shift_publish
from dispatch.services import ticket_dispatch
from tests.factories import AgentFactory, SkillFactory, UserFactory, integration_with_token, online
from tests.security.counters import fresh_rate_counters  # noqa: F401 - autouse fixture
from tests.security.fuzz_figures import FIGURES, SEED
from tests.tickets.test_intake import escalation
from tickets.models import Ticket
from tickets.serializers import TicketCreateSerializer

pytestmark = pytest.mark.django_db

EXAMPLES_OWN_ROLE = int(os.environ.get("FUZZ_EXAMPLES", "8"))
EXAMPLES_FOREIGN_ROLE = 2
PLACEHOLDER_UUID = "00000000-0000-4000-8000-000000000000"
ROLES = (Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR, Role.FINANCE)


@dataclass
class FuzzRun:
    cases: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def roles_admitted(path: str) -> set[str]:
    """Which roles the view behind `path` admits ("anonymous" for a public one), from its permissions."""
    view = resolve(re.sub(r"\{[^}]+\}", PLACEHOLDER_UUID, path)).func.cls
    admitted: set[str] = set(ROLES)
    for permission in view.permission_classes:
        if permission is AllowAny:
            return {"anonymous", *ROLES}
        roles = getattr(permission, "roles", None)
        if roles:
            admitted &= set(roles)
    return admitted


@pytest.fixture
def callers(settings):
    """A bearer token per role, and ids of real objects for path parameters."""
    # The fuzzer would spend the token and intake allowances in seconds; their 429 is tested elsewhere.
    settings.RATE_LIMITS = {"login": "100000/min", "token": "100000/min", "intake": "100000/min"}
    for code in ("payments", "refunds"):
        SkillFactory(code=code)
    integration, integration_token = integration_with_token()
    agent = AgentFactory(languages=["de", "en"], skills={"payments": 3})
    Agent.objects.filter(pk=agent.pk).update(
        payout_holder="Anna Example", payout_iban="DE04100100104711081542", payout_bic="PBNKDEFFXXX"
    )
    supervisor = UserFactory(role="supervisor")
    online(agent)
    ticket, _ = ticket_escalate(integration=integration, **_escalation_input())
    (offer,) = ticket_dispatch(ticket_id=ticket.pk)
    tomorrow = timezone.now() + dt.timedelta(days=1)
    shift = shift_publish(actor=supervisor, starts_at=tomorrow, ends_at=tomorrow + dt.timedelta(hours=4), places=2)
    suspended = AgentFactory()
    agent_suspend(agent=suspended, actor=supervisor, reason="fuzzing")
    appeal = appeal_submit(agent=suspended, text="Please look again.")
    tokens = {
        Role.INTEGRATION: integration_token,
        Role.AGENT: person_token_issue(user=agent.user),
        Role.SUPERVISOR: person_token_issue(user=supervisor),
        Role.FINANCE: person_token_issue(user=UserFactory(role="finance")),
    }
    known_ids = {
        # Not the fuzzing agent: the supervisor's fuzzed suspensions and pseudonymisations land on this one.
        "agent_id": str(suspended.pk),
        "ticket_id": str(ticket.pk),
        "offer_id": str(offer.pk),
        "shift_id": str(shift.pk),
        "appeal_id": str(appeal.pk),
    }
    return tokens, known_ids


@pytest.fixture
def wsgi_app_in_the_test_transaction():
    """Django's WSGI app, as its test client runs it: the request signals must not close the test's
    database connection (it holds the transaction every request reads and writes in)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _escalation_input() -> dict:
    serializer = TicketCreateSerializer(data=escalation(external_id="fuzz-seed"))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def fuzz_operation(run: FuzzRun, operation, *, headers: dict, examples: int, path_parameters: dict | None):
    hypothesis_settings = hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
        # The run's seed, varied per operation, role and mode: each looks at its own corner of the input.
        seed = SEED + zlib.crc32(f"{operation.label} {headers.get('X-Fuzz-Role')} {mode.value}".encode())

        @hypothesis.seed(seed)
        @hypothesis_settings
        @hypothesis.given(case=strategy)
        def send(case):
            response = case.call(headers=headers)
            run.cases += 1
            run.by_status[response.status_code] = run.by_status.get(response.status_code, 0) + 1
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance])

        try:
            send()
        except hypothesis.errors.Unsatisfiable:
            continue  # e.g. no invalid input can be generated for an operation without parameters
        except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - collected: one run reports them all
            run.failures.append(
                f"{operation.label} [{mode.value}, {headers.get('X-Fuzz-Role')}, FUZZ_SEED={SEED}]: {failure}"
            )


def test_fuzzed_api_never_answers_5xx_or_an_undocumented_status(callers, wsgi_app_in_the_test_transaction):
    tokens, known_ids = callers
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app_in_the_test_transaction)
    run = FuzzRun()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50  # the whole API, not a part that happened to load

    for operation in operations:
        admitted = roles_admitted(operation.path)
        path_names = {p.name for p in operation.path_parameters}
        known = {name: known_ids[name] for name in path_names if name in known_ids}
        for role in (*ROLES, "anonymous"):
            headers = {"X-Fuzz-Role": role}
            if role != "anonymous":
                headers["Authorization"] = f"Bearer {tokens[role]}"
            own = role in admitted
            examples = EXAMPLES_OWN_ROLE if own else EXAMPLES_FOREIGN_ROLE
            fuzz_operation(run, operation, headers=headers, examples=examples, path_parameters=None)
            if own and known and path_names <= set(known):
                fuzz_operation(run, operation, headers=headers, examples=examples, path_parameters=known)

    FIGURES["API fuzz, operation by operation"] = {
        "seed (FUZZ_SEED to replay)": SEED,
        "examples per operation and own role": EXAMPLES_OWN_ROLE,
        "operations": len(operations),
        "cases": run.cases,
        "statuses": dict(sorted(run.by_status.items())),
        "failing": len(run.failures),
    }
    assert run.failures == [], "\n\n".join(run.failures)
    assert run.by_status.get(200, 0) + run.by_status.get(201, 0) > 0  # the fuzzer got past the refusals


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ({"handoff": {"verified_facts": {"order_id": "12\u000034"}}}, "handoff.verified_facts.order_id"),
        ({"handoff": {"verified_facts": {"order\u0000id": "1234"}}}, "handoff.verified_facts.order\\0id"),
        ({"summary": "double\u0000charge"}, "summary"),
    ],
)
def test_a_nul_character_in_free_form_json_is_a_400_naming_where(integration_client, where, field):
    """Found by probing what the fuzzer's strategies rarely generate: PostgreSQL refuses NUL in jsonb."""
    SkillFactory(code="payments")

    response = integration_client.post("/api/v1/tickets/", escalation(external_id="nul", **where), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Ticket.objects.exists()


def test_a_nul_character_in_a_query_parameter_is_a_400_naming_it(supervisor_client):
    """Found by the fuzzer: GET /api/v1/pool/?presence=%00 reached PostgreSQL and answered 500."""
    response = supervisor_client.get("/api/v1/pool/", {"presence": "on\u0000line", "search": "anna"})

    assert response.status_code == 400
    assert list(response.json()["presence"]) == ["Null characters are not allowed."]
