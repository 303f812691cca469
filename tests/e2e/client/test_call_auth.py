"""`vouchery-gateway call` against a gateway that checks caller keys and serves TLS / mutual TLS.

The keys files and the throwaway CA are the security tests' fixtures (tests/security).
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory
from tests.support.keys import cert_entry, key_entry, new_key, write_keys
from tests.support.pki import OPENSSL, Pki, make_pki
from vouchery_gateway import cli
from vouchery_gateway.cli.call import API_KEY_ENV

TILL = new_key()
VALIDATE = ("validate", "--code", "SAVE10", "--total", "25.00")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command to make a test CA")


async def call(target: str, *args: str) -> tuple[int, str]:
    """Run `vouchery-gateway call --target TARGET ARGS` (a blocking client: off the event loop)."""
    out = io.StringIO()
    code = await asyncio.to_thread(cli.main, ["call", "--target", target, "--timeout", "5", *args], out)
    return code, out.getvalue()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "till.key"
    path.write_text(TILL + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
async def keyed_gateway(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> RunningGateway:
    """An embedded-sandbox gateway that serves only callers holding the till key."""
    keys = write_keys(tmp_path / "keys.toml", key_entry(TILL, "till-1", "till"))
    return await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys)))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_the_key_in_a_file_is_sent_as_a_bearer_token(
    keyed_gateway: RunningGateway, key_file: Path
) -> None:
    """--api-key-file: the gateway authenticates the call and answers it."""
    code, text = await call(keyed_gateway.target, "--api-key-file", str(key_file), *VALIDATE)
    assert (code, text.splitlines()[0]) == (0, "valid: yes")


async def test_the_key_in_the_environment_is_sent(
    keyed_gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VOUCHERY_GATEWAY_CALL_API_KEY is used when no key option is given."""
    monkeypatch.setenv(API_KEY_ENV, TILL)
    code, text = await call(keyed_gateway.target, *VALIDATE)
    assert (code, text.splitlines()[0]) == (0, "valid: yes")


async def test_without_a_key_the_gateway_refuses_the_call(
    keyed_gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key anywhere: the gateway's UNAUTHENTICATED is printed and the exit code is 1."""
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    code, text = await call(keyed_gateway.target, *VALIDATE)
    assert code == 1
    assert text.startswith("error: UNAUTHENTICATED")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--api-key-file", "/nonexistent/till.key"), "--api-key-file '/nonexistent/till.key' cannot"),
        (("--api-key-file", "KEYFILE", "--api-key", TILL), "not both"),
        (("--tls-cert", "client.pem"), "--tls-cert and --tls-key go together"),
        (("--tls-server-name", "gw"), "--tls-server-name needs TLS"),
    ],
)
def test_bad_auth_options_are_usage_errors_that_never_show_the_key(
    options: tuple[str, ...], message: str, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 with a message naming the option; the key itself is never printed."""
    argv = [str(key_file) if o == "KEYFILE" else o for o in options]
    code = cli.main(["call", "--target", "127.0.0.1:1", *argv, *VALIDATE], io.StringIO())
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert TILL not in err


@needs_openssl
async def test_tls_with_the_gateways_ca_and_a_key(
    pki: Pki,
    start_gateway: GatewayStarter,
    gateway_settings: SettingsFactory,
    tmp_path: Path,
    key_file: Path,
) -> None:
    """--tls-ca trusts the gateway's certificate; plaintext to the TLS port fails (exit 1)."""
    keys = write_keys(tmp_path / "keys.toml", key_entry(TILL, "till-1", "till"))
    running = await start_gateway(
        gateway_settings(
            sandbox=True,
            keys_file=str(keys),
            tls_cert_file=str(pki.server_cert),
            tls_key_file=str(pki.server_key),
        )
    )
    auth = ("--api-key-file", str(key_file))
    code, text = await call(running.target, "--tls-ca", str(pki.ca_cert), *auth, *VALIDATE)
    assert (code, text.splitlines()[0]) == (0, "valid: yes")
    code, text = await call(running.target, *auth, *VALIDATE)
    assert code == 1
    assert text.startswith("error: UNAVAILABLE")


@needs_openssl
async def test_mutual_tls_with_a_client_certificate(
    pki: Pki, start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """--tls-cert / --tls-key: the till is known by its certificate; without one there is no handshake."""
    keys = write_keys(tmp_path / "keys.toml", cert_entry("spiffe://store-12/till-7", "till-7", "till"))
    running = await start_gateway(
        gateway_settings(
            sandbox=True,
            keys_file=str(keys),
            tls_cert_file=str(pki.server_cert),
            tls_key_file=str(pki.server_key),
            tls_client_ca_file=str(pki.ca_cert),
            tls_client_auth="require",
        )
    )
    cert, key = pki.client("till-7-cli", uri="spiffe://store-12/till-7")
    tls = ("--tls-ca", str(pki.ca_cert))
    code, text = await call(running.target, *tls, "--tls-cert", str(cert), "--tls-key", str(key), *VALIDATE)
    assert (code, text.splitlines()[0]) == (0, "valid: yes")
    code, text = await call(running.target, *tls, *VALIDATE)
    assert code == 1
    assert text.startswith("error: UNAVAILABLE")
