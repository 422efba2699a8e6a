"""varbench: the bias, variance and cost of Monte Carlo gradient estimators, measured with statistical tests.

Example:
  >>> import varbench
  >>> res = varbench.measure("gaussian:cost=square,k=0", "score_function",
  ...                        params={"mean": 1.0, "log_scale": 0.0}, num_samples=10**6, seed=0)
  >>> res.variance["mean"]   # per-coordinate variance of a single estimate (exactly 30 here)  # doctest: +SKIP
"""

__version__ = "0.1.0"

from varbench.errors import NonFiniteEstimateError, NotApplicableError, VarbenchError
from varbench.harness import auto_chunk_size, measure
from varbench.result import RESULT_FIELDS, Result

__all__ = [
    "NonFiniteEstimateError", "NotApplicableError", "RESULT_FIELDS", "Result", "VarbenchError", "__version__",
    "auto_chunk_size", "measure",
]
