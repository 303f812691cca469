"""Cashier text: Accept-Language parsing, the locale chain, money for a locale, placeholders and fallbacks,
and the LocalizedMessage / Rejection.message rewrites (edge/cashier_text.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, message_factory
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from vouchery.gateway.v1 import checkout_pb2, common_pb2
from vouchery_gateway.domain import Rejection, RejectionReason
from vouchery_gateway.edge.cashier_text import (
    MAX_HEADER_CHARS,
    MAX_RANGES,
    CashierText,
    CatalogueError,
    LanguageRange,
    Money,
    cashier_text,
    format_money,
    normalize_tag,
    parse_accept_language,
    placeholders,
    render,
    status_args,
)
from vouchery_gateway.errors import RateLimited, Rejected, Unavailable, to_status_proto
from vouchery_gateway.money import MoneyError

NBSP = "\xa0"
GERMAN_EXPIRED = "Dieser Gutschein ist abgelaufen."


def tags(value: object) -> list[str]:
    return [r.tag for r in parse_accept_language(value)]  # type: ignore[arg-type]


# -- Accept-Language ----------------------------------------------------------------------------------------


def test_q_values_order_the_ranges() -> None:
    """The RFC 9110 weights decide, not the position; equal weights keep the caller's order."""
    assert parse_accept_language("de-CH, fr;q=0.8") == [LanguageRange("de-CH", 1.0), LanguageRange("fr", 0.8)]
    assert tags("fr;q=0.5, it;q=0.9, nl") == ["nl", "it", "fr"]
    assert tags("es;q=0.7, pl;q=0.7, de;q=0.7") == ["es", "pl", "de"]
    assert tags("en;Q=0.1 , de ; q = 0.9") == ["de", "en"]  # case and blanks around the parameter


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", []),
        (",,, ;;; ,", []),
        ("*", []),  # no preference: the key's locale or English decides
        ("de;q=0", []),  # "not German"
        ("de;q=0.000, fr", ["fr"]),
        ("de;q=1.5, fr;q=0.2", ["fr"]),  # q above 1
        ("de;q=0.1234, fr;q=0.2", ["fr"]),  # more than three decimals
        ("de;q=abc, fr;q=", []),
        ("de;q=-1", []),
        ("de;q", []),
        ("12-34, -de, de-, de--CH", []),
        ("<script>alert(1)</script>", []),
        ("de\x00, fr", ["fr"]),
        ("deutschland-ch", []),  # a language subtag is at most 8 letters
        ("de;level=1;q=0.5, fr;q=0.4", ["de", "fr"]),  # other parameters are ignored
    ],
)
def test_garbage_is_skipped_never_raised(header: str, expected: list[str]) -> None:
    assert tags(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "dé, fr",  # a non-ASCII letter in the tag
        "日本語, fr",
        "de;q=٠.٥, fr",  # Arabic-Indic digits: float() would take them
        "de;q=0.５, fr",  # a full-width digit
        "ｄｅ, fr",  # full-width letters
    ],
)
def test_unicode_lookalikes_are_not_tags_or_weights(header: str) -> None:
    """Only ASCII letters, digits and q-values count; lookalikes that Python's str methods accept don't."""
    assert tags(header) == ["fr"]


