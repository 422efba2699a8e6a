"""Tidy results, the result store, figures and report pages. Never imports JAX.

``varbench.reports.load(DIR)`` returns a suite's results as one tidy pandas DataFrame.
"""

from varbench.reports.groups import group_table, group_variance
from varbench.reports.schema import records, summary, to_frame
from varbench.reports.store import load
from varbench.reports.verdict import verdicts

__all__ = ["group_table", "group_variance", "load", "records", "summary", "to_frame", "verdicts"]
