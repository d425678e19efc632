#!/usr/bin/env python3
"""Checks `pbrepo beamform` against an independent reference on random small instances.

Not part of CI (needs cvxpy). One command:

    python3 -m venv /tmp/c && /tmp/c/bin/pip install numpy scipy cvxpy clarabel
    swift build -c release --product pbrepo
    /tmp/c/bin/python scripts/check_beamforming.py --pbrepo .build/release/pbrepo --instances 60

For each instance (2–4 users, 1–3 nodes, 2–4 antennas, channels ~1e-5, error radii up to 40 % of a channel norm):

- upper bound: the SDP relaxation (W ⪰ 0 instead of w wᴴ, per-node trace ≤ P) of the max-min problem over a finite
  set of channel errors, grown by cutting planes (the worst errors of each round's principal eigenvector). Any
  finite subset of the error balls and any relaxation of rank can only raise the optimum, so this bounds the true
  robust max-min from above at every round;
- reference: that SDP's principal eigenvector (and four random starts), refined to a stationary point of the robust
  max-min by SLSQP — a stand-in for the paper's DC rank-one iteration; the best of these points;
- Monte Carlo: 200 random errors per instance in the balls never give a rate below pbrepo's reported worst case.

Passes when, on every instance, pbrepo's worst-case minimum rate is ≥ the reference's − 1 % and ≤ the bound.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import cvxpy as cp
import numpy as np
from scipy.optimize import minimize

B, NOISE, P = 4e8, 1e-11, 19.95


def worst_margins(h, eps, w):
    """h: [U][N][M] complex, eps: [U][N], w: [N][M] — |Σ h̃ᴴw| − Σ ε‖w‖ per user (negative: nothing guaranteed)."""
    out = []
    for u in range(len(h)):
        s = sum(np.vdot(h[u][n], w[n]) for n in range(len(w)))
        out.append(abs(s) - sum(eps[u][n] * np.linalg.norm(w[n]) for n in range(len(w))))
    return np.array(out)


def worst_amplitudes(h, eps, w):
    """The closed-form worst-case received amplitude per user."""
    return np.maximum(worst_margins(h, eps, w), 0.0)


def rate(amplitude):
    return B * math.log2(1 + amplitude ** 2 / NOISE)


def sdp_bound(h, eps, rounds=6):
    """Returns (upper bound on the max-min squared amplitude in scaled units, principal-eigenvector beamformer)."""
    U, N, M = len(h), len(h[0]), len(h[0][0])
    stacked = [np.concatenate(h[u]) for u in range(U)]
    samples = [[np.zeros(N * M, complex)] for _ in range(U)]
    bound, w = None, None
    for _ in range(rounds):
        W = cp.Variable((N * M, N * M), hermitian=True)
        t = cp.Variable()
        constraints = [W >> 0] + [cp.real(cp.trace(W[n * M:(n + 1) * M, n * M:(n + 1) * M])) <= 1 for n in range(N)]
        for u in range(U):
            for e in samples[u]:
                g = stacked[u] + e
                constraints.append(cp.real(g.conj() @ W @ g) >= t)
        problem = cp.Problem(cp.Maximize(t), constraints)
        problem.solve(solver=cp.CLARABEL)
        bound = t.value if bound is None else min(bound, t.value)
        values, vectors = np.linalg.eigh(W.value)
        v = vectors[:, -1] * math.sqrt(max(values[-1], 0))
        w = [v[n * M:(n + 1) * M] for n in range(N)]
        w = [x / np.linalg.norm(x) if np.linalg.norm(x) > 0 else x for x in w]
        # Cutting planes: each user's worst error for this w (aligned against the received sum).
        for u in range(U):
            s = sum(np.vdot(h[u][n], w[n]) for n in range(N))
            phase = s / abs(s) if abs(s) > 0 else 1
            e = np.concatenate([-eps[u][n] * w[n] * np.conj(phase) for n in range(N)])
            samples[u].append(e)
    return bound, w


def refine(h, eps, w0, rng, restarts=4):
    """SLSQP on the epigraph max t s.t. |Σ h̃ᴴw| − Σ ε‖w‖ >= t, ||w_n|| <= 1, from the SDP's principal eigenvector
    and from a few random starts; returns the best point found."""
    N, M = len(w0), len(w0[0])

    def unpack(x):
        z = x[:-1].reshape(2, N, M)
        return list(z[0] + 1j * z[1])

    starts = [w0] + [[v / np.linalg.norm(v) for v in (rng.normal(size=(N, M)) + 1j * rng.normal(size=(N, M)))]
                     for _ in range(restarts)]
    candidates = list(starts)
    for start in starts:
        x0 = np.concatenate([np.real(np.array(start)).ravel(), np.imag(np.array(start)).ravel(),
                             [worst_margins(h, eps, start).min()]])
        constraints = [{"type": "ineq", "fun": (lambda x, u=u: worst_margins(h, eps, unpack(x))[u] - x[-1])} for u in range(len(h))]
        constraints += [{"type": "ineq", "fun": (lambda x, n=n: 1 - np.linalg.norm(unpack(x)[n]) ** 2)} for n in range(N)]
        result = minimize(lambda x: -x[-1], x0, constraints=constraints, method="SLSQP",
                          options={"maxiter": 400, "ftol": 1e-12})
        candidates.append([x / max(1.0, np.linalg.norm(x)) for x in unpack(result.x)])
    return max(candidates, key=lambda c: worst_amplitudes(h, eps, c).min())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pbrepo", default=".build/release/pbrepo")
    parser.add_argument("--instances", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    failures, rows = 0, []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.instances):
            U, N, M = int(rng.integers(2, 5)), int(rng.integers(1, 4)), int(rng.integers(2, 5))
            h = [[(rng.normal(size=M) + 1j * rng.normal(size=M)) * 1e-5 * rng.uniform(0.3, 1.3) / math.sqrt(2)
                  for _ in range(N)] for _ in range(U)]
            eps = [[float(rng.uniform(0, 0.4)) * float(np.linalg.norm(h[u][n])) for n in range(N)] for u in range(U)]
            path = os.path.join(scratch, f"i{index}.json")
            with open(path, "w") as f:
                json.dump({"bandwidth_hz": B, "noise_w": NOISE, "p_max_w": P, "block_bits": 8e8, "qos_bps": [1e9] * U,
                           "error_eps": eps, "channels": [[[[z.real, z.imag] for z in h[u][n]] for n in range(N)] for u in range(U)]}, f)
            out = json.loads(subprocess.run([args.pbrepo, "beamform", "--instance", path, "--json"], check=True,
                                            capture_output=True, text=True).stdout)
            ours = out["min_worst_case_rate_bps"]
            scale = max(np.linalg.norm(h[u][n]) for u in range(U) for n in range(N))
            hs = [[x / scale for x in row] for row in h]
            es = [[x / scale for x in row] for row in eps]
            bound_sq, w0 = sdp_bound(hs, es)
            upper = rate(math.sqrt(max(bound_sq, 0)) * scale * math.sqrt(P))
            reference = rate(worst_amplitudes(hs, es, refine(hs, es, w0, rng)).min() * scale * math.sqrt(P))
            # Monte Carlo on pbrepo's beamformers.
            w = [np.array([complex(a, b) for a, b in node]) for node in out["w"]]
            mc_ok = True
            for _ in range(200):
                for u in range(U):
                    actual = []
                    for n in range(N):
                        e = rng.normal(size=M) + 1j * rng.normal(size=M)
                        actual.append(h[u][n] + e * eps[u][n] * rng.uniform() / np.linalg.norm(e))
                    achieved = rate(abs(sum(np.vdot(actual[n], w[n]) for n in range(N))))
                    mc_ok &= achieved >= out["worst_case_rate_bps"][u] * (1 - 1e-9)
            ok = ours >= 0.99 * reference and ours <= upper * (1 + 1e-6) and mc_ok
            failures += not ok
            rows.append((index, U, N, M, ours / 1e9, reference / 1e9, upper / 1e9, mc_ok, ok))
            print(f"{index:3d} U={U} N={N} M={M}  pbrepo {ours/1e9:7.4f}  reference {reference/1e9:7.4f}  "
                  f"bound {upper/1e9:7.4f} Gbit/s  monte-carlo {'ok' if mc_ok else 'VIOLATED'}  {'ok' if ok else 'FAIL'}")
    ratio = [r[4] / r[5] for r in rows if r[5] > 0]
    gap = [r[4] / r[6] for r in rows if r[6] > 0]
    print(f"\n{len(rows) - failures} passed, {failures} failed")
    print(f"pbrepo / reference: min {min(ratio):.4f}, mean {sum(ratio)/len(ratio):.4f}; pbrepo / bound: min {min(gap):.4f}, mean {sum(gap)/len(gap):.4f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
