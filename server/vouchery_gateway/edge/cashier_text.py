"""Cashier text in the store's language: the locale of a call, the message catalogues, money for a locale.

Every refusal the gateway answers carries a `google.rpc.LocalizedMessage` for the cashier, and every
`Rejection` in an answer (ValidateVoucher with `valid = false`, a basket's refused codes) a `message`;
this module decides their language and words. The status message itself stays English (the logs
show it).

The locale of a call (`CashierText.choose`), first match wins:
1. the `accept-language` request metadata, read as HTTP's Accept-Language (RFC 9110: q-values, so
   "de-CH, fr;q=0.8" prefers German): the best range a catalogue serves, exactly or by dropping subtags
   (de-AT -> de, zh-Hant-TW -> zh-Hant -> zh);
2. the locale of the caller's key or certificate (`locale` in the keys file);
3. English.
A malformed or unknown tag is skipped, never an error; only the first `MAX_HEADER_CHARS` characters and
`MAX_RANGES` ranges of the metadata are read.

Catalogues are gettext files, `locales/<locale>/LC_MESSAGES/messages.po` beside this module (see
locales/README.md), read with Babel once per process. A message id is an `ErrorInfo` reason: every
`RejectionReason` name but OTHER (which keeps Vouchery's own message) and UNSPECIFIED (never sent), and
the reasons of refusals a till sees (IDEMPOTENCY_KEY_REUSED, UPSTREAM_CIRCUIT_OPEN, ...). Placeholders
are `{name}`, filled from arguments: `Money` as `format_money` writes it, numbers in the locale's
format, a `timedelta` as a time from now ("in 5 Minuten", "za 5 minut"), text as is. The arguments of
a `google.rpc.Status` come from its details (`status_args`). A message that is missing, untranslated
(empty or fuzzy), or whose placeholders cannot all be filled falls back to the English catalogue, and
then to the English text the error already carries: a missing translation never hides a refusal.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import re
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar

from babel import Locale, UnknownLocaleError
from babel.dates import format_timedelta
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import NumberPattern, format_decimal, parse_pattern
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.errors import ERROR_DOMAIN
from vouchery_gateway.money import MoneyError, currency_exponent, to_decimal

__all__ = [
    "ACCEPT_LANGUAGE_KEY",
    "CATALOGUE_DIR",
    "DEFAULT_LOCALE",
    "KEEPS_OWN_MESSAGE",
    "MAX_HEADER_CHARS",
    "MAX_RANGES",
    "CashierText",
    "Catalogue",
    "CatalogueError",
    "LanguageRange",
    "Localized",
    "Money",
    "cashier_text",
    "format_money",
    "holds_rejection",
    "normalize_tag",
    "parse_accept_language",
    "placeholders",
    "rejections_in",
    "render",
    "status_args",
]

log = logging.getLogger("vouchery_gateway.services")

DEFAULT_LOCALE: Final = "en"
ACCEPT_LANGUAGE_KEY: Final = "accept-language"
MAX_HEADER_CHARS: Final = 256  # a real browser sends under 100; past this, the rest is not read
MAX_RANGES: Final = 16
CATALOGUE_DIR: Final = Path(__file__).with_name("locales")
CATALOGUE_FILE: Final = Path("LC_MESSAGES") / "messages.po"
# Reasons whose message is never replaced: OTHER keeps Vouchery's own words (the gateway does not know
# the rejection), UNSPECIFIED is never sent.
KEEPS_OWN_MESSAGE: Final = frozenset({"OTHER", "UNSPECIFIED"})

_TAG: Final = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*", re.ASCII)
_QVALUE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?", re.ASCII)
_INTEGER: Final = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_FORMATTER: Final = string.Formatter()

M = TypeVar("M", bound=Message)


DETAILED: Final = ".detailed"  # the message id suffix of a reason's message with placeholders


class CatalogueError(ValueError):
    """A catalogue directory or file that cannot be used (a start-up error: the files ship in the wheel)."""


class LanguageRange(NamedTuple):
    tag: str  # normalized: "de-CH"
    q: float  # 0 < q <= 1; only orders the ranges


class Localized(NamedTuple):
    tag: str  # the catalogue's locale tag, for LocalizedMessage.locale
    text: str


@dataclass(frozen=True, slots=True)
class Money:
    """An amount for a placeholder: integer minor units of an ISO 4217 currency."""

    minor: int
    currency: str


# -- locale tags and Accept-Language ----------------------------------------------------------------------


def normalize_tag(value: str) -> str | None:
    """A language tag in BCP 47 casing with hyphens ("DE_at" -> "de-AT"), or None when it is not one."""
    value = value.strip()
    if not _TAG.fullmatch(value):
        return None
    language, *rest = value.replace("_", "-").split("-")
    parts = [language.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())  # script: Hant
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            parts.append(part.upper())  # region: CH, 419
        else:
            parts.append(part.lower())
    return "-".join(parts)


def parse_accept_language(values: str | Iterable[str] | None) -> list[LanguageRange]:
    """The language ranges of Accept-Language value(s), best first (q descending, then as sent).

    Ranges with q=0, the wildcard, malformed ranges or q-values are dropped; several values are one list
    (as HTTP joins repeated headers); only the first MAX_HEADER_CHARS characters (cut back to the last
    whole range) and MAX_RANGES ranges are read. Never raises on any input.
    """
    if values is None:
        return []
    text = values if isinstance(values, str) else ",".join(v for v in values if isinstance(v, str))
    if len(text) > MAX_HEADER_CHARS:
        text = text[:MAX_HEADER_CHARS].rpartition(",")[0]
    ranges: list[LanguageRange] = []
    for item in text.split(",")[:MAX_RANGES]:
        name, *params = (part.strip() for part in item.split(";"))
        tag = normalize_tag(name) if name != "*" else None
        q = _qvalue(params)
        if tag is not None and q is not None and q > 0:
            ranges.append(LanguageRange(tag, q))
    ranges.sort(key=lambda r: -r.q)  # stable: equal weights keep the caller's order
    return ranges


def _qvalue(params: list[str]) -> float | None:
    """The q parameter (1 when absent), or None when it is malformed."""
    q = 1.0
    for param in params:
        key, sep, value = param.partition("=")
        if key.strip().lower() != "q":
            continue  # other parameters carry no preference
        if not sep or not _QVALUE.fullmatch(value.strip()):
            return None
        q = float(value.strip())
    return q


# -- money and placeholders -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _babel_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag, sep="-" if "-" in tag else "_")
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALE)


@functools.lru_cache(maxsize=256)
def _currency_pattern(locale: Locale, digits: int) -> NumberPattern:
    pattern = copy.copy(parse_pattern(locale.currency_formats["standard"]))
    pattern.frac_prec = (digits, digits)
    return pattern


def format_money(minor: int, currency: str, locale: str | Locale) -> str:
    """`minor` units of `currency` as written in `locale`: (1999, "EUR", "de") -> "19,99 €" (with a
    no-break space), (1999, "EUR", "en") -> "€19.99", (1999, "JPY", "en") -> "¥1,999".

    The amount goes through `Decimal` with the currency's ISO 4217 exponent (money.py), never a float,
    and shows every minor unit (CLDR would round HUF or IQD to whole units); Babel places the symbol,
    separators and sign. MoneyError for a currency money.py does not know; an unknown locale is English.
    """
    amount = to_decimal(minor, currency)
    where = locale if isinstance(locale, Locale) else _babel_locale(locale)
    pattern = _currency_pattern(where, currency_exponent(currency))
    return str(pattern.apply(amount, where, currency=currency, currency_digits=False))


def placeholders(template: str) -> frozenset[str] | None:
    """The `{name}` placeholders of a message, or None when it is malformed: an unbalanced brace, a
    positional `{}` or `{0}`, an attribute, index, conversion or format spec (`{{` is a literal brace)."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        return None
    names: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            return None
        names.add(field)
    return frozenset(names)


