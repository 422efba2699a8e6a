"""Tidy results, the result store, figures and report pages. Never imports JAX.

``reports.load(DIR)`` returns a suite's results as one tidy pandas DataFrame.
"""

from reports.groups import group_table, group_variance
from reports.records import records, to_frame
from reports.store import load

__all__ = ["group_table", "group_variance", "load", "records", "to_frame"]
