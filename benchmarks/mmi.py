"""MMI selection: the naive formula against taskspace.mmi, and taskspace.mmi at scale against a Cholesky.

    .venv/bin/python benchmarks/mmi.py            # prints a markdown table

Rows:
- naive vs fast at m = 100 and 200 (same k, same kappa, same run): ratio of wall times, same picks.
- fast alone at m = 1,000, 5,000, 10,000 with k = 100, next to one Cholesky factorisation (LAPACK dpotrf)
  of the same kappa in the same run: the floor for an exact method.
"""

import argparse
import time

import numpy as np
from _machine import describe
from scipy.linalg import lapack

from taskspace.mmi import GaussianZoo


def synthetic_kappa(m: int, seed: int = 0, rank: int = 400) -> np.ndarray:
    """A well-conditioned alignment-like matrix: shared low-rank structure plus member-specific parts."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, rank)) * rng.uniform(0.5, 1.5, size=(m, 1)) + rng.standard_normal(rank)
    kappa = x @ x.T / rank + 0.2 * np.eye(m)
    scale = np.sqrt(np.diag(kappa))
    return kappa / np.outer(scale, scale)


def naive_greedy(kappa, k):
    """The paper's formula, literally (as in tests/test_mmi.py): O(m^3) solves per candidate and pick."""
    m = len(kappa)
    picked = []

    def conditional_variance(y, given):
        if not given:
            return kappa[y, y]
        s = kappa[np.ix_([y], given)]
        return kappa[y, y] - (s @ np.linalg.solve(kappa[np.ix_(given, given)], s.T))[0, 0]

    for _ in range(k):
        candidates = [y for y in range(m) if y not in picked]
        ratios = [
            conditional_variance(y, picked) / conditional_variance(y, [z for z in candidates if z != y])
            for y in candidates
        ]
        picked.append(candidates[int(np.argmax(ratios))])
    return picked


def timed(function, *args, repeats: int = 1):
    """Best wall time of ``repeats`` calls, and the last value."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        value = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, value


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--naive-k", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 5000, 10000])
    parser.add_argument("-k", type=int, default=100)
    args = parser.parse_args()
    print(f"machine: {describe()}\n")
    GaussianZoo(synthetic_kappa(50)).greedy(5)  # warm-up: BLAS threads and first-call costs
    print("| m | k | naive (s) | taskspace.mmi (s) | speed-up | same picks |")
    print("|---|---|---|---|---|---|")
    for m in (100, 200):
        kappa = synthetic_kappa(m)
        naive_time, naive_order = timed(naive_greedy, kappa, args.naive_k)
        fast_time, fast = timed(lambda kappa=kappa: GaussianZoo(kappa).greedy(args.naive_k), repeats=5)
        print(
            f"| {m} | {args.naive_k} | {naive_time:.2f} | {fast_time:.4f} | {naive_time / fast_time:.0f}x "
            f"| {list(fast.order) == naive_order} |"
        )
    print("\n| m | k | Cholesky (s) | taskspace.mmi (s) | ratio to Cholesky |")
    print("|---|---|---|---|---|")
    for m in args.sizes:
        kappa = synthetic_kappa(m)
        repeats = 3 if m <= 5000 else 1
        cholesky_time, _ = timed(lambda kappa=kappa: lapack.dpotrf(kappa, lower=1, clean=0), repeats=repeats)
        fast_time, _ = timed(lambda kappa=kappa: GaussianZoo(kappa).greedy(args.k), repeats=repeats)
        print(f"| {m} | {args.k} | {cholesky_time:.2f} | {fast_time:.2f} | {fast_time / cholesky_time:.2f} |")


if __name__ == "__main__":
    main()