def test_an_oversized_header_is_read_only_up_to_the_cap() -> None:
    """A megabyte of metadata costs no more than the cap; a range past it is not considered."""
    padding = ", ".join(["xx-YY"] * ((MAX_HEADER_CHARS // 7) + 10))
    assert len(padding) > MAX_HEADER_CHARS
    assert "de" not in tags(padding + ", de")  # "de" sits past the cap
    assert cashier_text().choose(padding + ", de") == "en"
    assert tags("fr, " + "x" * 1_000_000) == ["fr"]  # the cut-off partial range is dropped, not parsed
    many = ", ".join(f"de;q=0.{i:03d}" for i in range(1, 40))
    assert len(parse_accept_language(many)) <= MAX_RANGES


def test_repeated_metadata_values_are_one_list() -> None:
    assert tags(["fr;q=0.5", "it", b"de"]) == ["it", "fr"]  # bytes are not a header value
    assert tags(None) == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.lists(st.text(max_size=60), max_size=6))
def test_any_input_parses_without_raising(header: str | list[str]) -> None:
    """Whatever a caller sends: no exception, weights in (0, 1], and every tag a normalized one."""
    ranges = parse_accept_language(header)
    assert len(ranges) <= MAX_RANGES
    for found in ranges:
        assert 0 < found.q <= 1
        assert normalize_tag(found.tag) == found.tag
    assert cashier_text().choose(header) in cashier_text().locales


def test_tags_are_normalized_to_bcp47_case() -> None:
    assert normalize_tag("DE_at") == "de-AT"
    assert normalize_tag("zh-hant-tw") == "zh-Hant-TW"
    assert normalize_tag("es-419") == "es-419"
    assert normalize_tag("de CH") is None


# -- the locale chain ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key_locale", "chosen"),
    [
        ("de", "", "de"),
        ("de-CH, fr;q=0.8", "", "de"),  # the region is not served: its language is
        ("de-AT", "", "de"),
        ("xx-YY, fr;q=0.1", "", "fr"),  # the best *served* range
        ("pt-BR;q=0.9, pl;q=0.8", "", "pl"),
        (None, "fr", "fr"),  # no header: the key's locale
        (None, "fr-CA", "fr"),
        ("de", "fr", "de"),  # the header beats the key
        ("xx-YY", "fr", "fr"),  # an unserved header falls through to the key
        ("EN", "fr", "en"),  # English asked for is English, whatever the key says
        ("xx-YY", "", "en"),  # nothing served: English
        (None, "", "en"),
        (None, "xx-YY", "en"),
        (None, "not a locale!", "en"),
        ("*", "it", "it"),
    ],
)
def test_the_locale_of_a_call(header: str | None, key_locale: str, chosen: str) -> None:
    assert cashier_text().choose(header, key_locale) == chosen


def test_the_shipped_locales() -> None:
    assert cashier_text().locales == ("en", "de", "es", "fr", "it", "nl", "pl")


# -- money ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "text"),
    [
        (1999, "EUR", "de", f"19,99{NBSP}€"),
        (1999, "EUR", "en", "€19.99"),
        (1999, "EUR", "fr", f"19,99{NBSP}€"),
        (1999, "EUR", "nl", f"€{NBSP}19,99"),
        (1999, "PLN", "pl", f"19,99{NBSP}zł"),
        (1999, "JPY", "en", "¥1,999"),  # zero decimals: 1999 minor units are 1999 yen
        (1999, "JPY", "de", f"1.999{NBSP}¥"),
        (1234, "BHD", "en", "BHD1.234"),  # three decimals
        (1999, "HUF", "de", f"19,99{NBSP}HUF"),  # CLDR would round HUF to whole forints: every unit shows
        (-500, "EUR", "de", f"-5,00{NBSP}€"),
        (10**13 - 1, "EUR", "de", f"99.999.999.999,99{NBSP}€"),  # exact: no float on the way
        (5, "EUR", "en", "€0.05"),
    ],
)
def test_format_money(minor: int, currency: str, locale: str, text: str) -> None:
    assert format_money(minor, currency, locale) == text


def test_format_money_takes_a_babel_locale_and_falls_back_to_english() -> None:
    assert format_money(1999, "EUR", Locale.parse("it")) == f"19,99{NBSP}€"
    assert format_money(1999, "EUR", "xx-YY") == "€19.99"
    assert format_money(1999, "EUR", "") == "€19.99"


def test_format_money_refuses_an_unknown_currency() -> None:
    with pytest.raises(MoneyError):
        format_money(1999, "EURO", "de")


# -- placeholders, fallbacks and catalogues read from files ------------------------------------------------


def write_po(directory: Path, locale: str, entries: dict[str, str], *, fuzzy: tuple[str, ...] = ()) -> None:
    folder = directory / locale / "LC_MESSAGES"
    folder.mkdir(parents=True)
    lines = [
        'msgid ""',
        'msgstr ""',
        f'"Language: {locale}\\n"',
        '"Content-Type: text/plain; charset=UTF-8\\n"',
        "",
    ]
    for message_id, text in entries.items():
        if message_id in fuzzy:
            lines.append("#, fuzzy")
        lines += [f'msgid "{message_id}"', f'msgstr "{text}"', ""]
    (folder / "messages.po").write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture
def catalogues(tmp_path: Path) -> CashierText:
    write_po(
        tmp_path,
        "en",
        {
            "TOTAL": "Total {amount}, {count} items",
            "WAIT": "Try again {wait}.",
            "ONLY_EN": "English only.",
            "BRACES": "Use {{braces}} for {what}.",
            "ATTRIBUTE": "Bad {amount.__class__}",
        },
    )
    write_po(
        tmp_path,
        "de",
        {
            "TOTAL": "Summe {amount}, {count} Artikel",
            "WAIT": "Bitte {wait} erneut versuchen.",
            "ONLY_EN": "",  # untranslated
            "BRACES": "Nimm {{Klammern}} für {what}.",
        },
    )
    write_po(tmp_path, "fr", {"TOTAL": "Total {montant}", "WAIT": "Réessayez {wait}."}, fuzzy=("WAIT",))
    write_po(tmp_path, "de_CH", {"TOTAL": "Total {amount}, {count} Artikel"})
    return CashierText.load(tmp_path)


