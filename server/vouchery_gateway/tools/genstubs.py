"""Generate the Python client stubs from `proto/`, or check that the committed ones are current.

    python -m vouchery_gateway.tools.genstubs          # regenerate client_stubs/ (both packages)
    python -m vouchery_gateway.tools.genstubs --check  # exit 1 when the committed stubs are stale

The stubs are generated into a scratch directory first and then compared with (or copied over) the
committed ones, so `--check` never touches the tree and a failed run never leaves half-written files. The
`.proto` sources are copied beside the stubs so clients without reflection (e.g. Node's proto-loader) can
load the exact same definitions from the installed package. Output depends only on the `.proto` files and
the installed grpcio-tools, which makes it deterministic.

Our protos import `buf/validate/validate.proto` (protovalidate's field rules); its source is vendored in
`third_party/proto` (written by `python -m vouchery_gateway.tools.vendorproto`) and generated once, into
`client_stubs/buf/validate`, without gRPC stubs: the protovalidate package ships no `validate_pb2` for
google.protobuf messages, and the generated `vouchery.gateway.v1` modules import it.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path("vouchery") / "gateway" / "v1"
THIRD_PARTY = Path("third_party") / "proto"
VALIDATE_DIR = Path("buf") / "validate"
# Files in the package directories that are written by hand, not generated.
HAND_WRITTEN = frozenset({"__init__.py"})
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".proto")


@dataclass(frozen=True)
class Source:
    """A package of .proto files: where its sources live (under the root) and whether it has services."""

    proto_root: Path
    package: Path
    grpc: bool


SOURCES = (Source(Path("proto"), PACKAGE_DIR, grpc=True), Source(THIRD_PARTY, VALIDATE_DIR, grpc=False))


class GenerationError(RuntimeError):
    """protoc refused the .proto files (its messages were printed to stderr)."""


def repo_root() -> Path:
    """The repository root: the directory holding `proto/` above this file."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "proto").is_dir() and (parent / "client_stubs").is_dir():
            return parent
    raise GenerationError("cannot find the repository root (a directory with proto/ and client_stubs/)")


def proto_files(proto_root: Path, package: Path = PACKAGE_DIR) -> list[Path]:
    return sorted((proto_root / package).glob("*.proto"))


def generate(root: Path, out_root: Path) -> dict[str, Path]:
    """Run protoc on every source package into `out_root`; returns the files written, by path under it."""
    from grpc_tools import protoc  # type: ignore[import-untyped]  # dev dependency, only when generating

    well_known = resources.files("grpc_tools") / "_proto"
    include = [f"--proto_path={root / source.proto_root}" for source in SOURCES]
    written: dict[str, Path] = {}
    for source in SOURCES:
        proto_root = root / source.proto_root
        sources = proto_files(proto_root, source.package)
        if not sources:
            raise GenerationError(f"no .proto files under {proto_root / source.package}")
        args = [
            "grpc_tools.protoc",
            *include,
            f"--proto_path={well_known}",
            f"--python_out={out_root}",
            f"--pyi_out={out_root}",
            *([f"--grpc_python_out={out_root}"] if source.grpc else []),
            *(str(src.relative_to(proto_root)) for src in sources),
        ]
        if protoc.main(args) != 0:
            raise GenerationError("protoc failed")
        package = out_root / source.package
        for src in sources:
            shutil.copyfile(src, package / src.name)
        for path in package.iterdir():
            if path.name.endswith(GENERATED_SUFFIXES):
                written[(source.package / path.name).as_posix()] = path
    return dict(sorted(written.items()))


def generated_files(stubs_root: Path) -> dict[str, Path]:
    """The generated files currently in the stub packages, by path under `stubs_root`."""
    found: dict[str, Path] = {}
    for source in SOURCES:
        package = stubs_root / source.package
        if not package.is_dir():
            continue
        for path in package.iterdir():
            if path.name.endswith(GENERATED_SUFFIXES) and path.name not in HAND_WRITTEN:
                found[(source.package / path.name).as_posix()] = path
    return found


def differences(fresh: dict[str, Path], committed: dict[str, Path]) -> list[str]:
    """Human-readable list of what differs between a fresh generation and the committed files."""
    problems = [f"missing: {name}" for name in sorted(fresh.keys() - committed.keys())]
    problems += [f"stale (no longer generated): {name}" for name in sorted(committed.keys() - fresh.keys())]
    problems += [
        f"out of date: {name}"
        for name in sorted(fresh.keys() & committed.keys())
        if not filecmp.cmp(fresh[name], committed[name], shallow=False)
    ]
    return problems


def run(root: Path, *, check: bool) -> list[str]:
    """Generate (or check) the stubs under `root`; returns the differences found before any write."""
    target = root / "client_stubs"
    with tempfile.TemporaryDirectory(prefix="genstubs-") as scratch:
        fresh = generate(root, Path(scratch))
        committed = generated_files(target)
        problems = differences(fresh, committed)
        if not check:
            for name in committed.keys() - fresh.keys():
                committed[name].unlink()
            for name, path in fresh.items():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target / name)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vouchery_gateway.tools.genstubs",
        description="Generate client_stubs/ from proto/ and third_party/proto/ (grpc_tools.protoc).",
    )
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the committed stubs are not current"
    )
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: found from here)")
    args = parser.parse_args(argv)
    try:
        root = args.root or repo_root()
        problems = run(root, check=args.check)
    except GenerationError as exc:
        print(f"genstubs: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if problems:
            print("genstubs: client stubs are not current; run ./dev gen", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        print("genstubs: client stubs are current")
        return 0
    print(f"genstubs: wrote {root / 'client_stubs'} ({len(problems)} file(s) changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
