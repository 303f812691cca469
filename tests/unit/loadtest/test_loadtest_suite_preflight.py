"""`python -m loadtest suite` checks its tools before it starts and keeps other experiments' sections."""

from __future__ import annotations

from loadtest.experiments import report, suite_plan

RENDERED = "# Benchmarks\n\n## Machine\n\nnew machine\n\n## Targets\n\nnew targets\n\n## Results\n\nnew\n"
PREVIOUS = (
    "# Benchmarks\n\n## Machine\n\nold machine\n\n## Results\n\nold\n\n### a stage\n\nold rows\n\n"
    "## Offline acceptance\n\noffline rows\n\n### detail\n\nmore\n\n## Stores\n\nstore rows\n"
)


def test_a_suite_run_keeps_the_sections_it_does_not_write() -> None:
    """Its own sections are replaced (no old rows survive); every other section follows, whole, in order."""
    merged = report.keep_other_sections(RENDERED, PREVIOUS)
    assert merged.startswith(RENDERED.rstrip("\n"))
    assert "old machine" not in merged
    assert "old rows" not in merged
    assert merged.index("## Offline acceptance") < merged.index("### detail") < merged.index("## Stores")
    assert merged.endswith("## Stores\n\nstore rows\n")
    assert report.keep_other_sections(RENDERED, RENDERED) == RENDERED


def test_a_missing_h2load_is_named_with_the_package_before_anything_runs() -> None:
    stages = suite_plan.default_stages(2, 0.5)
    assert suite_plan.missing_tools(stages, which=lambda _: None) == [
        "h2load is not installed: apt-get install nghttp2-client (Debian/Ubuntu)"
    ]
    assert suite_plan.missing_tools(stages, which=lambda name: f"/usr/bin/{name}") == []
