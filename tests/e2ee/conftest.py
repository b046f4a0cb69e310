from __future__ import annotations

import pytest

from tests.e2ee.helpers import publish, set_policy
from tests.factories import make_user
from tests.messaging.test_notifications import mailbox  # noqa: F401  (a fixture, shared)


@pytest.fixture
def allowed(db) -> None:
    set_policy("allowed")


@pytest.fixture
def ana(db):
    return make_user(name="Ana Lopez")


@pytest.fixture
def ben(db):
    return make_user(name="Ben Okafor")


@pytest.fixture
def keys(ana, ben) -> dict:
    return {ana.pk: publish(ana), ben.pk: publish(ben)}
