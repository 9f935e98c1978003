"""OpenStack's conformance suite for Zaqar, zaqar-tempest-plugin, against a fresh keystone Herald.

Tempest gets its tokens from the session's real Keystone (a project and a
member user per test class, made by the bootstrap admin) and finds Herald
through Keystone's catalog, as it finds Zaqar in a devstack deployment.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import tempest_suite
from auth_support import keystone_settings, serving
from backends import backend_unreachable
from keystone_server import Keystone

# Tests Herald does not pass, each with its reason in docs/compatibility.md
# ("zaqar-tempest-plugin") and a text its failure must show, so that it fails
# for that reason only. They must still fail, so that the day one passes it is
# taken off this list rather than forgotten on it.
NOT_PASSED: dict[str, tuple[str, str]] = {}


@pytest.fixture(scope="module")
def catalogued_herald(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh keystone Herald on SQLite, listed in Keystone's catalog as `messaging`."""
    settings = keystone_settings(tmp_path_factory.mktemp("herald"), keystone)
    with serving(settings) as served:
        service = keystone.create("service", type="messaging", name="herald", enabled=True)
        endpoint = keystone.create(
            "endpoint",
            service_id=service["id"],
            interface="public",
            url=served.url,
            region_id="RegionOne",
        )
        try:
            yield served.url
        finally:
            keystone.call("DELETE", f"/endpoints/{endpoint['id']}")
            keystone.call("DELETE", f"/services/{service['id']}")


# Past the suite's 300 s: a first run builds tempest (up to 900 s), and one
# test sleeps through two claim expiries (140 s) while the others run.
@pytest.mark.timeout(1800)
def test_zaqar_tempest_plugin_passes(
    catalogued_herald: str, keystone: Keystone, tmp_path: Path
) -> None:
    try:
        tempest_suite.build_venv()
    except (tempest_suite.TempestUnavailable, OSError, subprocess.SubprocessError) as exc:
        backend_unreachable("tempest", f"{tempest_suite.HINT}. {exc}")
    tempest_suite.write_config(tmp_path, keystone)
    results = tempest_suite.run(tmp_path, timeout=600)
    assert results.outcomes, f"the tempest run reported no tests:\n{results.output}"
    assert len(results.passed) > 0, f"no tempest test passed:\n{results.output}"
    unexpected = [o for o in results.failed if o.test not in NOT_PASSED]
    assert not unexpected, "tempest tests failed:\n" + "\n\n".join(
        f"{o.test} ({o.status})\n{o.details}" for o in unexpected
    )
    assert not results.skipped, "tempest tests skipped: " + ", ".join(
        f"{o.test} ({o.details})" for o in results.skipped
    )
    for o in results.failed:
        reason, shown = NOT_PASSED[o.test]
        assert shown in o.details, f"{o.test} fails, but not because {reason}:\n{o.details}"
    answered_alike = sorted(set(NOT_PASSED) - {o.test for o in results.failed})
    assert not answered_alike, f"these now pass; take them off NOT_PASSED: {answered_alike}"
