import pytest

# The platform's own account for the payout tests' SEPA files (a valid IBAN and BIC that are nobody's).
TEST_DEBTOR = {"name": "Dispatch Test Debtor", "IBAN": "DE02500105170137075030", "BIC": "INGDDEFFXXX"}


@pytest.fixture(autouse=True)
def payout_debtor(settings):
    """SEPA exports need the debtor account (PAYOUT_DEBTOR_*), which has no default; a test of the
    refusal empties it again."""
    settings.PAYOUT_DEBTOR = dict(TEST_DEBTOR)
    return settings.PAYOUT_DEBTOR