def test_placeholders_are_filled_in_the_locales_format(catalogues: CashierText) -> None:
    args = {"amount": Money(123456, "EUR"), "count": 1200}
    german = catalogues.text("TOTAL", "de", args)
    assert german is not None
    assert german.tag == "de"
    assert german.text == f"Summe 1.234,56{NBSP}€, 1.200 Artikel"
    assert catalogues.text("TOTAL", "en", args) == ("en", "Total €1,234.56, 1,200 items")
    swiss = catalogues.text("TOTAL", "de-CH", args)  # a regional catalogue wins for its region
    assert swiss is not None
    assert swiss.tag == "de-CH"
    assert swiss.text.startswith("Total EUR")
    assert catalogues.text("WAIT", "de", {"wait": timedelta(seconds=300)}) == (
        "de",
        "Bitte in 5 Minuten erneut versuchen.",
    )
    assert catalogues.text("BRACES", "de", {"what": "x"}) == ("de", "Nimm {Klammern} für x.")


def test_untranslated_fuzzy_or_mismatched_translations_fall_back_to_english(catalogues: CashierText) -> None:
    assert catalogues.text("ONLY_EN", "de") == ("en", "English only.")  # empty msgstr
    assert catalogues.text("WAIT", "fr", {"wait": timedelta(seconds=5)}) == ("en", "Try again in 5 seconds.")
    # The French TOTAL names {montant}: dropped when the catalogues were read, so English is shown.
    assert catalogues.text("TOTAL", "fr", {"amount": Money(1, "EUR"), "count": 1}) == (
        "en",
        "Total €0.01, 1 items",
    )
    assert catalogues.text("TOTAL", "xx-YY", {"amount": Money(1, "EUR"), "count": 1}) is not None


def test_a_translation_with_other_placeholders_is_logged_when_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_po(tmp_path, "en", {"TOTAL": "Total {amount}"})
    write_po(tmp_path, "fr", {"TOTAL": "Total {montant}"})
    with caplog.at_level(logging.WARNING):
        CashierText.load(tmp_path)
    assert "fr: TOTAL has other placeholders" in caplog.text


def test_a_message_that_cannot_be_filled_is_none(catalogues: CashierText) -> None:
    """A missing argument, a bad value, an unknown id or an unsafe field: no text (the caller keeps the
    error's English message), never an exception or a half-filled text."""
    assert catalogues.text("TOTAL", "de", {"amount": Money(1, "EUR")}) is None  # no count
    assert catalogues.text("TOTAL", "de", {"amount": Money(1, "EURO"), "count": 1}) is None
    assert catalogues.text("TOTAL", "de", {"amount": 1.5, "count": 1}) is None  # a float is never money
    assert catalogues.text("TOTAL", "de", {"amount": True, "count": 1}) is None
    assert catalogues.text("NO_SUCH_MESSAGE", "de") is None
    assert catalogues.text("ATTRIBUTE", "en", {"amount": Money(1, "EUR")}) is None


def test_numbers_are_written_in_the_locale(catalogues: CashierText) -> None:
    found = catalogues.text("TOTAL", "de", {"amount": "viel", "count": Decimal("1234.5")})
    assert found == ("de", "Summe viel, 1.234,5 Artikel")


@pytest.mark.parametrize(
    ("template", "names"),
    [
        ("plain", frozenset()),
        ("{a} and {b} and {a}", frozenset({"a", "b"})),
        ("{{literal}}", frozenset()),
        ("{a", None),
        ("{}", None),
        ("{0}", None),
        ("{a.b}", None),
        ("{a[0]}", None),
        ("{a!r}", None),
        ("{a:>10}", None),
    ],
)
def test_placeholders(template: str, names: frozenset[str] | None) -> None:
    assert placeholders(template) == names


