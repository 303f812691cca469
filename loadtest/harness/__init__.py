"""The load-test harness: load generation (Python and h2load drivers, open and closed loops),
measurement (histograms, CPU per call, repeats and medians), process and CPU-share control, and
the scenario interface. It never imports the experiments (loadtest/README.md)."""
