"""Write `third_party/proto/buf/validate/validate.proto` from the installed protovalidate, or check it.

    python -m vouchery_gateway.tools.vendorproto          # rewrite the vendored file
    python -m vouchery_gateway.tools.vendorproto --check  # exit 1 when it differs from the library's

Our protos import `buf/validate/validate.proto` for their field rules. protoc (`./dev gen`) and `buf lint`
need that file as source, and it must be the very schema the pinned protovalidate library enforces. The
library ships it only compiled (a FileDescriptorProto inside its generated code), so this renders that
descriptor back to .proto text: same messages, fields, numbers, options and CEL rules, without the
upstream comments (see https://buf.build/bufbuild/protovalidate for the documented source). After a
protovalidate upgrade, run this, then `./dev gen`; tests/unit/edge/test_rules.py compares the vendored
file's descriptor with the library's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    field_mask_pb2,
    message_factory,
    text_format,
    timestamp_pb2,
)
from google.protobuf.message import Message

VENDORED = Path("third_party") / "proto" / "buf" / "validate" / "validate.proto"
_FDP = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    _FDP.TYPE_DOUBLE: "double",
    _FDP.TYPE_FLOAT: "float",
    _FDP.TYPE_INT64: "int64",
    _FDP.TYPE_UINT64: "uint64",
    _FDP.TYPE_INT32: "int32",
    _FDP.TYPE_FIXED64: "fixed64",
    _FDP.TYPE_FIXED32: "fixed32",
    _FDP.TYPE_BOOL: "bool",
    _FDP.TYPE_STRING: "string",
    _FDP.TYPE_BYTES: "bytes",
    _FDP.TYPE_UINT32: "uint32",
    _FDP.TYPE_SFIXED32: "sfixed32",
    _FDP.TYPE_SFIXED64: "sfixed64",
    _FDP.TYPE_SINT32: "sint32",
    _FDP.TYPE_SINT64: "sint64",
}
_LABELS = {_FDP.LABEL_OPTIONAL: "optional", _FDP.LABEL_REQUIRED: "required", _FDP.LABEL_REPEATED: "repeated"}
_MAX_FIELD_NUMBER = 536_870_911


def _quote(value: str) -> str:
    """A string's body for a double-quoted .proto literal."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def library_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """`buf/validate/validate.proto` as the installed protovalidate library compiled it."""
    import protovalidate

    data: bytes = protovalidate.ViolationPb.desc().file.proto.to_binary()
    return descriptor_pb2.FileDescriptorProto.FromString(data)