def test_broken_catalogue_directories_fail_at_load(tmp_path: Path) -> None:
    """What ships is read at start-up: a broken file is a start-up error, not a till's."""
    with pytest.raises(CatalogueError, match="no catalogue directory"):
        CashierText.load(tmp_path / "absent")
    write_po(tmp_path, "de", {"A": "a"})
    with pytest.raises(CatalogueError, match="default locale 'en'"):
        CashierText.load(tmp_path)
    write_po(tmp_path, "en", {"A": "a"})
    write_po(tmp_path, "xx", {"A": "a"})
    with pytest.raises(CatalogueError, match="not a locale"):
        CashierText.load(tmp_path)
    (tmp_path / "xx" / "LC_MESSAGES" / "messages.po").unlink()
    broken = tmp_path / "nl" / "LC_MESSAGES" / "messages.po"
    broken.parent.mkdir(parents=True)
    broken.write_text('msgid "A"\nthis is not gettext\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"not a valid \.po file"):
        CashierText.load(tmp_path)
    broken.write_bytes(b'msgid "A"\nmsgstr "\xff"\n')  # not UTF-8
    with pytest.raises(CatalogueError, match=r"not a valid \.po file"):
        CashierText.load(tmp_path)


# -- statuses and answers ---------------------------------------------------------------------------------


def localized_message(status: status_pb2.Status) -> error_details_pb2.LocalizedMessage:
    found = [d for d in status.details if d.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR)]
    assert len(found) == 1
    message = error_details_pb2.LocalizedMessage()
    found[0].Unpack(message)
    return message


def expired() -> status_pb2.Status:
    return to_status_proto(Rejected(Rejection(RejectionReason.VOUCHER_EXPIRED, "1001", "Voucher is expired")))


def test_a_rejection_status_gets_the_chosen_locale_and_keeps_the_rest() -> None:
    original = expired()
    kept = original.SerializeToString(deterministic=True)
    german = cashier_text().localize_status(original, "de")
    assert localized_message(german) == error_details_pb2.LocalizedMessage(
        locale="de", message="Dieser Gutschein ist abgelaufen."
    )
    assert german.message == "Voucher is expired"  # the status message stays English, for logs
    assert german.code == original.code
    assert [d.type_url for d in german.details] == [d.type_url for d in original.details]
    assert german.details[0] == original.details[0]  # ErrorInfo untouched
    assert original.SerializeToString(deterministic=True) == kept  # the input is not modified
    assert (
        localized_message(cashier_text().localize_status(original, "en")).message
        == "This voucher has expired."
    )


def test_other_keeps_vouchery_words_and_unknown_reasons_keep_their_english() -> None:
    other = to_status_proto(Rejected(Rejection(RejectionReason.OTHER, "9999", "Store closed for inventory")))
    assert cashier_text().localize_status(other, "de") is other
    unknown = to_status_proto(Unavailable("something new", reason="SOMETHING_NEW"))
    assert cashier_text().localize_status(unknown, "de") is unknown
    assert localized_message(unknown) == error_details_pb2.LocalizedMessage(
        locale="en", message="something new"
    )
    no_info = status_pb2.Status(code=9, message="bare")
    assert cashier_text().localize_status(no_info, "de") is no_info


def test_retry_info_fills_the_wait() -> None:
    blocked = to_status_proto(RateLimited("paused", reason="TOO_MANY_INVALID_CODES", retry_after=299.2))
    polish = localized_message(cashier_text().localize_status(blocked, "pl"))
    assert polish.locale == "pl"
    assert polish.message == "Zbyt wiele nieprawidłowych kodów kuponów. Spróbuj ponownie za 5 minut."


def test_status_args_read_metadata_money_and_retry() -> None:
    info = error_details_pb2.ErrorInfo(
        reason="X",
        domain="vouchery",
        metadata={
            "limit": "5",
            "amount_minor": "1999",
            "currency": "EUR",
            "left_minor": "7",
            "left_currency": "JPY",
        },
    )
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2, nanos=1))
    status = status_pb2.Status(code=9)
    status.details.add().Pack(info)
    status.details.add().Pack(retry)
    args = status_args(status)
    assert args["limit"] == "5"
    assert args["amount"] == Money(1999, "EUR")
    assert args["left"] == Money(7, "JPY")
    assert args["wait"] == timedelta(seconds=3)  # rounded up: never "try again now" too early


def test_a_rejected_validation_answer_gets_its_message_localized() -> None:
    answer = checkout_pb2.ValidateVoucherResponse(
        valid=False,
        rejection=common_pb2.Rejection(
            reason=common_pb2.REJECTION_REASON_VOUCHER_EXPIRED,
            vouchery_code="1001",
            message="Voucher is expired",
        ),
    )
    french = cashier_text().localize_answer(answer, "fr")
    assert french.rejection.message == "Ce bon a expiré."
    assert french.rejection.vouchery_code == "1001"
    assert answer.rejection.message == "Voucher is expired"  # a copy was changed, not the answer


