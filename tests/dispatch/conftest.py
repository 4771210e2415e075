import pytest

from dispatch.policy import policy_current
from tests.factories import set_policy  # noqa: F401 - the dispatch tests import it from here


@pytest.fixture
def policy(db):
    return policy_current()
