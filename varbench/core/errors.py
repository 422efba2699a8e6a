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
