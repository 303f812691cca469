"""The offline policy file: built-in defaults, [default] inherited by campaign tables, and every refusal
naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from vouchery_gateway.checkout.offline_policy import (
    MAX_LIMIT,
    OFF,
    CampaignRule,
    PolicyError,
    load_policy,
    parse_policy,
)

NAME = "shop-policy.toml"

# Eight lines every multi-table case starts with; the offending table follows from line 10 on. The
# keys the cases break also appear here, so a message naming their first occurrence would be wrong.
PRELUDE = """\
# offline policy of the test shop ☕
[default]
accept = false
max_per_store_per_hour = 10

[campaigns.1201]
accept = true
max_discount_per_sale_minor = 2000
"""


def refusal(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, NAME)
    return str(caught.value)


# -- defaults and inheritance ------------------------------------------------------------------------------


def test_an_empty_file_is_the_policy_that_accepts_nothing() -> None:
    """No tables: the built-in default rule (accept nothing offline) and no campaigns."""
    policy = parse_policy("", NAME)
    assert policy.default == OFF.default == CampaignRule()
    assert dict(policy.campaigns) == {}
    assert not policy.enabled


def test_built_in_defaults_are_the_safe_side() -> None:
    """Off, no caps of their own, a recent valid sighting required, no gift cards, no points."""
    rule = CampaignRule()
    assert rule.accept is False
    assert rule.max_discount_per_sale_minor is None
    assert rule.max_per_store_per_hour is None
    assert rule.max_per_store_per_day is None
    assert rule.require_seen_valid is True
    assert rule.seen_within_seconds == 86400
    assert rule.gift_cards is False
    assert rule.points is False


@pytest.mark.parametrize(
    ("text", "campaign", "expected"),
    [
        pytest.param(
            "[default]\naccept = true\nmax_per_store_per_hour = 10\n\n"
            "[campaigns.1201]\nmax_discount_per_sale_minor = 2000\n",
            1201,
            CampaignRule(accept=True, max_per_store_per_hour=10, max_discount_per_sale_minor=2000),
            id="missing-keys-come-from-default",
        ),
        pytest.param(
            "[default]\naccept = true\ngift_cards = true\n\n[campaigns.1201]\naccept = false\n",
            1201,
            CampaignRule(accept=False, gift_cards=True),
            id="campaign-overrides-default",
        ),
        pytest.param(
            "[default]\naccept = true\nseen_within_seconds = 600\n\n[campaigns.1201]\n",
            1201,
            CampaignRule(accept=True, seen_within_seconds=600),
            id="empty-campaign-table-is-the-default",
        ),
        pytest.param(
            "[campaigns.1201]\npoints = true\n\n[default]\naccept = true\nmax_per_store_per_day = 5\n",
            1201,
            CampaignRule(accept=True, points=True, max_per_store_per_day=5),
            id="default-written-after-the-campaign",
        ),
        pytest.param(
            "[campaigns.1201]\naccept = true\nrequire_seen_valid = false\n",
            1201,
            CampaignRule(accept=True, require_seen_valid=False),
            id="no-default-table-built-ins",
        ),
        pytest.param(
            '[default]\naccept = true\n\n[campaigns."1201"]\nmax_per_store_per_hour = 3\n',
            1201,
            CampaignRule(accept=True, max_per_store_per_hour=3),
            id="quoted-campaign-id",
        ),
        pytest.param(
            "[default]\naccept = true\n\n[campaigns.1201]\nmax_per_store_per_hour = 0\n",
            1201,
            CampaignRule(accept=True, max_per_store_per_hour=0),
            id="zero-is-a-limit",
        ),
        pytest.param(
            f"[campaigns.1201]\nmax_discount_per_sale_minor = {MAX_LIMIT}\n",
            1201,
            CampaignRule(max_discount_per_sale_minor=MAX_LIMIT),
            id="largest-limit",
        ),
    ],
)
def test_campaign_tables_inherit_the_default_table(text: str, campaign: int, expected: CampaignRule) -> None:
    """A key missing from a campaign table takes [default]'s value, then the built-in default."""
    assert parse_policy(text, NAME).rule_for(campaign) == expected


def test_every_key_of_the_module_docstring_is_read() -> None:
    """The documented example file parses to the values it states."""
    text = """\
[default]
accept = false

[campaigns.1201]
accept = true
max_discount_per_sale_minor = 2000
max_per_store_per_hour = 20
max_per_store_per_day = 100
require_seen_valid = true
seen_within_seconds = 86400
gift_cards = false
points = false
"""
    policy = parse_policy(text, NAME)
    assert policy.default == CampaignRule()
    assert dict(policy.campaigns) == {
        1201: CampaignRule(
            accept=True,
            max_discount_per_sale_minor=2000,
            max_per_store_per_hour=20,
            max_per_store_per_day=100,
        )
    }


