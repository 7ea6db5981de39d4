"""BG/NBD and Gamma-Gamma: the closed forms against direct integration, and the fit
recovering the parameters of data drawn from the model."""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, stats

from segflow.models.btyd import BgNbd, GammaGamma

PAPER = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)


def by_integration(model: BgNbd, t: float, x: int, t_x: float, T: float) -> float:
    """E[Y(t) | x, t_x, T] derived by hand: over the posterior of the purchase rate lam
    and the dropout probability p, the chance of being alive at T times the purchases of
    a live customer in the next t, (1 - exp(-lam p t)) / p. The gamma integral over lam
    is closed (G below); the one over p is numeric (the closed form needs 2F1 there)."""
    r, alpha = model.r, model.alpha
    drop = stats.beta(model.a, model.b)

    def G(c: float) -> float:  # noqa: N802: E[lam^x exp(-lam c)] under gamma(r, alpha)
        return math.exp(
            r * math.log(alpha)
            + math.lgamma(r + x)
            - math.lgamma(r)
            - (r + x) * math.log(alpha + c)
        )

    def future(p: float) -> float:
        return (1 - p) ** x / p * (G(T) - G(T + p * t)) * drop.pdf(p)

    def evidence(p: float) -> float:
        dead = p * (1 - p) ** (x - 1) * G(t_x) if x > 0 else 0.0
        return ((1 - p) ** x * G(T) + dead) * drop.pdf(p)

    top = integrate.quad(future, 0.0, 1.0, limit=200, epsabs=1e-13)[0]
    bottom = integrate.quad(evidence, 0.0, 1.0, limit=200, epsabs=1e-13)[0]
    return top / bottom


def test_the_conditional_expectation_is_the_hand_derived_one() -> None:
    for x, t_x, T in ((2, 30.43, 38.86), (5, 20.0, 35.0)):
        closed = PAPER.expected_purchases(39.0, x=x, t_x=t_x, T=T)
        assert math.isclose(closed, by_integration(PAPER, 39.0, x, t_x, T), rel_tol=2e-3)


def draw(model: BgNbd, customers: int, T: float, seed: int) -> tuple[np.ndarray, ...]:
    """Customers' (x, t_x, T) drawn from the model over ages uniform in (T/2, T)."""
    rng = np.random.default_rng(seed)
    xs, txs, ages = [], [], []
    for _ in range(customers):
        lam, p = rng.gamma(model.r, 1 / model.alpha), rng.beta(model.a, model.b)
        age, t, x, last = rng.uniform(T / 2, T), 0.0, 0, 0.0
        while True:
            t += rng.exponential(1 / lam)
            if t > age:
                break
            x, last = x + 1, t
            if rng.random() < p:
                break
        xs.append(x), txs.append(last), ages.append(age)
    return np.array(xs), np.array(txs), np.array(ages)


def test_the_fit_recovers_the_parameters_it_was_drawn_with() -> None:
    x, t_x, T = draw(PAPER, 4000, 39.0, seed=1)
    fitted = BgNbd.fit(x, t_x, T)
    assert math.isclose(fitted.r, PAPER.r, rel_tol=0.15)
    assert math.isclose(fitted.alpha, PAPER.alpha, rel_tol=0.25)
    # The fit's likelihood beats the truth's on the same data (it is a maximum).
    assert fitted.log_likelihood(x, t_x, T).sum() >= PAPER.log_likelihood(x, t_x, T).sum()


def test_gamma_gamma_shrinks_a_mean_toward_the_population() -> None:
    rng = np.random.default_rng(2)
    truth = GammaGamma(p=6.0, q=4.0, v=15.0)
    nus = rng.gamma(truth.q, 1 / truth.v, size=3000)
    x = rng.integers(1, 8, size=3000)
    means = np.array(
        [rng.gamma(truth.p, 1 / nu, size=n).mean() for nu, n in zip(nus, x, strict=True)]
    )
    fitted = GammaGamma.fit(x, means)
    population = truth.p * truth.v / (truth.q - 1)
    assert math.isclose(fitted.expected_spend(0, 0.0), population, rel_tol=0.1)
    one = fitted.expected_spend(1, 100.0)
    assert population < one < 100.0  # between the population mean and the own one