def _fill(template: str, args: Mapping[str, object], locale: Locale) -> str | None:
    """The message with its placeholders filled, or None when one cannot be."""
    if placeholders(template) is None:
        return None
    out: list[str] = []
    for literal, field, _spec, _conversion in _FORMATTER.parse(template):
        out.append(literal)
        if field is None:
            continue
        if field not in args:
            return None
        value = _value_text(args[field], locale)
        if value is None:
            return None
        out.append(value)
    return "".join(out)


def _value_text(value: object, locale: Locale) -> str | None:
    try:
        if isinstance(value, Money):
            return format_money(value.minor, value.currency, locale)
        if isinstance(value, bool):
            return None  # never meant as a number; a caller's bug, not a cashier text
        if isinstance(value, int | Decimal):
            return str(format_decimal(value, locale=locale))
        if isinstance(value, timedelta):
            return str(format_timedelta(value, add_direction=True, locale=locale))  # "in 5 Minuten"
        if isinstance(value, str):
            return value
    except (MoneyError, ValueError, ArithmeticError):
        return None
    return None


def status_args(status: status_pb2.Status) -> dict[str, object]:
    """The placeholder arguments a `google.rpc.Status` carries, so they survive being stored and replayed.

    - ErrorInfo metadata (domain "vouchery"): `key` -> {key} as text; `name_minor` (an integer) with
      `name_currency` or `currency` -> {name} as money;
    - RetryInfo -> {wait}, the delay rounded up to the second (written "in 5 minutes").
    """
    info, retry = _details(status)[:2]
    args: dict[str, object] = {}
    metadata = dict(info.metadata) if info is not None else {}
    args.update(metadata)
    for key, value in metadata.items():
        if not key.endswith("_minor") or not _INTEGER.fullmatch(value):
            continue
        name = key.removesuffix("_minor")
        currency = metadata.get(f"{name}_currency") or metadata.get("currency")
        if name and currency:
            args[name] = Money(int(value), currency)
    if retry is not None and retry.HasField("retry_delay"):
        seconds = retry.retry_delay.ToNanoseconds() / 1e9
        args["wait"] = timedelta(seconds=max(1, math.ceil(seconds)))
    return args


