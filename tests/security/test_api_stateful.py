"""The API fuzzed in sequences: schemathesis's state machine follows OpenAPI links from an operation that
creates or lists something to the operations that act on it (escalate a ticket, then message, cancel,
requeue, reassign it; publish a shift, then claim, release, cancel it; create a payout batch, then approve,
export, mark it paid; list offers, then accept or decline one; ...).

Each call is made as a role the operation admits (picked by the run's seed when several do), so one
scenario crosses roles as the platform's users do. Checked on every answer: never a 5xx, and a status
the schema documents. The links are added to the schema here, for the fuzzer; the served schema is
unchanged.

Bounded: FUZZ_STATEFUL_SCENARIOS (default 20) scenarios of up to FUZZ_STATEFUL_STEPS (default 8) calls;
`make fuzz` runs many more. Seeded by the run's seed (FUZZ_SEED replays it).
"""

import copy
import os
import zlib
from collections import Counter

import hypothesis
import hypothesis.core
import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.security.fuzz_figures import FIGURES, SEED
from tests.security.test_api_fuzz import (  # noqa: F401 - fixtures
    ROLES,
    callers,
    roles_admitted,
    wsgi_app_in_the_test_transaction,
)

pytestmark = pytest.mark.django_db

SCENARIOS = int(os.environ.get("FUZZ_STATEFUL_SCENARIOS", "20"))
STEPS = int(os.environ.get("FUZZ_STATEFUL_STEPS", "8"))

TICKET_ACTIONS = [
    ("get", "/api/v1/tickets/{ticket_id}/"),
    ("post", "/api/v1/tickets/{ticket_id}/messages/"),
    ("post", "/api/v1/tickets/{ticket_id}/cancel/"),
    ("post", "/api/v1/tickets/{ticket_id}/csat/"),
    ("post", "/api/v1/tickets/{ticket_id}/resolve/"),
    ("post", "/api/v1/tickets/{ticket_id}/hand-back/"),
    ("post", "/api/v1/tickets/{ticket_id}/wrap-up-done/"),
    ("get", "/api/v1/dispatch/tickets/{ticket_id}/offers/"),
    ("get", "/api/v1/supervisor/tickets/{ticket_id}/timeline/"),
    ("post", "/api/v1/supervisor/tickets/{ticket_id}/requeue/"),
    ("post", "/api/v1/supervisor/tickets/{ticket_id}/reassign/"),
    ("post", "/api/v1/supervisor/tickets/{ticket_id}/cancel/"),
]
AGENT_ACTIONS = [
    ("get", "/api/v1/agents/{agent_id}/"),
    ("patch", "/api/v1/agents/{agent_id}/"),
    ("post", "/api/v1/agents/{agent_id}/suspend/"),
    ("post", "/api/v1/agents/{agent_id}/reinstate/"),
    ("post", "/api/v1/agents/{agent_id}/approve/"),
    ("post", "/api/v1/agents/{agent_id}/certify/"),
    ("post", "/api/v1/agents/{agent_id}/pseudonymise/"),
]
OFFER_ACTIONS = [
    ("get", "/api/v1/offers/{offer_id}/"),
    ("post", "/api/v1/offers/{offer_id}/accept/"),
    ("post", "/api/v1/offers/{offer_id}/decline/"),
]
SHIFT_ACTIONS = [("post", f"/api/v1/shifts/{{shift_id}}/{verb}/") for verb in ("claim", "release", "cancel")]
BATCH_ACTIONS = [
    ("get", "/api/v1/payout-batches/{batch_id}/"),
    ("post", "/api/v1/payout-batches/{batch_id}/approve/"),
    ("post", "/api/v1/payout-batches/{batch_id}/mark-paid/"),
    ("get", "/api/v1/payout-batches/{batch_id}/export.csv"),
    ("get", "/api/v1/payout-batches/{batch_id}/export.xml"),
]

