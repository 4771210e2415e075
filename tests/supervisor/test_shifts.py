from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Shift, ShiftBooking
from agents.shifts import shift_publish
from tests.conftest import client_with_token
from tests.factories import AgentFactory, SkillFactory

pytestmark = pytest.mark.django_db


def _window(hours_ahead=24, length=4):
    start = timezone.now() + timedelta(hours=hours_ahead)
    return start.isoformat(), (start + timedelta(hours=length)).isoformat()


def test_publish_and_claim_and_release(supervisor_client):
    SkillFactory(code="payments")
    starts, ends = _window()
    created = supervisor_client.post(
        "/api/v1/shifts/",
        {
            "starts_at": starts,
            "ends_at": ends,
            "places": 1,
            "languages": ["de"],
            "skills": ["payments"],
            "hourly_guarantee": {"amount": "14.00", "currency": "EUR"},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    shift = created.json()
    assert shift["hourly_guarantee"] == {"amount": "14.00", "currency": "EUR"}

    german = AgentFactory(languages=["de"], skills={"payments": 1})
    client = client_with_token(german.user)
    claimed = client.post(f"/api/v1/shifts/{shift['id']}/claim/")
    assert claimed.status_code == 200 and claimed.json()["booked_by_me"] is True
    assert client.post(f"/api/v1/shifts/{shift['id']}/claim/").json()["code"] == "already_booked"

    other = client_with_token(AgentFactory(languages=["de"], skills={"payments": 2}).user)
    full = other.post(f"/api/v1/shifts/{shift['id']}/claim/")
    assert full.status_code == 409 and full.json()["code"] == "shift_full"

    released = client.post(f"/api/v1/shifts/{shift['id']}/release/")
    assert released.status_code == 200 and released.json()["booked"] == 0
    assert other.post(f"/api/v1/shifts/{shift['id']}/claim/").status_code == 200


def test_claim_is_refused_with_reasons(supervisor):
    SkillFactory(code="fraud")
    start = timezone.now() + timedelta(hours=5)
    shift = shift_publish(
        actor=supervisor,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        places=3,
        languages=["sv"],
        skills=["fraud"],
    )
    client = client_with_token(AgentFactory(languages=["en"]).user)
    refused = client.post(f"/api/v1/shifts/{shift.pk}/claim/")
    assert refused.status_code == 409
    assert "languages: sv" in refused.json()["message"] and "skills: fraud" in refused.json()["message"]


def test_release_is_refused_within_two_hours_of_the_start(supervisor):
    start = timezone.now() + timedelta(minutes=90)
    shift = shift_publish(actor=supervisor, starts_at=start, ends_at=start + timedelta(hours=2), places=2)
    agent = AgentFactory()
    client = client_with_token(agent.user)
    assert client.post(f"/api/v1/shifts/{shift.pk}/claim/").status_code == 200
    late = client.post(f"/api/v1/shifts/{shift.pk}/release/")
    assert late.status_code == 409 and late.json()["code"] == "release_too_late"
    assert ShiftBooking.objects.filter(shift=shift, agent=agent).exists()


@pytest.mark.parametrize(
    "change, field, text",
    [
        ({"ends_at": -1}, "ends_at", "end after it starts"),
        ({"places": 0}, "places", "at least one place"),
        ({"starts_at": -48}, "starts_at", "in the past"),
    ],
)
def test_impossible_shifts_are_refused_and_nothing_is_saved(supervisor_client, change, field, text):
    start = timezone.now() + timedelta(hours=24)
    body = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=3)).isoformat(), "places": 2}
    if "ends_at" in change:
        body["ends_at"] = (start + timedelta(hours=change["ends_at"])).isoformat()
    if "starts_at" in change:
        body["starts_at"] = (start + timedelta(hours=change["starts_at"])).isoformat()
    if "places" in change:
        body["places"] = change["places"]
    response = supervisor_client.post("/api/v1/shifts/", body, format="json")
    assert response.status_code == 400
    assert any(text in problem for problem in response.json()[field])
    assert Shift.objects.count() == 0


def test_agents_may_not_publish(agent_client):
    starts, ends = _window()
    response = agent_client.post("/api/v1/shifts/", {"starts_at": starts, "ends_at": ends, "places": 1}, format="json")
    assert response.status_code == 403


def test_coverage_counts_booked_places(supervisor, supervisor_client):
    start = (timezone.now() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    shift = shift_publish(actor=supervisor, starts_at=start, ends_at=start + timedelta(hours=2), places=2)
    client_with_token(AgentFactory().user).post(f"/api/v1/shifts/{shift.pk}/claim/")
    plan = supervisor_client.get("/api/v1/staffing/coverage/?days=1").json()
    booked = {hour["starts_at"]: hour["booked"] for hour in plan["hours"]}
    assert booked[start.isoformat()] == 1 and booked[(start + timedelta(hours=2)).isoformat()] == 0
    assert len(plan["hours"]) == 24 and plan["handle_seconds"] == 480