def _details(
    status: status_pb2.Status,
) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.RetryInfo | None, int | None]:
    """The status's ErrorInfo (our domain) and RetryInfo, and the index of its LocalizedMessage."""
    info: error_details_pb2.ErrorInfo | None = None
    retry: error_details_pb2.RetryInfo | None = None
    localized: int | None = None
    for index, packed in enumerate(status.details):
        if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            found = error_details_pb2.ErrorInfo()
            packed.Unpack(found)
            if found.domain == ERROR_DOMAIN and info is None:
                info = found
        elif packed.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            packed.Unpack(retry)
        elif packed.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR) and localized is None:
            localized = index
    return info, retry, localized


# -- the catalogues ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One locale's messages: message id -> text (translated entries only)."""

    tag: str
    locale: Locale
    messages: Mapping[str, str]


def read_catalogue(path: Path, tag: str) -> Catalogue:
    """A .po file as a Catalogue; CatalogueError when it cannot be read or its locale is unknown."""
    locale = _parse_locale(tag, path)
    try:
        with path.open("rb") as file:
            catalog = read_po(file, locale=locale, ignore_obsolete=True, abort_invalid=True)
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot be read ({exc.strerror})") from None
    except (PoFileError, ValueError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: not a valid .po file ({exc})") from None
    messages: dict[str, str] = {}
    for message in catalog:
        if not isinstance(message.id, str) or not message.id:  # the header, plural forms
            continue
        if isinstance(message.string, str) and message.string and not message.fuzzy:
            messages[message.id] = message.string
    return Catalogue(tag, locale, messages)


def _parse_locale(tag: str, where: Path) -> Locale:
    try:
        return Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        raise CatalogueError(f"{where}: {tag!r} is not a locale Babel (CLDR) knows") from None


class CashierText:
    """The catalogues of a process, and the lookups made on them (see the module docstring)."""

    def __init__(self, catalogues: Iterable[Catalogue], default: str = DEFAULT_LOCALE) -> None:
        self._catalogues = {c.tag: c for c in catalogues}
        self._by_key = {tag.lower(): tag for tag in self._catalogues}
        if default not in self._catalogues:
            raise CatalogueError(f"no catalogue for the default locale {default!r}")
        self.default = default
        self._drop_mismatched_placeholders()

    @classmethod
    def load(cls, directory: Path = CATALOGUE_DIR, default: str = DEFAULT_LOCALE) -> CashierText:
        """Every `<locale>/LC_MESSAGES/messages.po` under `directory`."""
        if not directory.is_dir():
            raise CatalogueError(f"{directory}: no catalogue directory")
        catalogues: list[Catalogue] = []
        for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
            path = folder / CATALOGUE_FILE
            if not path.is_file():
                continue
            tag = normalize_tag(folder.name)
            if tag is None:
                raise CatalogueError(f"{folder}: the folder name is not a locale tag")
            catalogues.append(read_catalogue(path, tag))
        return cls(catalogues, default)

    def _drop_mismatched_placeholders(self) -> None:
        """A translation whose placeholders differ from the English message's could never be filled
        right: log it and use English for that message, rather than fail at a till."""
        english = self._catalogues[self.default].messages
        for catalogue in list(self._catalogues.values()):
            if catalogue.tag == self.default:
                continue
            kept = dict(catalogue.messages)
            for message_id, text in catalogue.messages.items():
                source = english.get(message_id)
                if source is not None and placeholders(text) != placeholders(source):
                    log.warning(
                        "catalogue %s: %s has other placeholders than English; English is used",
                        catalogue.tag,
                        message_id,
                    )
                    del kept[message_id]
            self._catalogues[catalogue.tag] = Catalogue(catalogue.tag, catalogue.locale, kept)

    @property
    def locales(self) -> tuple[str, ...]:
        """The locale tags served, the default first."""
        return (self.default, *sorted(t for t in self._catalogues if t != self.default))

    def catalogue(self, tag: str) -> Catalogue:
        return self._catalogues[tag]

    def match(self, tag: str) -> str | None:
        """The served locale for a tag: itself, or the tag with subtags dropped from the end."""
        normalized = normalize_tag(tag)
        if normalized is None:
            return None
        parts = normalized.lower().split("-")
        while parts:
            found = self._by_key.get("-".join(parts))
            if found is not None:
                return found
            parts.pop()
        return None

    def choose(self, accept_language: str | Iterable[str] | None = None, caller_locale: str = "") -> str:
        """The locale of a call: the best served `accept-language` range, else the caller's key locale,
        else the default (English). Never raises."""
        for language in parse_accept_language(accept_language):
            found = self.match(language.tag)
            if found is not None:
                return found
        if caller_locale:
            found = self.match(caller_locale)
            if found is not None:
                return found
        return self.default

    def text(
        self, message_id: str, locale: str, args: Mapping[str, object] | None = None
    ) -> Localized | None:
        """The message in `locale` (a tag `choose` gave), else in English, with its placeholders filled;
        None when neither catalogue has it or it cannot be filled."""
        for tag in dict.fromkeys((self.match(locale) or self.default, self.default)):
            catalogue = self._catalogues[tag]
            template = catalogue.messages.get(message_id)
            if template is None:
                continue
            filled = _fill(template, args or {}, catalogue.locale)
            if filled is not None:
                return Localized(tag, filled)
        return None

    def localize_status(self, status: status_pb2.Status, locale: str) -> status_pb2.Status:
        """The status with its LocalizedMessage in `locale`, taken from its ErrorInfo reason and
        arguments (`status_args`); the status itself when no catalogue has the reason (its English
        message stays) or nothing changes. The input is never modified."""
        info, _retry, index = _details(status)
        if info is None or info.reason in KEEPS_OWN_MESSAGE:
            return status
        args = status_args(status)
        # A reason may have a richer message (`<REASON>.detailed`) naming what the refusal carries, e.g.
        # the minimum order in the locale's money format; without those values, the plain one.
        found = self.text(info.reason + DETAILED, locale, args) if args else None
        found = found or self.text(info.reason, locale, args)
        if found is None:
            return status
        message = error_details_pb2.LocalizedMessage(locale=found.tag, message=found.text)
        if index is not None:
            current = error_details_pb2.LocalizedMessage()
            status.details[index].Unpack(current)
            if current == message:
                return status
        out = status_pb2.Status()
        out.CopyFrom(status)
        if index is None:
            out.details.add().Pack(message)
        else:
            out.details[index].Pack(message)
        return out

    def localize_answer(self, answer: M, locale: str) -> M:
        """An answer with the message of every `Rejection` it holds, at any depth (ValidateVoucher with
        valid = false, each refused code of a basket), in `locale`; the answer itself when nothing
        changes. OTHER rejections keep Vouchery's own words. The input is never modified."""
        if not holds_rejection(answer.DESCRIPTOR):
            return answer
        if all(self._rejection_text(r, locale) is None for r in rejections_in(answer)):
            return answer
        out = type(answer)()
        out.CopyFrom(answer)
        for rejection in rejections_in(out):
            text = self._rejection_text(rejection, locale)
            if text is not None:
                rejection.message = text
        return out

    def _rejection_text(self, rejection: common_pb2.Rejection, locale: str) -> str | None:
        """The new message of a Rejection in `locale`, None when it stays as it is."""
        if rejection.reason not in common_pb2.RejectionReason.values():
            return None
        reason = common_pb2.RejectionReason.Name(rejection.reason).removeprefix("REJECTION_REASON_")
        if reason in KEEPS_OWN_MESSAGE:
            return None
        found = self.text(reason, locale)
        return None if found is None or found.text == rejection.message else found.text


_REJECTION: Final = common_pb2.Rejection.DESCRIPTOR.full_name
_HOLDS_REJECTION: dict[str, bool] = {}


def holds_rejection(descriptor: Any) -> bool:
    """Whether a message type (its `Descriptor`, pure-Python or upb) can hold a `Rejection` at any depth
    (computed once per type)."""
    cached = _HOLDS_REJECTION.get(descriptor.full_name)
    if cached is not None:
        return cached
    seen: set[str] = set()
    todo = [descriptor]
    found = False
    while todo and not found:
        current = todo.pop()
        if current.full_name in seen:
            continue
        seen.add(current.full_name)
        found = current.full_name == _REJECTION
        todo.extend(f.message_type for f in current.fields if f.message_type is not None)
    _HOLDS_REJECTION[descriptor.full_name] = found
    return found


def rejections_in(message: Message) -> Iterator[common_pb2.Rejection]:
    """Every `Rejection` set in a message, at any depth (singular, repeated and map fields)."""
    if message.DESCRIPTOR.full_name == _REJECTION:
        yield message  # type: ignore[misc]
        return
    for field, value in message.ListFields():
        kind = field.message_type
        if kind is None or not holds_rejection(kind):
            continue
        if isinstance(value, Message):
            items: Iterable[object] = (value,)
        elif kind.GetOptions().map_entry:
            items = value.values()
        else:
            items = value
        for item in items:
            if isinstance(item, Message):
                yield from rejections_in(item)


@functools.cache
def cashier_text() -> CashierText:
    """The shipped catalogues, read on first use and kept for the process (the gateway reads them at
    start-up, so a broken file fails the start, not a checkout)."""
    return CashierText.load()


def render(message_id: str, locale: str, /, **args: object) -> str:
    """The shipped message `message_id` in `locale` (any tag: matched as `choose` would, else English),
    placeholders filled from `args` (`Money(1999, "EUR")` for amounts). KeyError when no catalogue has
    the message or its placeholders cannot be filled from `args`: a programming error, found by tests."""
    text = cashier_text()
    found = text.text(message_id, text.match(locale) or text.default, args)
    if found is None:
        raise KeyError(f"no message {message_id!r} that {sorted(args)} can fill")
    return found.text
