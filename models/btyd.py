"""Buy-till-you-die models: who is still a customer and how much they will buy.

:class:`BgNbd` is the beta-geometric/NBD model of Fader, Hardie & Lee (2005, "Counting
your customers the easy way"): while alive a customer buys at a Poisson rate (gamma
distributed over customers: ``r``, ``alpha``), and after each purchase drops out with a
probability (beta distributed: ``a``, ``b``). A customer's score needs only its
sufficient statistics: ``x`` repeat purchases, the time ``t_x`` of the last one and the
age ``T``, both counted from the first purchase (in any time unit; the parameters are
in the same one). :class:`GammaGamma` (Fader, Hardie & Lee 2005, "RFM and CLV") is the
spend per purchase, for the expected value of the coming purchases.

Parameters are fitted by maximum likelihood (:meth:`BgNbd.fit`, :meth:`GammaGamma.fit`).

>>> model = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)   # CDNOW, weeks (the paper)
>>> round(model.expected_purchases(39.0, x=2, t_x=30.43, T=38.86), 3)
1.226
>>> round(model.p_alive(x=2, t_x=30.43, T=38.86), 3), model.p_alive(x=0, t_x=0.0, T=31.0)
(0.727, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

#: Log parameters are searched within these bounds (e^-12 .. e^12), by L-BFGS-B: a
#: handful of parameters and a smooth likelihood. (Nelder-Mead from the same start
#: stalled on a ridge of the Gamma-Gamma likelihood: p 7e10, v 9e-10.)
_LOG_BOUNDS = (-12.0, 12.0)


def _minimize(loss: Callable[[NDArray[np.float64]], float], n: int) -> NDArray[np.float64]:
    result = optimize.minimize(loss, np.zeros(n), method="L-BFGS-B", bounds=[_LOG_BOUNDS] * n)
    if not np.all(np.isfinite(result.x)) or not math.isfinite(float(result.fun)):
        raise ValueError(f"fit failed: {result.message}")
    return np.asarray(result.x, dtype=float)


def _positive(values: NDArray[np.float64]) -> bool:
    return bool(np.all(np.isfinite(values)) and np.all(values > 0))


@dataclass(frozen=True, slots=True)
class BgNbd:
    """BG/NBD population parameters (``alpha`` in the time unit of the statistics)."""

    r: float
    alpha: float
    a: float
    b: float

    def log_likelihood(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> NDArray[np.float64]:
        """Each customer's log-likelihood of its statistics."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        a1 = special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha)
        a2 = (
            special.gammaln(a + b) + special.gammaln(b + x)
            - special.gammaln(b) - special.gammaln(a + b + x)
        )  # fmt: skip
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(
                x > 0,
                math.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                -np.inf,
            )
        return np.asarray(a1 + a2 + np.logaddexp(a3, a4), dtype=float)

    @classmethod
    def fit(cls, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BgNbd:
        """Maximum-likelihood parameters for customers' statistics (``ValueError`` if
        the optimizer fails)."""

        def loss(log_params: NDArray[np.float64]) -> float:
            params = np.exp(log_params)
            if not _positive(params):
                return math.inf
            value = -float(np.sum(cls(*params).log_likelihood(x, t_x, T)))
            return value if math.isfinite(value) else 1e300

        return cls(*(float(v) for v in np.exp(_minimize(loss, 4))))

    def _dead_odds(self, x: float, t_x: float, T: float) -> float:
        """a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x): odds of having dropped out (x > 0)."""
        if x <= 0:
            return 0.0
        log_odds = (
            math.log(self.a) - math.log(self.b + x - 1)
            + (self.r + x) * (math.log(self.alpha + T) - math.log(self.alpha + t_x))
        )  # fmt: skip
        return math.exp(min(log_odds, 700.0))

    def p_alive(self, x: float, t_x: float, T: float) -> float:
        """The probability the customer is still alive at age ``T``."""
        return 1.0 / (1.0 + self._dead_odds(x, t_x, T))

    def expected_purchases(self, t: float, x: float, t_x: float, T: float) -> float:
        """Expected purchases in the next ``t`` (conditional on the statistics)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        ratio = (alpha + T) / (alpha + T + t)
        hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        head = (a + b + x - 1) / (a - 1)
        value = head * (1.0 - ratio ** (r + x) * hyper) / (1.0 + self._dead_odds(x, t_x, T))
        return float(value)


@dataclass(frozen=True, slots=True)
class GammaGamma:
    """Gamma-Gamma spend model: the mean spend per purchase, shrunk to the population's.

    >>> round(GammaGamma(p=6.25, q=3.74, v=15.44).expected_spend(x=2, mean_spend=35.0), 2)
    35.04
    """

    p: float
    q: float
    v: float

    def expected_spend(self, x: float, mean_spend: float) -> float:
        """Expected spend per purchase of a customer with ``x`` purchases of mean
        ``mean_spend`` (the population mean when ``x`` is 0)."""
        p, q, v = self.p, self.q, self.v
        if x <= 0:
            return p * v / (q - 1) if q > 1 else math.nan
        return p * (v + x * mean_spend) / (p * x + q - 1)

    @classmethod
    def fit(cls, x: ArrayLike, mean_spend: ArrayLike) -> GammaGamma:
        """Maximum-likelihood parameters from customers with ``x`` > 0 repeat purchases
        and their mean spend per purchase."""
        xs, ms = np.asarray(x, dtype=float), np.asarray(mean_spend, dtype=float)
        keep = (xs > 0) & (ms > 0)
        xs, ms = xs[keep], ms[keep]

        def loss(log_params: NDArray[np.float64]) -> float:
            p, q, v = np.exp(log_params)
            ll = (
                special.gammaln(p * xs + q) - special.gammaln(p * xs) - special.gammaln(q)
                + q * math.log(v) + (p * xs - 1) * np.log(ms) + p * xs * np.log(xs)
                - (p * xs + q) * np.log(xs * ms + v)
            )  # fmt: skip
            value = -float(np.sum(ll))
            return value if math.isfinite(value) else 1e300

        if not len(xs):
            raise ValueError("fit failed: no customer with a repeat purchase")
        return cls(*(float(v) for v in np.exp(_minimize(loss, 3))))
