"""Generate the Python client stubs from `proto/`, or check that the committed ones are current.

    python -m vouchery_gateway.tools.genstubs          # regenerate client_stubs/vouchery/gateway/v1
    python -m vouchery_gateway.tools.genstubs --check  # exit 1 when the committed stubs are stale

The stubs are generated into a scratch directory first and then compared with (or copied over) the
committed ones, so `--check` never touches the tree and a failed run never leaves half-written files. The
`.proto` sources are copied beside the stubs so clients without reflection (e.g. Node's proto-loader) can
load the exact same definitions from the installed package. Output depends only on the `.proto` files and
the installed grpcio-tools, which makes it deterministic.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path("vouchery") / "gateway" / "v1"
# Files in the package directory that are written by hand, not generated.
HAND_WRITTEN = frozenset({"__init__.py"})
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".proto")


class GenerationError(RuntimeError):
    """protoc refused the .proto files (its messages were printed to stderr)."""


def repo_root() -> Path:
    """The repository root: the directory holding `proto/` above this file."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "proto").is_dir() and (parent / "client_stubs").is_dir():
            return parent
    raise GenerationError("cannot find the repository root (a directory with proto/ and client_stubs/)")


def proto_files(proto_root: Path) -> list[Path]:
    return sorted((proto_root / PACKAGE_DIR).glob("*.proto"))


def generate(proto_root: Path, out_root: Path) -> list[Path]:
    """Run protoc on every .proto of the package into `out_root`; returns the package files written."""
    from grpc_tools import protoc  # type: ignore[import-untyped]  # dev dependency, only when generating

    sources = proto_files(proto_root)
    if not sources:
        raise GenerationError(f"no .proto files under {proto_root / PACKAGE_DIR}")
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(str(src.relative_to(proto_root)) for src in sources),
    ]
    if protoc.main(args) != 0:
        raise GenerationError("protoc failed")
    package = out_root / PACKAGE_DIR
    for src in sources:
        shutil.copyfile(src, package / src.name)
    return sorted(path for path in package.iterdir() if path.name.endswith(GENERATED_SUFFIXES))


def generated_files(package: Path) -> dict[str, Path]:
    """The generated files currently in a package directory, by name."""
    if not package.is_dir():
        return {}
    return {
        path.name: path
        for path in package.iterdir()
        if path.name.endswith(GENERATED_SUFFIXES) and path.name not in HAND_WRITTEN
    }


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
    target = root / "client_stubs" / PACKAGE_DIR
    with tempfile.TemporaryDirectory(prefix="genstubs-") as scratch:
        fresh = {path.name: path for path in generate(root / "proto", Path(scratch))}
        committed = generated_files(target)
        problems = differences(fresh, committed)
        if not check:
            for name in committed.keys() - fresh.keys():
                committed[name].unlink()
            target.mkdir(parents=True, exist_ok=True)
            for name, path in fresh.items():
                shutil.copyfile(path, target / name)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vouchery_gateway.tools.genstubs",
        description="Generate client_stubs/vouchery/gateway/v1 from proto/ (grpc_tools.protoc).",
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
    print(f"genstubs: wrote {root / 'client_stubs' / PACKAGE_DIR} ({len(problems)} file(s) changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
