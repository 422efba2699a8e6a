"""Errors that varbench reports to people as one line, without a traceback."""


class VarbenchError(ValueError):
    """Bad input or an impossible request; the message names the valid choices."""


class NotApplicableError(VarbenchError):
    """An estimator (or method) does not apply to a problem."""


class QuadratureNotConvergedError(NotApplicableError):
    """Exact mode's two quadrature resolutions disagree at one point: a failure of that measurement (a suite lists
    it as failed, not as not applicable), though callers that catch :class:`NotApplicableError` still see it."""


class NonFiniteEstimateError(VarbenchError):
    """An estimator produced NaN or inf."""


class OutOfMemoryError(VarbenchError):
    """A chunk of estimates (or an exact-mode grid) does not fit in the device's memory; the message says what to
    lower."""


class EstimatorContractError(VarbenchError):
    """An estimator (typically a plugin's) breaks the estimator contract: its estimate is not a real gradient shaped
    like the params, its ``evaluations_per_estimate`` is not a positive int, or its code raises while traced. A fault
    of the estimator's code, not of the input: the CLI exits with status 1, a suite records a failed cell that a
    resume measures again (once the code is fixed)."""


class EstimatorRaisedError(EstimatorContractError):
    """An estimator's own code raised an exception that is not a :class:`VarbenchError` (a ``ValueError``,
    ``TypeError``, ``ZeroDivisionError``, ...) while it was traced; the message names the exception's type."""
