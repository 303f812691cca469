"""The experiments run on the harness: scenarios, the gateway and sandbox stacks, the suite plan and
its report, the soak, the store and HTTP-hop benches."""
