import pytest

from tests.factories import PASSWORD, AgentFactory, UserFactory


@pytest.mark.django_db
def test_token_login_returns_a_token_and_the_role(api_client):
    agent = AgentFactory()
    response = api_client.post(
        "/api/v1/auth/token/", {"username": agent.user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["role"] == "agent"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    me = api_client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == agent.user.username
    assert me.json()["status"] == "active"


@pytest.mark.django_db
def test_wrong_password_is_refused_without_a_token(api_client):
    user = UserFactory(role="supervisor")
    response = api_client.post("/api/v1/auth/token/", {"username": user.username, "password": "nope"}, format="json")
    assert response.status_code == 401
    assert "token" not in response.json()


@pytest.mark.django_db
def test_token_request_names_missing_fields(api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


@pytest.mark.django_db
def test_an_unknown_bearer_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer dpp_not-a-real-token")
    assert api_client.get("/api/v1/me/").status_code == 401


@pytest.mark.django_db
def test_integration_token_authenticates_as_the_integration(integration_client, integration):
    me = integration_client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["role"] == "integration"


@pytest.mark.django_db
def test_session_login_page_signs_a_person_in_and_lands_on_their_role_page(client):
    agent = AgentFactory()
    page = client.get("/login/")
    assert page.status_code == 200
    response = client.post("/login/", {"username": agent.user.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/agent/"
    assert agent.display_name in response.content.decode()


@pytest.mark.django_db
def test_a_role_page_refuses_another_role(client):
    user = UserFactory(role="finance")
    client.force_login(user)
    assert client.get("/supervisor/").status_code == 403
    assert client.get("/finance/").status_code == 200
