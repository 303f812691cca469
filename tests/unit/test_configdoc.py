"""README.md's configuration table is generated from Settings and kept current."""

import pytest

from vouchery_gateway.config import OPTIONS
from vouchery_gateway.tools.configdoc import BEGIN, END, README, render, splice


def test_readme_configuration_table_matches_settings() -> None:
    """Every option, its environment variable and default appear in README as Settings defines them."""
    readme = README.read_text(encoding="utf-8")
    assert splice(readme, render()) == readme, "run ./dev gen to refresh README.md's configuration table"
    for option in OPTIONS:
        assert f"`{option.env}`" in readme


def test_secret_options_show_no_default_and_no_flag() -> None:
    """The upstream API key is documented as env/file only, never with a value or a command-line flag."""
    row = next(line for line in render().splitlines() if line.startswith("| `upstream_api_key` "))
    assert "(env / file only)" in row
    assert "(secret, no default)" in row


def test_splice_refuses_a_readme_without_markers() -> None:
    """A README that lost its markers is an error, not a silently appended table."""
    with pytest.raises(ValueError, match="markers"):
        splice("# title\n", render())
    assert splice(f"a\n{BEGIN}\nold\n{END}\nb", "new") == f"a\n{BEGIN}\nnew\n{END}\nb"
