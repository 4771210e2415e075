"""Every supervisor and finance page and the algorithm notice in German and Swedish: the page's words are
the reader's language, not English."""

import pytest
from django.test import Client
from django.utils import timezone

from payouts.batches import payout_batch_create
from tests.factories import AgentFactory, TicketFactory, UserFactory
from tests.payouts.factories import line, payable_agent

pytestmark = pytest.mark.django_db

# (page, words it must show in German, in Swedish, English it must no longer show)
SUPERVISOR_PAGES = [
    ("/supervisor/", "Live-Übersicht", "Liveöversikt", "Live board"),
    ("/supervisor/tickets/", "Alle, neueste zuerst", "Alla, senaste först", "All, most recent first"),
    ("/supervisor/tickets/{ticket}/", "Verlauf", "Tidslinje", "Timeline"),
    ("/supervisor/pool/", "Einen Agenten anlegen", "Lägg till en agent", "Add an agent"),
    ("/supervisor/pool/{agent}/", "Eine Fähigkeit zertifizieren", "Certifiera en färdighet", "Certify a skill"),
    ("/supervisor/appeals/", "Einsprüche gegen Sperren", "Överklaganden av avstängningar", "Suspension appeals"),
    ("/supervisor/shifts/", "Eine Schicht veröffentlichen", "Publicera ett pass", "Publish a shift"),
    ("/supervisor/quality/", "Nach Eskalationsgrund", "Per eskaleringsskäl", "Per escalation reason"),
    ("/supervisor/policy/", "Als neue Version speichern", "Spara som ny version", "Save as a new version"),
    ("/algorithm-notice/", "Wie Angebote gereiht werden", "Hur erbjudanden rangordnas", "How offers are ranked"),
]
FINANCE_PAGES = [
    ("/finance/", "Auszahlungsläufe", "Utbetalningsomgångar", "Payout batches"),
    ("/finance/batches/", "Einen Auszahlungslauf erstellen", "Skapa en utbetalningsomgång", "Build a payout batch"),
    ("/finance/batches/{batch}/", "Bezahlte Agenten", "Agenter som får betalt", "Mark paid"),
    ("/finance/adjustments/", "Eine Korrektur erfassen", "Registrera en justering", "Enter an adjustment"),
    ("/finance/rate-cards/", "Wöchentliche Untergrenze: Anteil von R", "Veckogolv: andel av R", "Save new version"),
    ("/algorithm-notice/", "Wie der Lohn berechnet wird", "Hur lönen beräknas", "How pay is computed"),
]


@pytest.fixture
def ids(db):
    finance = UserFactory(role="finance")
    agent = payable_agent()
    line(agent=agent, amount="4.80")
    today = timezone.now().date()
    batch = payout_batch_create(actor=finance, period_start=today, period_end=today, currency="EUR")
    return {"ticket": TicketFactory().pk, "agent": AgentFactory().pk, "batch": batch.pk, "finance": finance}


@pytest.mark.parametrize("language", ["de", "sv"])
@pytest.mark.parametrize(("path", "german", "swedish", "english"), SUPERVISOR_PAGES + FINANCE_PAGES)
def test_every_page_speaks_german_and_swedish(ids, supervisor, language, path, german, swedish, english):
    is_finance = (path, german, swedish, english) in FINANCE_PAGES
    client = Client()
    client.force_login(ids["finance"] if is_finance else supervisor)
    page = client.get(path.format(**ids), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'lang="{language}"' in page
    assert (german if language == "de" else swedish) in page
    assert english not in page
