"""Entry point: the lifecycle demo, replaying production incidents through the real stack.

`run.run_demo` starts a local stack (`local_stack`, `processes`: Prefect server, worker, the
service), plays the `scenario` (simulated days of traffic, late labels, incidents) and reads
back from what the system recorded which incident was caught, when and by what (`outcome`).
"""
