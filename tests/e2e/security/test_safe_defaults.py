"""Safe defaults, through `vouchery-gateway serve` as a child process and a live gateway.

- Where it listens: without a keys file on loopback (what the kernel lists as bound, and what the banner
  says); an address other machines reach without a keys file only with `--insecure-no-auth`; with a keys
  file on every interface.
- File modes, as ssh judges them: a caller keys file, a Vouchery API key file or a TLS private key its
  group or other users may write is refused at start; a readable secret starts with a warning; a keys
  file that becomes writable is refused on reload while the keys in force keep working.
- What the gateway creates is private: the data dir 0700, its SQLite files and the demo keys file 0600,
  whatever the umask (the children here run with umask 000).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.gateway import GatewayStarter, SettingsFactory, cart
from tests.support.keys import bearer, key_entry, new_key, write_keys
from tests.support.net import free_port
from tests.support.paths import REPO
from tests.support.pki import OPENSSL, make_pki
from tests.support.processes import wait_for_line
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc
from vouchery_gateway.security import load_key_ring
from vouchery_sandbox.testing import SandboxServer

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the bound sockets in /proc")

READY = 60.0


# ---- what the kernel says is bound ------------------------------------------------------------------------


def _ipv4(hex_address: str) -> str:
    return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_address)[::-1])


def _ipv6(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = socket.inet_ntop(socket.AF_INET6, words)
    return address.removeprefix("::ffff:")  # an IPv4 address on an IPv6 socket (grpc binds them so)


def listening(port: int) -> set[str]:
    """The local addresses of the sockets listening on TCP `port` ("127.0.0.1", "::", "0.0.0.0", ...)."""
    found = set()
    for table, decode in (("/proc/net/tcp", _ipv4), ("/proc/net/tcp6", _ipv6)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.add(decode(address))
    return found


def outside_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (other machines reach it), if any."""
    trie = Path("/proc/net/fib_trie")
    if not trie.exists():
        return None
    last = ""
    for line in trie.read_text().splitlines():
        text = line.strip()
        if text.startswith("|--"):
            last = text[3:].strip()
        elif text == "/32 host LOCAL" and last and not last.startswith("127."):
            return last
    return None


def answers_health(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        try:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError:
            return False
    return True


# ---- the child process -------------------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHERY_GATEWAY_")}
    paths = [REPO / "server", REPO / "sandbox", REPO / "client_stubs"]
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **extra}


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vouchery_gateway", "serve", "--port", "0", "--grace-period", "1", *args]


@dataclass
class Served:
    proc: subprocess.Popen[str]
    banner: list[str]
    stderr: Path

    @property
    def address(self) -> str:
        return self.banner[0].split("listening on ", 1)[1].strip()

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def line(self, label: str) -> str:
        return next(line for line in self.banner if line.strip().startswith(label))


