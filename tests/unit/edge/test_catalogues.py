"""The shipped catalogues: every reason a till can see has a message in every locale, with the English
placeholders, and each file is a well-formed gettext catalogue of the locale its folder names."""

from __future__ import annotations

import grpc
import pytest
from babel.messages.pofile import read_po

from vouchery_gateway import errors
from vouchery_gateway.checkout.sale_book import SALE_REFUSAL_REASONS
from vouchery_gateway.domain import RejectionReason
from vouchery_gateway.edge.cashier_text import CATALOGUE_DIR, KEEPS_OWN_MESSAGE, cashier_text, placeholders
from vouchery_gateway.idempotency.errors import IdempotencyError
from vouchery_gateway.observability.offline_metrics import DECLINE_REASONS
from vouchery_gateway.security.metrics import REFUSAL_REASONS
from vouchery_gateway.upstream.errors import ERROR_TABLE
from vouchery_gateway.upstream.policy import CIRCUIT_OPEN_REASON, NOTHING_SENT_REASONS
from vouchery_gateway.upstream.routes import DEFAULT_TABLE

TILL_CODES = frozenset(
    {
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.NOT_FOUND,
    }
)


def subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *subclasses(sub)]
    return found


def refusal_reasons() -> set[str]:
    """Every ErrorInfo reason the code can put on a FAILED_PRECONDITION / ABORTED / RESOURCE_EXHAUSTED /
    UNAVAILABLE / NOT_FOUND answer, found in the code rather than listed here, so a new one fails this
    test until it has its messages."""
    reasons = {  # the classes that name their reason (a Rejected's is its RejectionReason: checked below)
        cls.default_reason
        for cls in subclasses(errors.GatewayError)
        if cls.code in TILL_CODES and "default_reason" in vars(cls)
    }
    reasons |= {cls.reason for cls in subclasses(IdempotencyError) if cls.error_type.code in TILL_CODES}
    reasons |= {row.reason for row in ERROR_TABLE if row.reason and row.error.code in TILL_CODES}
    reasons |= {route.not_found[0] for route in DEFAULT_TABLE.routes.values()}
    reasons |= {CIRCUIT_OPEN_REASON, *NOTHING_SENT_REASONS, errors.reconciliation_inconclusive("", "").reason}
    reasons |= set(REFUSAL_REASONS)  # the gate's, UNAUTHENTICATED and PERMISSION_DENIED too
    reasons |= set(SALE_REFUSAL_REASONS)  # baskets and returns
    reasons |= set(DECLINE_REASONS)  # offline acceptance declined (UNAVAILABLE OFFLINE_*)
    return reasons


def rejection_reasons() -> list[str]:
    return [reason.name for reason in RejectionReason if reason.name not in KEEPS_OWN_MESSAGE]


def test_the_reasons_found_in_the_code_include_the_known_ones() -> None:
    """The search above finds what it should (it is the guard for the next test)."""
    found = refusal_reasons()
    for reason in (
        "IDEMPOTENCY_KEY_REUSED",
        "IDEMPOTENT_REQUEST_IN_PROGRESS",
        "IDEMPOTENCY_STORE_UNAVAILABLE",
        "RATE_LIMITED",
        "TOO_MANY_CONCURRENT_CALLS",
        "TOO_MANY_INVALID_CODES",
        "UPSTREAM_CIRCUIT_OPEN",
        "UPSTREAM_CONNECTION_LOST",
        "UPSTREAM_CONTRACT_MISMATCH",
        "UPSTREAM_RECONCILIATION_INCONCLUSIVE",
        "UPSTREAM_UNREACHABLE",
        "REDEMPTION_NOT_FOUND",
        "CUSTOMER_NOT_FOUND",
        "VOUCHER_NOT_FOUND",
    ):
        assert reason in found


@pytest.mark.parametrize("locale", cashier_text().locales)
def test_every_rejection_reason_has_a_message_in_every_locale(locale: str) -> None:
    messages = cashier_text().catalogue(locale).messages
    missing = [name for name in rejection_reasons() if name not in messages]
    assert missing == [], f"{locale}: no message for {missing}"


@pytest.mark.parametrize("locale", cashier_text().locales)
def test_every_refusal_a_till_sees_has_a_message_in_every_locale(locale: str) -> None:
    messages = cashier_text().catalogue(locale).messages
    missing = sorted(reason for reason in refusal_reasons() if reason not in messages)
    assert missing == [], f"{locale}: no message for {missing}"


def test_other_keeps_vouchery_words() -> None:
    """No catalogue may carry OTHER: Vouchery's own message is the only one that says what happened."""
    for locale in cashier_text().locales:
        assert "OTHER" not in cashier_text().catalogue(locale).messages


@pytest.mark.parametrize("locale", [t for t in cashier_text().locales if t != "en"])
def test_translations_have_the_english_ids_and_placeholders(locale: str) -> None:
    """Read straight from the file (the loader would drop a mismatched entry): every id the English
    catalogue has, translated, with exactly its placeholders."""
    english = raw("en")
    translated = raw(locale)
    assert set(translated) == set(english)
    for message_id, text in translated.items():
        assert text, f"{locale}: {message_id} is not translated"
        assert placeholders(text) is not None, f"{locale}: {message_id} has a malformed placeholder"
        assert placeholders(text) == placeholders(english[message_id]), f"{locale}: {message_id}"


@pytest.mark.parametrize("locale", cashier_text().locales)
def test_each_file_is_its_folders_locale_and_has_no_fuzzy_entry(locale: str) -> None:
    folder = locale.replace("-", "_")
    with (CATALOGUE_DIR / folder / "LC_MESSAGES" / "messages.po").open("rb") as file:
        catalog = read_po(file)
    assert str(catalog.locale) == folder
    assert [m.id for m in catalog if m.id and m.fuzzy] == []


def raw(locale: str) -> dict[str, str]:
    with (CATALOGUE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return {str(m.id): str(m.string) for m in read_po(file) if m.id}
