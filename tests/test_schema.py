import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings(tmp_path):
    """drf-spectacular fails on warnings: every endpoint's request and response is described."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/agents/{agent_id}/suspend/" in (tmp_path / "schema.yml").read_text()
