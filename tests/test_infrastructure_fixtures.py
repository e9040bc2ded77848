"""In CI a test that needs PostgreSQL or Redis fails when it cannot have them; locally it skips."""

import pytest

from tests import conftest


def test_missing_infrastructure_skips_locally(monkeypatch):
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="needs Redis"):
        conftest._missing("needs Redis")


def test_missing_infrastructure_fails_in_ci(monkeypatch):
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="may not skip"):
        conftest._missing("needs Redis")
