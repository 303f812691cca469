"""The generated stubs are current, and the proto enums mirror the domain enums exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.paths import REPO
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway import domain
from vouchery_gateway.tools import genstubs

ROOT = REPO


def test_committed_stubs_match_a_fresh_generation() -> None:
    """`genstubs --check` passes on the repository: nobody edited or forgot to regenerate the stubs."""
    assert genstubs.run(ROOT, check=True) == []


def test_check_reports_a_proto_change(tmp_path: Path) -> None:
    """A .proto edited without regenerating is reported as out of date, and the check exits 1."""
    for tree in ("proto", "third_party", "client_stubs/vouchery", "client_stubs/buf"):
        shutil.copytree(ROOT / tree, tmp_path / tree)
    common = tmp_path / "proto" / genstubs.PACKAGE_DIR / "common.proto"
    common.write_text(common.read_text() + "\nmessage Extra {\n  string note = 1;\n}\n")
    problems = genstubs.run(tmp_path, check=True)
    assert problems == [
        "out of date: vouchery/gateway/v1/common.proto",
        "out of date: vouchery/gateway/v1/common_pb2.py",
        "out of date: vouchery/gateway/v1/common_pb2.pyi",
    ]
    assert genstubs.main(["--check", "--root", str(tmp_path)]) == 1


def test_generation_is_deterministic(tmp_path: Path) -> None:
    """Generating twice gives byte-identical files, so --check never flaps."""
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    shutil.copytree(ROOT / "third_party", tmp_path / "third_party")
    (tmp_path / "client_stubs").mkdir()
    assert genstubs.main(["--root", str(tmp_path)]) == 0
    assert genstubs.run(tmp_path, check=True) == []
    assert (tmp_path / "client_stubs" / genstubs.VALIDATE_DIR / "validate_pb2.py").is_file()
    assert not (tmp_path / "client_stubs" / genstubs.VALIDATE_DIR / "validate_pb2_grpc.py").exists()


def test_rejection_reason_mirrors_the_domain_enum() -> None:
    """Every domain reason has the same number under the REJECTION_REASON_ name, and nothing more."""
    proto = dict(common_pb2.RejectionReason.items())
    expected = {f"REJECTION_REASON_{r.name}": r.value for r in domain.RejectionReason}
    assert proto == expected


def test_state_enums_mirror_the_domain_enums() -> None:
    """Redemption and sync states share numbers with the domain (0 is UNSPECIFIED in the proto)."""
    for enum_type, prefix, domain_enum in (
        (common_pb2.RedemptionState, "REDEMPTION_STATE_", domain.RedemptionState),
        (common_pb2.SyncState, "SYNC_STATE_", domain.SyncState),
    ):
        assert {f"{prefix}{m.name}": m.value for m in domain_enum} | {f"{prefix}UNSPECIFIED": 0} == dict(
            enum_type.items()
        )
