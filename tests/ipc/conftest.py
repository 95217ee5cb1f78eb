"""The real daemon fixture, shared with tests/daemon."""

from tests.daemon.conftest import daemon_factory  # noqa: F401
