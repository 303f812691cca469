"""The experiments run on the harness: scenarios, the gateway and sandbox stacks, the suite plan and
its report, the soak, the store and HTTP-hop benches, the offline-acceptance stage."""

# The modules that register this project's scenarios on import, for ``harness.scenarios.load``: the
# harness names none of them (loadtest/README.md). A module whose imports fail is skipped and the
# reason shown by ``python -m loadtest list``.
SCENARIO_MODULES = (
    "loadtest.experiments.baseline_scenarios",
    "loadtest.experiments.gateway_scenarios",
    "loadtest.experiments.till_scenarios",
    "loadtest.experiments.basket_scenarios",
    "loadtest.experiments.offline_scenarios",
    "loadtest.experiments.flood_scenarios",
    "loadtest.experiments.upstream_client_bench",
)
