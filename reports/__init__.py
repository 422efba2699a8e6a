"""Tidy records of measurements for pandas; never imports JAX (figures and pages arrive with the suite)."""

from reports.records import records, to_frame

__all__ = ["records", "to_frame"]
