"""A bad offline policy stops the gateway at start, naming the file, the line and the field; a campaign
Vouchery does not know is refused once Vouchery answers, and an outage at start does not stop it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.offline.conftest import OfflineStarter
from tests.support.gateway import SettingsFactory
from vouchery_gateway.app.serve import StartupFailed, start_gateway
from vouchery_gateway.checkout.offline_policy import PolicyError
from vouchery_sandbox.testing import SandboxServer


async def test_a_policy_naming_a_campaign_vouchery_does_not_know_stops_the_start_at_its_line(
    offline_gateway: OfflineStarter, campaign_of: Callable[[str], int]
) -> None:
    """The unknown id's table is named with its line; a known id beside it is not."""
    text = f"[campaigns.{campaign_of('SAVE10')}]\naccept = true\n\n[campaigns.987654]\naccept = true\n"
    with pytest.raises(PolicyError, match=r"offline\.toml, line 4, \[campaigns\.987654\]: Vouchery has no"):
        await offline_gateway(text)


async def test_a_gateway_started_during_an_outage_starts_and_checks_its_campaigns_later(
    offline_gateway: OfflineStarter, live_sandbox: SandboxServer
) -> None:
    """Vouchery down at start (campaign reads fail): the gateway serves; the ids are checked later."""
    live_sandbox.admin.set_faults({"campaigns": {"error_rate": 1.0, "error_statuses": [503]}})
    running = await offline_gateway("[campaigns.987654]\naccept = true\n")
    assert running.gateway.checkout_path.offline is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[campaigns.12]\naccept = true\nmax_per_store_per_hour = -1\n",
            "line 3, [campaigns.12] max_per_store",
        ),
        ("[default]\naccept = true\nmax_discount_per_sale_minor = 12.5\n", "line 3, [default] max_discount"),
        ("[campaigns.12]\naccept = true\nbogus = 1\n", "line 3, [campaigns.12] bogus: unknown key"),
        ("[campaigns.abc]\naccept = true\n", "line 1, [campaigns.abc]: campaign id 'abc'"),
        ("[offline]\n", "unknown table 'offline'"),
        ("[campaigns.12\naccept = true\n", "not valid TOML"),
    ],
)
async def test_serve_refuses_a_bad_policy_file_with_the_line_and_field(
    gateway_settings: SettingsFactory, tmp_path: Path, text: str, message: str
) -> None:
    """`serve`'s start fails with a usage error (exit 2) whose one line names what is wrong."""
    path = tmp_path / "offline.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StartupFailed) as failed:
        await start_gateway(gateway_settings(sandbox=True, offline_policy=str(path)))
    assert failed.value.exit_code == 2
    assert message in str(failed.value)
    assert str(path) in str(failed.value)
