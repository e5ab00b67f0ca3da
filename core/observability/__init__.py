"""What operators see: structured logs (``logs``), Prometheus metrics (``metrics``) and
OpenTelemetry traces (``tracing``), with the ids of the work at hand (``context``).

The product's code calls one function per step (``metrics.turn_step("decide")``,
``metrics.decision_recorded(event)`` ...); every series is defined in ``metrics``.
"""
