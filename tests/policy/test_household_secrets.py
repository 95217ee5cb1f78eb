"""A household's store URL never holds a secret, however it is spelled (libpq decodes
percent-encoded keys: ``pass%77ord`` is ``password``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shepherd.policy import check_policy_file

POLICY = 'version = 1\n[[users]]\nname = "alex"\n[household]\nstore = "{url}"\n'


@pytest.mark.parametrize("url", [
    "postgresql://shepherd:secret@nas.lan/shepherd",
    "postgresql:///shepherd?service=shepherd&password=secret",
    "postgresql:///shepherd?service=shepherd&PASSWORD=secret",
    "postgresql:///shepherd?service=shepherd&pass%77ord=secret",
    "postgresql:///shepherd?service=shepherd&%70%61%73%73%77%6F%72%64=secret",
    "postgresql:///shepherd?sslkey=/k&sslpassword=secret",
    "postgresql:///shepherd?sslkey=/k&SSLPass%77ord=secret",
])
def test_a_store_url_holding_a_secret_is_rejected(url: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY.format(url=url))
    result = check_policy_file(path)
    assert result.policy is None
    assert any("holds a password" in p.render(str(path)) for p in result.errors), [
        p.render(str(path)) for p in result.errors]


@pytest.mark.parametrize("url", [
    "postgresql:///shepherd?service=shepherd",
    "postgresql://shepherd@nas.lan/shepherd?passfile=/etc/shepherd/pgpass",
    "postgresql:///shepherd?service=shepherd&application_name=pass%77",
])
def test_a_store_url_without_a_secret_passes(url: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY.format(url=url))
    assert check_policy_file(path).policy is not None