# (source operation, its status, where the id is in its answer, the operations that act on that id)
LINKS = [
    (("post", "/api/v1/tickets/"), "201", "$response.body#/id", TICKET_ACTIONS),
    (("post", "/api/v1/tickets/"), "200", "$response.body#/id", TICKET_ACTIONS),
    (("get", "/api/v1/supervisor/tickets/"), "200", "$response.body#/0/id", TICKET_ACTIONS),
    (("post", "/api/v1/agents/"), "201", "$response.body#/id", AGENT_ACTIONS),
    (("get", "/api/v1/agents/"), "200", "$response.body#/0/id", AGENT_ACTIONS),
    (("get", "/api/v1/offers/"), "200", "$response.body#/0/id", OFFER_ACTIONS),
    (("post", "/api/v1/shifts/"), "201", "$response.body#/id", SHIFT_ACTIONS),
    (("get", "/api/v1/shifts/"), "200", "$response.body#/0/id", SHIFT_ACTIONS),
    (("post", "/api/v1/payout-batches/"), "201", "$response.body#/id", BATCH_ACTIONS),
    (("get", "/api/v1/payout-batches/"), "200", "$response.body#/0/id", BATCH_ACTIONS),
    (("get", "/api/v1/alerts/"), "200", "$response.body#/0/id", [("post", "/api/v1/alerts/{alert_id}/acknowledge/")]),
    (("get", "/api/v1/appeals/"), "200", "$response.body#/0/id", [("post", "/api/v1/appeals/{appeal_id}/decide/")]),
    (
        ("get", "/api/v1/webhook-deliveries/"),
        "200",
        "$response.body#/0/id",
        [("post", "/api/v1/webhook-deliveries/{delivery_id}/redeliver/")],
    ),
]


def schema_with_links(raw: dict) -> dict:
    """The served schema plus OpenAPI links: which answer's id each acting operation takes."""
    paths = raw["paths"]
    for (method, path), status, where, targets in LINKS:
        response = paths[path][method]["responses"].setdefault(status, {"description": "OK"})
        links = response.setdefault("links", {})
        for target_method, target_path in targets:
            target = paths[target_path][target_method]
            (parameter,) = [p["name"] for p in target.get("parameters", []) if p["in"] == "path"]
            links[target["operationId"]] = {"operationId": target["operationId"], "parameters": {parameter: where}}
    return raw


@pytest.fixture
def the_run_seed():
    """Hypothesis draws the scenarios from the run's seed (the state machine has no seed of its own)."""
    hypothesis.core.global_force_seed = SEED
    yield SEED
    hypothesis.core.global_force_seed = None


def test_stateful_fuzzing_never_answers_5xx_or_an_undocumented_status(
    callers,  # noqa: F811
    wsgi_app_in_the_test_transaction,  # noqa: F811
    the_run_seed,
):
    tokens, _ = callers
    served = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app_in_the_test_transaction)
    schema = schemathesis.openapi.from_dict(schema_with_links(copy.deepcopy(served.raw_schema)))
    schema.app = wsgi_app_in_the_test_transaction
    schema.location = "/api/schema/"
    statuses: Counter = Counter()
    roles_used: Counter = Counter()
    links_followed = Counter()

    class Scenarios(schema.as_state_machine()):
        """Every scenario starts from the same data (a savepoint rolled back after it) and picks its roles
        from the seed and the step: Hypothesis replays scenarios and needs them to go the same way."""

        def setup(self):
            self.savepoint = transaction.savepoint()
            self.step_number = 0

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            self.step_number += 1
            admitted = [role for role in ROLES if role in roles_admitted(case.operation.path)]
            if not admitted:  # a public operation (the token endpoint)
                return {}
            role = admitted[zlib.crc32(f"{SEED} {self.step_number} {case.operation.label}".encode()) % len(admitted)]
            roles_used[role] += 1
            return {"headers": {"Authorization": f"Bearer {tokens[role]}"}}

        def after_call(self, response, case):
            statuses[response.status_code] += 1
            if any(f"{{{name}}}" in case.operation.path for name in ("ticket_id", "shift_id", "batch_id")):
                links_followed[case.operation.label] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance])

    try:
        Scenarios.run(
            settings=hypothesis.settings(
                max_examples=SCENARIOS,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.generate],
            )
        )
    finally:
        FIGURES["API fuzz, stateful"] = {
            "seed (FUZZ_SEED to replay)": SEED,
            "scenarios": SCENARIOS,
            "steps at most": STEPS,
            "calls": sum(statuses.values()),
            "statuses": dict(sorted(statuses.items())),
            "calls by role": dict(roles_used.most_common()),
            "calls on a linked ticket, shift or batch": sum(links_followed.values()),
        }
    assert sum(statuses.values()) > SCENARIOS
