"""Infinite-width and empirical NTK: mathdl against neural-tangents, same inputs, one run.

1. Analytic NNGP + NTK of a depth-3 ReLU network (NTK parameterisation, sigma_w^2 = 2,
   sigma_b^2 = 0.1) on n = 1024 and n = 4096 inputs of dimension 100, float32, CPU: cold (first
   call, including JAX's compilation) and warm (median of repeats) times, the ratio, and the
   maximum relative difference of the kernels.
2. Empirical NTK of a two-hidden-layer ReLU MLP of width 1024 on 256 inputs (same weights copied
   into both libraries), float32.

neural-tangents 0.6.5 only imports with the JAX it was released against. Install it beside
mathdl in a separate environment (``make bench-peers`` does exactly this)::

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install torch==2.13.0 -e . \
        jax==0.4.30 jaxlib==0.4.30 tf2jax==0.3.6 neural-tangents==0.6.5
    .venv-peers/bin/python benchmarks/kernels_vs_neural_tangents.py

Without neural-tangents the script prints mathdl's figures only. mathdl never depends on JAX.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch

from mathdl.kernels import FullyConnectedNetwork, empirical_ntk, fully_connected, kernel_fn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
try:  # the peer, optional
    import jax
    import neural_tangents as nt
    from neural_tangents import stax

    jax.config.update("jax_platform_name", "cpu")
except ImportError:  # pragma: no cover - depends on the environment
    nt = None

W_VAR, B_VAR = 2.0, 0.1


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """(cold seconds, warm median seconds, last result)."""
    t0 = time.perf_counter()
    out = fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        warm.append(time.perf_counter() - t0)
    return cold, statistics.median(warm), out


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def line(name: str, ours: tuple[float, float], theirs: tuple[float, float] | None,
         diff: str) -> None:
    text = f"{name:<38} mathdl cold {ours[0]:7.3f} s warm {ours[1]:7.3f} s"
    if theirs is not None:
        text += (f" | neural-tangents cold {theirs[0]:7.3f} s warm {theirs[1]:7.3f} s"
                 f" | nt/mathdl warm {theirs[1] / ours[1]:5.2f}x cold {theirs[0] / ours[0]:5.2f}x")
    print(f"{text} | {diff}", flush=True)


def bench_analytic(n: int, d: int = 100, depth: int = 3, repeats: int = 9) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    layers = fully_connected(depth, weight_var=W_VAR, bias_var=B_VAR)
    xt = torch.from_numpy(x)

    def ours():
        k = kernel_fn(layers, xt)
        return k.nngp, k.ntk

    cold, warm, (nngp, ntk) = timed(ours, repeats)
    # Reference: the same kernels in float64. The ReLU recursion's arccos is ill-conditioned at
    # correlation 1, so float32 errors concentrate on the diagonal; report it separately.
    ref = kernel_fn(layers, xt.double())
    off = ~np.eye(n, dtype=bool)

    def errors(a, r) -> str:
        a, r = np.asarray(a, dtype=np.float64), np.asarray(r, dtype=np.float64)
        scale = np.max(np.abs(r))
        return (f"vs float64: max rel err {np.max(np.abs(a - r)) / scale:.1e}"
                f" (off-diagonal {np.max(np.abs((a - r)[off])) / scale:.1e})")

    diff = ("mathdl NTK " + errors(ntk, ref.ntk) + "; NNGP "
            + errors(nngp, ref.nngp))
    theirs = None
    if nt is not None:
        stack = []
        for _ in range(depth):
            stack += [stax.Dense(512, W_std=math.sqrt(W_VAR), b_std=math.sqrt(B_VAR)),
                      stax.Relu()]
        stack.append(stax.Dense(1, W_std=math.sqrt(W_VAR), b_std=math.sqrt(B_VAR)))
        _, _, nt_kernel = stax.serial(*stack)
        fn = jax.jit(nt_kernel, static_argnames="get")
        xj = jax.numpy.asarray(x)

        def peer():
            k = fn(xj, None, ("nngp", "ntk"))
            return jax.block_until_ready(k.nngp), jax.block_until_ready(k.ntk)

        c2, w2, (p_nngp, p_ntk) = timed(peer, repeats)
        theirs = (c2, w2)
        diff += (" | neural-tangents NTK " + errors(p_ntk, ref.ntk) + "; NNGP "
                 + errors(p_nngp, ref.nngp))
    line(f"analytic NNGP+NTK depth {depth}, n={n}", (cold, warm), theirs, diff)


def bench_empirical(width: int = 1024, n: int = 256, d: int = 100, repeats: int = 3) -> None:
    gen = torch.Generator().manual_seed(0)
    net = FullyConnectedNetwork(d, width, 2, weight_var=W_VAR, bias_var=B_VAR, generator=gen)
    x = torch.randn(n, d, generator=gen)
    cold, warm, ntk = timed(lambda: empirical_ntk(net, x), repeats)
    theirs, diff = None, ""
    if nt is not None:
        stack = [stax.Dense(width, W_std=math.sqrt(W_VAR), b_std=math.sqrt(B_VAR)), stax.Relu(),
                 stax.Dense(width, W_std=math.sqrt(W_VAR), b_std=math.sqrt(B_VAR)), stax.Relu(),
                 stax.Dense(1, W_std=math.sqrt(W_VAR), b_std=math.sqrt(B_VAR))]
        _, apply_fn, _ = stax.serial(*stack)
        params = []
        for w, b in zip(net.weights, net.biases, strict=True):
            params += [(jax.numpy.asarray(w.detach().numpy().T),
                        jax.numpy.asarray(b.detach().numpy())), ()]
        params = params[:-1]
        fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0))
        xj = jax.numpy.asarray(x.numpy())
        c2, w2, p_ntk = timed(lambda: jax.block_until_ready(fn(xj, None, params)), repeats)
        theirs = (c2, w2)
        diff = f"max rel diff {rel_diff(ntk, np.asarray(p_ntk).reshape(n, n)):.1e}"
    line(f"empirical NTK width {width}, n={n}", (cold, warm), theirs, diff)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,4096", help="n for the analytic kernels")
    args = parser.parse_args()
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads); neural-tangents "
          f"{nt.__version__ + ' / jax ' + jax.__version__ if nt is not None else 'not installed'}")
    for size in (int(s) for s in args.sizes.split(",")):
        bench_analytic(size)
    bench_empirical()