class _Renderer:
    def __init__(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        self.file = file
        pool = descriptor_pool.DescriptorPool()
        for module in (descriptor_pb2, duration_pb2, field_mask_pb2, timestamp_pb2):
            proto = descriptor_pb2.FileDescriptorProto()
            module.DESCRIPTOR.CopyToProto(proto)
            pool.Add(proto)
        pool.Add(file)
        self.pool = pool
        self.option_types: dict[str, type[Message]] = {}
        self.lines: list[str] = []

    def options_message(self, options: Message) -> Message:
        """`options` re-read against a pool that knows this file's extensions (to print them)."""
        name = options.DESCRIPTOR.full_name
        if name not in self.option_types:
            self.option_types[name] = message_factory.GetMessageClass(self.pool.FindMessageTypeByName(name))
        return self.option_types[name].FromString(options.SerializeToString())

    def option_list(self, options: Message) -> list[str]:
        """Each option set in `options` as `name = value` (extensions as aggregate text)."""
        parsed = self.options_message(options)
        items: list[str] = []
        for field, value in parsed.ListFields():
            name = f"({field.full_name})" if field.is_extension else field.name
            if field.message_type is not None:
                body = text_format.MessageToString(value, indent=2).rstrip("\n")
                items.append(f"{name} = {{\n{body}\n}}")
            elif field.type == field.TYPE_STRING:
                items.append(f'{name} = "{_quote(value)}"')
            elif field.type == field.TYPE_BOOL:
                items.append(f"{name} = {'true' if value else 'false'}")
            elif field.enum_type is not None:
                items.append(f"{name} = {field.enum_type.values_by_number[value].name}")
            else:
                items.append(f"{name} = {value}")
        return items

    def emit(self, indent: int, text: str) -> None:
        pad = "  " * indent
        self.lines.extend(pad + line if line else "" for line in text.split("\n"))

    def type_name(self, field: descriptor_pb2.FieldDescriptorProto) -> str:
        if field.type in (_FDP.TYPE_MESSAGE, _FDP.TYPE_ENUM, _FDP.TYPE_GROUP):
            return field.type_name.lstrip(".")
        return _SCALARS[field.type]

    def field(self, indent: int, field: descriptor_pb2.FieldDescriptorProto, *, in_oneof: bool) -> None:
        label = "" if in_oneof else _LABELS[field.label] + " "
        head = f"{label}{self.type_name(field)} {field.name} = {field.number}"
        extra = []
        if field.HasField("default_value"):
            value = field.default_value
            extra.append(f'default = "{value}"' if field.type == _FDP.TYPE_STRING else f"default = {value}")
        if field.HasField("options"):
            extra += self.option_list(field.options)
        if not extra:
            self.emit(indent, head + ";")
        elif len(extra) == 1 and "\n" not in extra[0]:
            self.emit(indent, f"{head} [{extra[0]}];")
        else:
            self.emit(indent, head + " [")
            for i, item in enumerate(extra):
                self.emit(indent + 1, item + ("," if i < len(extra) - 1 else ""))
            self.emit(indent, "];")

    @staticmethod
    def ranges(ranges: Sequence[descriptor_pb2.DescriptorProto.ReservedRange]) -> str:
        parts = []
        for r in ranges:
            end = r.end - 1
            if end == _MAX_FIELD_NUMBER:
                parts.append(f"{r.start} to max")
            else:
                parts.append(str(r.start) if end == r.start else f"{r.start} to {end}")
        return ", ".join(parts)

    def message(self, indent: int, message: descriptor_pb2.DescriptorProto) -> None:
        self.emit(indent, f"message {message.name} {{")
        inner = indent + 1
        if message.HasField("options"):
            for item in self.option_list(message.options):
                self.emit(inner, f"option {item};")
        for nested in message.nested_type:
            self.message(inner, nested)
        for enum in message.enum_type:
            self.enum(inner, enum)
        emitted_oneofs: set[int] = set()
        for field in message.field:
            if field.HasField("oneof_index") and not field.proto3_optional:
                index = field.oneof_index
                if index in emitted_oneofs:
                    continue
                emitted_oneofs.add(index)
                oneof = message.oneof_decl[index]
                self.emit(inner, f"oneof {oneof.name} {{")
                if oneof.HasField("options"):
                    for item in self.option_list(oneof.options):
                        self.emit(inner + 1, f"option {item};")
                for member in message.field:
                    if member.HasField("oneof_index") and member.oneof_index == index:
                        self.field(inner + 1, member, in_oneof=True)
                self.emit(inner, "}")
            else:
                self.field(inner, field, in_oneof=False)
        if message.extension_range:
            self.emit(inner, f"extensions {self.ranges(message.extension_range)};")  # type: ignore[arg-type]
        if message.reserved_range:
            self.emit(inner, f"reserved {self.ranges(message.reserved_range)};")
        if message.reserved_name:
            self.emit(inner, "reserved " + ", ".join(f'"{n}"' for n in message.reserved_name) + ";")
        self.emit(indent, "}")

    def enum(self, indent: int, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        self.emit(indent, f"enum {enum.name} {{")
        for value in enum.value:
            self.emit(indent + 1, f"{value.name} = {value.number};")
        if enum.reserved_range:
            parts = [
                str(r.start) if r.start == r.end else f"{r.start} to {r.end}" for r in enum.reserved_range
            ]
            self.emit(indent + 1, f"reserved {', '.join(parts)};")
        if enum.reserved_name:
            self.emit(indent + 1, "reserved " + ", ".join(f'"{n}"' for n in enum.reserved_name) + ";")
        self.emit(indent, "}")

    def render(self) -> str:
        file = self.file
        if file.syntax not in ("", "proto2"):
            raise ValueError(f"only proto2 is rendered, not {file.syntax!r}")
        self.emit(0, HEADER)
        self.emit(0, 'syntax = "proto2";\n')
        self.emit(0, f"package {file.package};\n")
        for dependency in file.dependency:
            self.emit(0, f'import "{dependency}";')
        self.emit(0, "")
        for item in self.option_list(file.options):
            self.emit(0, f"option {item};")
        for extension in file.extension:
            self.emit(0, "")
            self.emit(0, f"extend {extension.extendee.lstrip('.')} {{")
            self.field(1, extension, in_oneof=False)
            self.emit(0, "}")
        for message in file.message_type:
            self.emit(0, "")
            self.message(0, message)
        for enum in file.enum_type:
            self.emit(0, "")
            self.enum(0, enum)
        return "\n".join(self.lines) + "\n"


HEADER = """\
// Copyright 2023-2026 Buf Technologies, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//      http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// GENERATED by `python -m vouchery_gateway.tools.vendorproto` from the descriptor shipped in the pinned
// protovalidate package (pyproject.toml); do not edit. The documented source of the same schema is the
// bufbuild/protovalidate module on buf.build.
"""


def render(file: descriptor_pb2.FileDescriptorProto | None = None) -> str:
    """The .proto text of `file` (default: the installed protovalidate's validate.proto)."""
    return _Renderer(file if file is not None else library_descriptor()).render()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vouchery_gateway.tools.vendorproto",
        description=f"Write {VENDORED} from the installed protovalidate package.",
    )
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the file differs")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: found from here)")
    args = parser.parse_args(argv)
    root = args.root or Path(__file__).resolve().parents[3]
    target = root / VENDORED
    text = render()
    current = target.read_text() if target.is_file() else None
    if args.check:
        if current != text:
            print(f"vendorproto: {VENDORED} differs from the installed protovalidate; run", file=sys.stderr)
            print("  python -m vouchery_gateway.tools.vendorproto, then ./dev gen", file=sys.stderr)
            return 1
        print(f"vendorproto: {VENDORED} is current")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"vendorproto: wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