@contextmanager
def serving(
    args: list[str], workdir: Path, env: Mapping[str, str] | None = None, *, banner_lines: int = 3
) -> Iterator[Served]:
    """`serve` with `args` under umask 000 (all it creates would be 0666 / 0777 unless it says otherwise),
    its first banner lines read; SIGTERM at the end."""
    errors = workdir / f"serve-{time.monotonic_ns()}.log"
    with errors.open("w") as sink:
        proc = subprocess.Popen(
            serve_command(*args), stdout=subprocess.PIPE, stderr=sink, text=True,
            env=dict(env or clean_env()), umask=0,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        try:
            first = wait_for_line(proc.stdout, "listening on ", within=READY, what="serve")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nstderr: {errors.read_text()[-3000:]}") from None
        banner = [first] + [
            wait_for_line(proc.stdout, "\n", within=READY, what="serve") for _ in range(banner_lines - 1)
        ]
        yield Served(proc, banner, errors)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def refused(args: list[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`serve` with `args`, expected to refuse to start: its exit and output."""
    return subprocess.run(
        serve_command(*args), capture_output=True, text=True, timeout=READY, env=dict(env or clean_env()),
        check=False, umask=0,
    )  # fmt: skip


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def keys_file(path: Path, mode: int, *entries: str) -> Path:
    write_keys(path, *(entries or (key_entry(new_key(), "till-1", "till"),)))
    path.chmod(mode)
    return path


# ---- where it listens ------------------------------------------------------------------------------------


def test_the_demo_listens_on_loopback_only_and_its_files_are_private(tmp_path: Path) -> None:
    """`serve --sandbox` with no host and no keys file (README's `./dev run`): gRPC and /metrics bound on
    127.0.0.1 only, the banner says so, a call to the printed address works; the data dir it creates is
    0700 and every file in it 0600, under umask 000."""
    data, metrics_port = tmp_path / "state" / "data", free_port()
    args = ["--sandbox", "--metrics-port", str(metrics_port), "--data-dir", str(data)]
    with serving(args, tmp_path) as served:
        assert served.address.startswith("127.0.0.1:")
        assert "this machine only" in served.line("reach")
        assert "authentication off" in served.line("reach")
        assert listening(served.port) == {"127.0.0.1"}
        assert listening(metrics_port) == {"127.0.0.1"}
        outside = outside_address()
        if outside is not None:
            assert not answers_health(f"{outside}:{served.port}"), "reachable from another address"

        with grpc.insecure_channel(served.address) as channel:
            answer = checkout_pb2_grpc.CheckoutServiceStub(channel).ValidateVoucher(
                pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)), timeout=10
            )
        assert answer.valid
        assert mode_of(data) == 0o700
        assert mode_of(data.parent) == 0o700  # created by the gateway too
        files = sorted(p.name for p in data.iterdir())
        assert {"gateway.db", "sandbox.db", "demo-keys.toml"} <= set(files)
        assert any(name.endswith("-wal") for name in files)  # SQLite's own files, made while serving
        for name in files:
            assert mode_of(data / name) == 0o600, name


@pytest.mark.parametrize("how", ["flag", "env"])
def test_every_interface_without_a_keys_file_is_refused(tmp_path: Path, how: str) -> None:
    """0.0.0.0 without a keys file and without --insecure-no-auth: exit 2 naming the ways out, nothing
    bound."""
    if how == "flag":
        result = refused(["--sandbox", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    else:
        env = clean_env(VOUCHERY_GATEWAY_HOST="0.0.0.0")
        result = refused(["--sandbox", "--data-dir", str(tmp_path)], env)
    assert result.returncode == 2, result.stderr
    assert "listening on" not in result.stdout
    assert "--insecure-no-auth" in result.stderr
    assert "keys_file" in result.stderr
    assert "0.0.0.0" in result.stderr


def test_an_outside_address_without_a_keys_file_is_refused(tmp_path: Path) -> None:
    """A specific address other machines reach is refused like every interface."""
    outside = outside_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback")
    result = refused(["--sandbox", "--host", outside, "--data-dir", str(tmp_path)])
    assert result.returncode == 2
    assert "--insecure-no-auth" in result.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_insecure_no_auth_opens_every_interface_and_says_so(tmp_path: Path, how: str) -> None:
    """--host 0.0.0.0 --insecure-no-auth (or their variables, as deploy/compose.yaml sets them): the
    banner shows 0.0.0.0 and that authentication is off, the kernel lists a wildcard socket, and another
    address of this machine reaches it."""
    metrics_port = free_port()
    args = ["--sandbox", "--metrics-port", str(metrics_port), "--data-dir", str(tmp_path / "data")]
    env = clean_env()
    if how == "flag":
        args += ["--host", "0.0.0.0", "--insecure-no-auth"]
    else:
        env = clean_env(VOUCHERY_GATEWAY_HOST="0.0.0.0", VOUCHERY_GATEWAY_INSECURE_NO_AUTH="true")
    with serving(args, tmp_path, env) as served:
        assert served.address.startswith("0.0.0.0:")
        reach = served.line("reach")
        assert "every interface" in reach
        assert "AUTHENTICATION OFF" in reach
        assert listening(served.port) & {"::", "0.0.0.0"}
        assert listening(metrics_port) == {"0.0.0.0"}
        outside = outside_address()
        if outside is not None:
            assert answers_health(f"{outside}:{served.port}")
    warnings = [json.loads(line) for line in served.stderr.read_text().splitlines() if line.startswith("{")]
    assert any("insecure_no_auth" in w["msg"] and w["level"] == "warning" for w in warnings)


def test_a_keys_file_opens_every_interface_by_default(tmp_path: Path) -> None:
    """With a keys file and no host, every interface, and the banner names the keys file."""
    keys = keys_file(tmp_path / "keys.toml", 0o600)
    args = ["--sandbox", "--keys-file", str(keys), "--metrics-port", "0", "--data-dir", str(tmp_path / "d")]
    with serving(args, tmp_path) as served:
        assert served.address.startswith("0.0.0.0:")
        assert f"callers need a key from {keys}" in served.line("reach")
        assert listening(served.port) & {"::", "0.0.0.0"}


# ---- file modes at start ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602, 0o660])
def test_a_keys_file_others_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    """Group- or world-writable keys file: exit 2, naming the file, its mode and the chmod."""
    keys = keys_file(tmp_path / "keys.toml", mode)
    result = refused(
        ["--sandbox", "--host", "127.0.0.1", "--keys-file", str(keys), "--data-dir", str(tmp_path)]
    )
    assert result.returncode == 2
    assert str(keys) in result.stderr
    assert f"mode {mode:04o}" in result.stderr
    assert f"chmod go-w {keys}" in result.stderr


def test_a_keys_file_others_may_only_read_is_used(tmp_path: Path) -> None:
    """0644 holds hashes only: it starts, without a warning about it."""
    keys = keys_file(tmp_path / "keys.toml", 0o644)
    args = ["--sandbox", "--host", "127.0.0.1", "--keys-file", str(keys), "--data-dir", str(tmp_path / "d")]
    with serving(args, tmp_path) as served:
        assert served.address.startswith("127.0.0.1:")
    assert "readable by" not in served.stderr.read_text()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(seed="demo") as server:
        yield server


def upstream_args(sandbox: SandboxServer, key_file: Path, data: Path) -> list[str]:
    return ["--upstream-url", sandbox.api_url, "--upstream-api-key-file", str(key_file),
            "--host", "127.0.0.1", "--metrics-port", "0", "--data-dir", str(data),
            "--upstream-transport", "httpx"]  # fmt: skip


def test_a_vouchery_key_file_others_may_write_is_refused(tmp_path: Path, sandbox: SandboxServer) -> None:
    key_file = tmp_path / "vouchery.key"
    key_file.write_text(sandbox.api_key)
    key_file.chmod(0o666)
    result = refused(upstream_args(sandbox, key_file, tmp_path / "d"))
    assert result.returncode == 2
    assert "upstream_api_key_file" in result.stderr
    assert f"chmod go-w {key_file}" in result.stderr
    assert sandbox.api_key not in result.stderr + result.stdout


def test_a_readable_vouchery_key_file_starts_with_a_warning(tmp_path: Path, sandbox: SandboxServer) -> None:
    """0644: the gateway starts and serves, and one WARNING names the file and the fix, never the key; at
    0600 there is no such line."""
    key_file = tmp_path / "vouchery.key"
    key_file.write_text(sandbox.api_key)
    for mode, warned in ((0o644, True), (0o600, False)):
        key_file.chmod(mode)
        with serving(upstream_args(sandbox, key_file, tmp_path / f"d{mode:o}"), tmp_path) as served:
            assert "SERVING" in served.line("upstream")
        log = served.stderr.read_text()
        assert sandbox.api_key not in log
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        found = [line for line in lines if "readable by" in line["msg"] and str(key_file) in line["msg"]]
        assert bool(found) is warned, log[-2000:]
        assert all(line["level"] == "warning" and "chmod go-rwx" in line["msg"] for line in found)


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")
def test_a_tls_key_others_may_write_is_refused_and_a_readable_one_warned(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    args = ["--sandbox", "--host", "127.0.0.1", "--tls-cert-file", str(pki.server_cert),
            "--tls-key-file", str(pki.server_key), "--data-dir", str(tmp_path / "d"),
            "--metrics-port", "0"]  # fmt: skip
    pki.server_key.chmod(0o666)
    result = refused(args)
    assert result.returncode == 2
    assert "TLS private key" in result.stderr
    assert f"chmod go-w {pki.server_key}" in result.stderr

    pki.server_key.chmod(0o640)
    with serving(args, tmp_path) as served:
        assert served.address.startswith("127.0.0.1:")
    lines = [json.loads(line) for line in served.stderr.read_text().splitlines() if line.startswith("{")]
    warned = [line for line in lines if str(pki.server_key) in line["msg"]]
    assert [line["level"] for line in warned] == ["warning"]
    assert "readable by its group" in warned[0]["msg"]


# ---- the keys file on reload -------------------------------------------------------------------------------


async def test_a_keys_file_that_becomes_writable_is_refused_on_reload(
    start_gateway: GatewayStarter,
    gateway_settings: SettingsFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A chmod alone is noticed: the reload is refused (ERROR, vouchery_gateway_keys_reloads_refused_total),
    the keys in force keep working, a key added meanwhile is not let in; once the mode is fixed the file
    is loaded again."""
    old, added = new_key(), new_key()
    path = keys_file(tmp_path / "keys.toml", 0o600, key_entry(old, "till-1", "till"))
    running = await start_gateway(
        gateway_settings(sandbox=True, keys_file=str(path), keys_check_interval=0.1)
    )
    request = pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))

    def refusals() -> float:
        value = running.gateway.registry.get_sample_value("vouchery_gateway_keys_reloads_refused_total")
        return value or 0.0

    async def until(condition: Callable[[], bool], what: str, key: str) -> None:
        """Call with `key` (each call checks the file when a check is due) until `condition()` holds."""
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, f"{what} did not happen"
            with suppress(grpc.aio.AioRpcError):
                await running.stub.ValidateVoucher(request, metadata=bearer(key), timeout=10)

    assert (await running.stub.ValidateVoucher(request, metadata=bearer(old), timeout=10)).valid
    path.chmod(0o666)  # the content is the same: only the mode changed
    await until(lambda: refusals() >= 1, "the refusal of the chmod-ed file", old)
    assert (await running.stub.ValidateVoucher(request, metadata=bearer(old), timeout=10)).valid

    with path.open("a") as handle:  # someone else writes a key in
        handle.write(key_entry(added, "intruder", "admin"))
    await until(lambda: refusals() >= 2, "the refusal of the rewritten file", old)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.ValidateVoucher(request, metadata=bearer(added), timeout=10)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert not running.gateway.security.reload_keys()  # SIGHUP refuses it too
    errors = [
        r for r in caplog.records if r.levelname == "ERROR" and "keys file not reloaded" in r.getMessage()
    ]
    assert errors
    assert all("writable by its group and other users (mode 0666)" in r.getMessage() for r in errors)

    path.chmod(0o600)  # the operator fixes it (and has read what was added)
    accepted: list[bool] = []

    async def added_works() -> None:
        try:
            await running.stub.ValidateVoucher(request, metadata=bearer(added), timeout=10)
        except grpc.aio.AioRpcError:
            return
        accepted.append(True)

    deadline = time.monotonic() + 30
    while not accepted:
        assert time.monotonic() < deadline, "the fixed file was not loaded"
        await added_works()


# ---- keys new --keys-file ----------------------------------------------------------------------------------


def keys_new(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vouchery_gateway", "keys", "new", *args], capture_output=True, text=True,
        timeout=READY, env=clean_env(), check=False, umask=0,
    )  # fmt: skip


def test_keys_new_writes_a_private_keys_file_and_never_a_writable_one(tmp_path: Path) -> None:
    """`keys new --keys-file F` creates F 0600 under umask 000, appends to it, and refuses a file its
    group or other users may write (left as it was)."""
    path = tmp_path / "keys.toml"
    first = keys_new("--client-id", "till-1", "--keys-file", str(path))
    assert first.returncode == 0, first.stderr
    assert mode_of(path) == 0o600
    second = keys_new("--client-id", "till-2", "--role", "reader", "--keys-file", str(path))
    assert second.returncode == 0, second.stderr
    ring = load_key_ring(path)
    assert sorted(entry.client_id for entry in ring.keys.values()) == ["till-1", "till-2"]
    assert mode_of(path) == 0o600
    key = first.stdout.splitlines()[1]
    assert key.startswith("vgk_")
    assert key not in path.read_text()  # the file holds its hash only

    path.chmod(0o666)
    before = path.read_text()
    third = keys_new("--client-id", "till-3", "--keys-file", str(path))
    assert third.returncode == 2
    assert "chmod go-w" in third.stderr
    assert "vgk_" not in third.stdout  # no key was minted for a file it would not write
    assert path.read_text() == before