# -- refusals: file, line and field ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "field", "says"),
    [
        pytest.param("bogus = 1", "bogus", "unknown key 'bogus'", id="unknown-key"),
        pytest.param('"accepté" = true', "accepté", "unknown key 'accepté'", id="unicode-unknown-key"),
        pytest.param("max_per_store_per_hour = -1", "max_per_store_per_hour", "between 0 and", id="negative"),
        pytest.param(
            f"seen_within_seconds = {MAX_LIMIT + 1}", "seen_within_seconds", "between 0 and", id="too-large"
        ),
        pytest.param(
            "max_discount_per_sale_minor = 20.0",
            "max_discount_per_sale_minor",
            "must be a whole number",
            id="float-money",
        ),
        pytest.param(
            "max_discount_per_sale_minor = 1e3",
            "max_discount_per_sale_minor",
            "must be a whole number",
            id="float-money-exponent",
        ),
        pytest.param(
            "max_per_store_per_day = true",
            "max_per_store_per_day",
            "must be a whole number",
            id="bool-for-int",
        ),
        pytest.param(
            'max_per_store_per_day = "5"', "max_per_store_per_day", "must be a whole number", id="str-for-int"
        ),
        pytest.param("accept = 1", "accept", "must be true or false", id="int-for-bool"),
        pytest.param("gift_cards = 0", "gift_cards", "must be true or false", id="zero-for-bool"),
        pytest.param(
            'require_seen_valid = "yes"', "require_seen_valid", "must be true or false", id="str-bool"
        ),
    ],
)
def test_a_bad_key_is_refused_at_its_own_line(bad_line: str, field: str, says: str) -> None:
    """The message names the file, the line of the offending key (not an earlier table's) and the field."""
    text = PRELUDE + f"\n[campaigns.77]\npoints = false\n{bad_line}\n"  # header line 10, bad key line 12
    message = refusal(text)
    assert message.startswith(f"{NAME}, line 12, [campaigns.77] {field}: ")
    assert says in message


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        pytest.param(
            "# comment\n[default]\naccept = true\nseen_within_seconds = -5\n",
            "line 4, [default] seen_within_seconds",
            "got -5",
            id="default-table",
        ),
        pytest.param(
            "[campaigns.5]\naccept = true\n\n[default]\naccept = true\npoints = 1\n",
            "line 6, [default] points",
            "true or false",
            id="default-after-campaigns",
        ),
        pytest.param(
            "[default]\naccept = true\n\n[ campaigns . '7' ]\naccept = 1\n",
            "line 5, [campaigns.7] accept",
            "true or false",
            id="spaced-quoted-header",
        ),
        pytest.param(
            "[campaigns.12]\n# accept = 2\naccept = 3\n",
            "line 3, [campaigns.12] accept",
            "true or false",
            id="commented-line-skipped",
        ),
    ],
)
def test_the_line_is_found_whatever_the_layout(text: str, where: str, says: str) -> None:
    """Comments, table order, spacing and quoting in headers do not move the line named."""
    message = refusal(text)
    assert message.startswith(f"{NAME}, {where}: ")
    assert says in message


@pytest.mark.parametrize(
    ("header", "campaign_id"),
    [
        pytest.param("[campaigns.x]", "x", id="letters"),
        pytest.param('[campaigns."x"]', "x", id="quoted-letters"),
        pytest.param("[campaigns.0]", "0", id="zero"),
        pytest.param("[campaigns.-3]", "-3", id="negative"),
        pytest.param('[campaigns."1.5"]', "1.5", id="decimal"),
        pytest.param("[campaigns.012]", "012", id="leading-zero"),
        pytest.param("[campaigns.1_0]", "1_0", id="underscore"),
        pytest.param("[campaigns.1999999999999999999]", "1999999999999999999", id="too-many-digits"),
    ],
)
def test_a_campaign_id_that_is_not_a_positive_integer_is_refused(header: str, campaign_id: str) -> None:
    """The message names the file, the header's line and the id."""
    message = refusal(PRELUDE + f"\n{header}\naccept = true\n")  # header on line 10
    assert message == (
        f"{NAME}, line 10, [campaigns.{campaign_id}]: campaign id {campaign_id!r} is not a positive integer"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            PRELUDE + "\n[campaigns]\n77 = true\n",
            f"{NAME}, line 11, [campaigns] 77: expected a table",
            id="campaign-is-a-value",
        ),
        pytest.param(
            "# no tables yet\ndefault = 3\n",
            f"{NAME}, line 2, default: expected a table",
            id="default-is-a-value",
        ),
        pytest.param(
            "campaigns = 3\n[default]\naccept = true\n",
            f"{NAME}, line 1, campaigns: expected tables [campaigns.<id>]",
            id="campaigns-is-a-value",
        ),
    ],
)
def test_a_value_where_a_table_belongs_is_refused(text: str, expected: str) -> None:
    """A campaign (or [default]) that is not a table is named with its line."""
    assert refusal(text) == expected