def holder_type() -> type[Message]:
    """A message type holding Rejections every way a proto can: repeated, in a map, in a nested message
    of its own type (a cycle), and scalars beside them."""
    name = "cashier_text_test_holder.proto"
    pool = descriptor_pool.Default()
    try:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName("cashier_text_test.Holder"))
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto(
        name=name, package="cashier_text_test", dependency=[common_pb2.DESCRIPTOR.name], syntax="proto3"
    )
    holder = file.message_type.add(name="Holder")
    field = descriptor_pb2.FieldDescriptorProto
    rejection = ".vouchery.gateway.v1.Rejection"
    holder.field.add(
        name="many", number=1, label=field.LABEL_REPEATED, type=field.TYPE_MESSAGE, type_name=rejection
    )
    entry = holder.nested_type.add(name="ByCodeEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=field.LABEL_OPTIONAL, type=field.TYPE_STRING)
    entry.field.add(
        name="value", number=2, label=field.LABEL_OPTIONAL, type=field.TYPE_MESSAGE, type_name=rejection
    )
    holder.field.add(
        name="by_code",
        number=2,
        label=field.LABEL_REPEATED,
        type=field.TYPE_MESSAGE,
        type_name=".cashier_text_test.Holder.ByCodeEntry",
    )
    holder.field.add(
        name="child",
        number=3,
        label=field.LABEL_OPTIONAL,
        type=field.TYPE_MESSAGE,
        type_name=".cashier_text_test.Holder",
    )
    holder.field.add(name="note", number=4, label=field.LABEL_OPTIONAL, type=field.TYPE_STRING)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("cashier_text_test.Holder"))


def test_every_rejection_an_answer_holds_is_localized() -> None:
    """Repeated, map and nested Rejections (a basket's refused codes) all get the locale's words."""
    holder_class = holder_type()
    expired = common_pb2.Rejection(
        reason=common_pb2.REJECTION_REASON_VOUCHER_EXPIRED, message="Voucher is expired"
    )
    other = common_pb2.Rejection(reason=common_pb2.REJECTION_REASON_OTHER, message="Store closed")
    answer: Any = holder_class(note="kept")
    answer.many.extend([expired, other])
    answer.by_code["GIFT-50"].CopyFrom(
        common_pb2.Rejection(
            reason=common_pb2.REJECTION_REASON_GIFT_CARD_EMPTY, message="No money left on gift card"
        )
    )
    answer.child.child.many.append(expired)
    german: Any = cashier_text().localize_answer(answer, "de")
    assert [r.message for r in german.many] == [GERMAN_EXPIRED, "Store closed"]
    assert german.by_code["GIFT-50"].message == "Auf dieser Geschenkkarte ist kein Guthaben mehr."
    assert german.child.child.many[0].message == GERMAN_EXPIRED
    assert german.note == "kept"
    assert answer.many[0].message == "Voucher is expired"  # the input is untouched
    assert cashier_text().localize_answer(holder_class(note="no rejection"), "de").note == "no rejection"


def test_answers_without_a_known_rejection_stay_as_they_are() -> None:
    other = checkout_pb2.ValidateVoucherResponse(
        valid=False,
        rejection=common_pb2.Rejection(reason=common_pb2.REJECTION_REASON_OTHER, message="Store closed"),
    )
    assert cashier_text().localize_answer(other, "de") is other
    valid = checkout_pb2.ValidateVoucherResponse(valid=True)
    assert cashier_text().localize_answer(valid, "de") is valid
    redeemed = checkout_pb2.RedeemVoucherResponse()
    assert cashier_text().localize_answer(redeemed, "de") is redeemed


# -- the public helpers ---------------------------------------------------------------------------------


def test_render_for_other_code() -> None:
    """What the basket and returns work calls for a text of its own."""
    assert render("VOUCHER_EXPIRED", "de-AT") == "Dieser Gutschein ist abgelaufen."
    assert render("VOUCHER_EXPIRED", "xx") == "This voucher has expired."
    assert render("TOO_MANY_INVALID_CODES", "it", wait=timedelta(minutes=2)) == (
        "Troppi codici buono non validi. Riprovare tra 2 minuti."
    )
    with pytest.raises(KeyError):
        render("NO_SUCH_MESSAGE", "de")
    with pytest.raises(KeyError):
        render("TOO_MANY_INVALID_CODES", "de")  # its {wait} not given