@pytest.mark.parametrize(
    ("text", "expected_start"),
    [
        pytest.param(PRELUDE + "\n[campaign.77]\naccept = true\n", "line 10, campaign", id="typo"),
        pytest.param(PRELUDE + '\n["défaut"]\naccept = true\n', "line 10, défaut", id="unicode-quoted"),
        pytest.param("accept = true\n\n[default]\naccept = true\n", "line 1, accept", id="top-level-key"),
    ],
)
def test_an_unknown_table_is_refused_with_its_line(text: str, expected_start: str) -> None:
    """Only [default] and [campaigns.<id>] exist; anything else is named where it is written."""
    message = refusal(text)
    assert message.startswith(f"{NAME}, {expected_start}: unknown table ")
    assert "[default], [campaigns.<id>]" in message


@pytest.mark.parametrize(
    ("text", "toml_line"),
    [
        pytest.param("[default]\naccept = true\n[campaigns.12\naccept = true\n", 3, id="unclosed-header"),
        pytest.param("[default]\naccept = true\naccept = false\n", 3, id="duplicate-key"),
        pytest.param("[default]\naccept =\n", 2, id="missing-value"),
        pytest.param("[default]\naccept = true\n\n[default]\npoints = true\n", 4, id="table-twice"),
    ],
)
def test_invalid_toml_is_refused_with_the_parsers_line(text: str, toml_line: int) -> None:
    """Not TOML at all: the file is named and the parser's own position is kept."""
    message = refusal(text)
    assert message.startswith(f"{NAME}: not valid TOML (")
    assert f"line {toml_line}" in message


# -- reading the file --------------------------------------------------------------------------------------


def test_load_policy_reads_a_utf8_file(tmp_path: Path) -> None:
    """A file with non-ASCII comments reads as the text it holds."""
    path = tmp_path / "offline.toml"
    path.write_text("# Café campaign — ☕ only\n[campaigns.1201]\naccept = true\n", encoding="utf-8")
    policy = load_policy(path)
    assert policy.default == CampaignRule()
    assert dict(policy.campaigns) == {1201: CampaignRule(accept=True)}
    assert load_policy(str(path)) == policy


def test_load_policy_names_the_path_in_a_refusal(tmp_path: Path) -> None:
    """Refusals of a loaded file start with its path and the line."""
    path = tmp_path / "offline.toml"
    path.write_text(
        "[default]\naccept = true\n\n[campaigns.9]\nmax_per_store_per_day = 2.5\n", encoding="utf-8"
    )
    with pytest.raises(
        PolicyError, match=r"^.*offline\.toml, line 5, \[campaigns\.9\] max_per_store_per_day: "
    ):
        load_policy(path)


def unreadable(directory: Path, kind: str) -> Path:
    if kind == "missing":
        return directory / "missing.toml"
    if kind == "directory":
        return directory
    path = directory / "latin1.toml"
    path.write_bytes(b"# caf\xe9\n[default]\naccept = true\n")
    return path


@pytest.mark.parametrize("kind", ["missing", "directory", "not-utf8"])
def test_an_unreadable_file_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    """A file that cannot be read as UTF-8 text stops the start with its path named."""
    path = unreadable(tmp_path, kind)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: cannot read the offline policy (")


# -- the loaded policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        pytest.param("", False, id="empty"),
        pytest.param("[default]\naccept = true\n", True, id="default-accepts"),
        pytest.param("[campaigns.5]\naccept = true\n", True, id="one-campaign-accepts"),
        pytest.param(
            "[default]\ngift_cards = true\n\n[campaigns.5]\npoints = true\n", False, id="none-accept"
        ),
        pytest.param("[default]\naccept = true\n\n[campaigns.5]\naccept = false\n", True, id="default-still"),
        pytest.param("[default]\naccept = false\n\n[campaigns.5]\naccept = false\n", False, id="all-refuse"),
    ],
)
def test_enabled_when_any_rule_accepts(text: str, enabled: bool) -> None:
    """The policy is on when the default or any campaign accepts offline."""
    assert parse_policy(text, NAME).enabled is enabled


@pytest.mark.parametrize(
    ("campaign_id", "expected"),
    [
        pytest.param(1201, CampaignRule(True, 2000, max_per_store_per_hour=10), id="named"),
        pytest.param(77, CampaignRule(max_per_store_per_hour=10), id="not-named"),
        pytest.param(None, CampaignRule(max_per_store_per_hour=10), id="no-campaign"),
    ],
)  # fmt: skip
def test_rule_for_is_the_campaigns_rule_else_the_default(
    campaign_id: int | None, expected: CampaignRule
) -> None:
    """A named campaign gets its table; any other campaign, or none, the default."""
    assert parse_policy(PRELUDE, NAME).rule_for(campaign_id) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[default]\naccept = true\n\n[campaigns]\n5 = { accept = 1 }\n", id="inline-table"),
        pytest.param("[default]\naccept = true\n\n[campaigns]\n5.accept = 1\n", id="dotted-key"),
    ],
)
def test_a_table_without_its_own_header_never_names_another_tables_line(text: str) -> None:
    """An inline or dotted campaign table has no line to find: the field is named, no wrong line is."""
    message = refusal(text)
    assert message.startswith(f"{NAME}, [campaigns.5] accept: ")
    assert "line 2" not in message
