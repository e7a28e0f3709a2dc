"""PINN on Burgers' equation: mathdl against DeepXDE (PyTorch backend), same inputs, one run.

Both libraries train the same tanh network (identical initial weights, copied), on the same
N_u initial/boundary observations and N_f collocation points (DeepXDE: ``PointSetBC`` for the
observations and ``anchors`` for the collocation points, so both losses are
mean |u - u_obs|^2 + mean |u_t + u u_x - nu u_xx|^2), with the same optimiser (full-batch Adam,
then optionally L-BFGS with the same history and line search). Every ``--every`` steps the
relative L2 error on the 100 x 256 grid of the paper's data, against the exact Cole-Hopf
solution, is recorded (its cost excluded from the timings). Printed first: the time per Adam
step of each library measured in alternating blocks (``--rounds`` x ``--block`` steps each, so
that a drift of the machine's speed hits both alike; the most reliable ratio). Then, from the two
training runs: seconds per step (median over steps), the error curve, and the time each
library needs to reach the same target error (the larger of the two final errors), with the
ratio. In the L-BFGS stage mathdl counts loss
evaluations and DeepXDE iterations (~1.1 evaluations each), so compare times, not steps.
Asserts nothing timed.

DeepXDE is a peer for the benchmark only, installed beside mathdl in its own environment
(``make bench-peers`` does exactly this)::

    python3 -m venv .venv-deepxde
    .venv-deepxde/bin/pip install torch==2.13.0
    .venv-deepxde/bin/pip install -e . deepxde==1.14.0
    DDE_BACKEND=pytorch .venv-deepxde/bin/python benchmarks/pde_pinn_vs_deepxde.py

Without DeepXDE the script prints mathdl's figures only.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch

from mathdl.pde import (
    BURGERS_VISCOSITY,
    PINN,
    MultilayerPerceptron,
    burgers_reference_grid,
    burgers_residual,
    burgers_training_data,
)

os.environ.setdefault("DDE_BACKEND", "pytorch")
try:  # the peer, optional
    import deepxde as dde
except ImportError:  # pragma: no cover - depends on the environment
    dde = None


class Recorder:
    """Wall time of training only (the error evaluations are subtracted) and the error curve."""

    def __init__(self, predict, z_ref: torch.Tensor, u_ref: torch.Tensor, every: int) -> None:
        self.predict, self.z_ref, self.u_ref, self.every = predict, z_ref, u_ref, every
        self.start = time.perf_counter()
        self.excluded = 0.0
        self.last = self.start
        self.last_step = 0
        self.steps: list[int] = []
        self.times: list[float] = []
        self.errors: list[float] = []
        self.step_times: list[float] = []   # seconds per step, between two calls

    def __call__(self, step: int) -> None:
        now = time.perf_counter()
        if step <= self.last_step:     # a repeated final call
            return
        self.step_times.append((now - self.last) / (step - self.last_step))
        self.last_step = step
        if step % self.every == 0:
            u = self.predict(self.z_ref)
            err = float(np.linalg.norm(u - self.u_ref) / np.linalg.norm(self.u_ref))
            self.steps.append(step)
            self.times.append(now - self.start - self.excluded)
            self.errors.append(err)
            self.excluded += time.perf_counter() - now
        self.last = time.perf_counter()

    def time_to(self, target: float) -> float:
        for t, e in zip(self.times, self.errors, strict=True):
            if e <= target:
                return t
        return math.nan


def run_mathdl(net: MultilayerPerceptron, col, oz, ou, z_ref, u_ref, args) -> Recorder:
    rec = Recorder(lambda z: net(torch.as_tensor(z)).detach().numpy(), z_ref, u_ref,
                   args.every)
    pinn = PINN(net, burgers_residual, coefficients={"viscosity": BURGERS_VISCOSITY},
                adam_steps=args.adam, adam_lr=args.lr, lbfgs_steps=args.lbfgs, second=(1,),
                lbfgs_tolerance=0.0)  # as DeepXDE's ftol = gtol = 0 below
    # the progress callback is called every 10 steps: record at multiples of 10 only
    pinn.fit(col, oz, ou, progress=lambda done, total: rec(done))
    return rec


def swap(a):
    """DeepXDE's inputs are (x, t); ours (t, x)."""
    return np.ascontiguousarray(a[:, ::-1])


def deepxde_model(net_ours: MultilayerPerceptron, col, oz, ou, args):
    """DeepXDE's model of the same problem, with ``net_ours``'s weights copied in (the first
    layer's columns swapped)."""
    dtype = {torch.float32: "float32", torch.float64: "float64"}[args.dtype]
    dde.config.set_default_float(dtype)
    geom = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1),
                                      dde.geometry.TimeDomain(0, 1))
    nu = BURGERS_VISCOSITY

    def pde(x, y):
        y_x = dde.grad.jacobian(y, x, i=0, j=0)
        y_t = dde.grad.jacobian(y, x, i=0, j=1)
        y_xx = dde.grad.hessian(y, x, i=0, j=0)
        return y_t + y * y_x - nu * y_xx

    observed = dde.icbc.PointSetBC(swap(oz.numpy()), ou.numpy()[:, None])
    data = dde.data.PDE(geom, pde, [observed], num_domain=0, num_boundary=0,
                        anchors=swap(col.numpy()))
    sizes = [2] + [args.width] * args.layers + [1]
    net = dde.nn.FNN(sizes, "tanh", "Glorot normal")
    with torch.no_grad():
        for ours, theirs in zip(net_ours.layers, net.linears, strict=True):
            w = ours.weight.detach().clone()
            if ours is net_ours.layers[0]:
                w = w[:, [1, 0]]
            theirs.weight.copy_(w)
            theirs.bias.copy_(ours.bias.detach())
    return dde.Model(data, net)


def run_deepxde(net_ours: MultilayerPerceptron, col, oz, ou, z_ref, u_ref, args) -> Recorder:
    model = deepxde_model(net_ours, col, oz, ou, args)

    def predict(z):
        return model.predict(swap(np.asarray(z)))[:, 0]

    rec = Recorder(predict, z_ref, u_ref, args.every)

    class Hook(dde.callbacks.Callback):
        """Adam: called every step. L-BFGS: DeepXDE calls back after every ``iter_per_step``
        iterations (set to ``--every``), and the step is DeepXDE's iteration count."""

        def __init__(self, offset: int, lbfgs: bool = False) -> None:
            super().__init__()
            self.offset, self.lbfgs = offset, lbfgs
            self.count = 0

        def on_epoch_end(self) -> None:
            self.count = (self.model.train_state.step - self.offset if self.lbfgs
                          else self.count + 1)
            rec(self.offset + self.count)

    big = 10**9  # DeepXDE evaluates the test loss every display_every steps: never
    if args.adam:
        model.compile("adam", lr=args.lr)
        model.train(iterations=args.adam, display_every=big, callbacks=[Hook(0)], verbose=0)
    if args.lbfgs:
        dde.optimizers.config.set_LBFGS_options(maxcor=50, ftol=0, gtol=0,
                                                maxiter=args.lbfgs, maxls=25)
        # call back every --every iterations (DeepXDE restarts torch's LBFGS.step there, which
        # costs it one extra loss evaluation per call and a test-loss evaluation); the
        # evaluation cap must not bind, or DeepXDE takes a short step for convergence and stops
        dde.optimizers.LBFGS_options["iter_per_step"] = args.every
        dde.optimizers.LBFGS_options["fun_per_step"] = 4 * args.every
        model.compile("L-BFGS")
        model.train(display_every=big, callbacks=[Hook(args.adam, lbfgs=True)], verbose=0)
    return rec


def interleaved_steps(fresh, col, oz, ou, args) -> dict[str, list[float]]:
    """Seconds per Adam step of each library, timed in alternating blocks of ``--block`` steps
    (a drift of the machine's speed hits both alike), each on its own copy of the network.
    mathdl's step is the one ``PINN.fit`` runs; DeepXDE's is the ``train_step`` its training
    loop calls (without the loop's callbacks)."""
    net = fresh()
    pinn = PINN(net, burgers_residual, coefficients={"viscosity": BURGERS_VISCOSITY},
                second=(1,))
    adam = torch.optim.Adam(net.parameters(), lr=args.lr)

    def ours() -> None:
        adam.zero_grad(set_to_none=True)
        value = pinn.loss(col, oz, ou)
        value.backward()
        adam.step()
        float(value.detach())

    steps = {"mathdl": ours}
    if dde is not None:
        model = deepxde_model(fresh(), col, oz, ou, args)
        model.compile("adam", lr=args.lr)
        state = model.train_state
        state.set_data_train(*model.data.train_next_batch(model.batch_size))

        def theirs() -> None:
            model._train_step(state.X_train, state.y_train, state.train_aux_vars)

        steps["deepxde"] = theirs
    times: dict[str, list[float]] = {k: [] for k in steps}
    for f in steps.values():
        f()
    for _ in range(args.rounds):
        for name, f in steps.items():
            start = time.perf_counter()
            for _ in range(args.block):
                f()
            times[name].append((time.perf_counter() - start) / args.block)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--layers", type=int, default=8, help="hidden layers (Raissi: 8)")
    parser.add_argument("--n-observed", type=int, default=100)
    parser.add_argument("--n-collocation", type=int, default=10_000)
    parser.add_argument("--adam", type=int, default=1000, help="Adam steps")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lbfgs", type=int, default=0, help="L-BFGS iterations after Adam")
    parser.add_argument("--every", type=int, default=100, help="record the error every N steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--rounds", type=int, default=20,
                        help="interleaved step timing: rounds of --block steps per library")
    parser.add_argument("--block", type=int, default=10)
    args = parser.parse_args()
    args.dtype = torch.float64 if args.float64 else torch.float32
    torch.set_num_threads(args.threads)

    g = torch.Generator().manual_seed(0)
    col, oz, ou = burgers_training_data(args.n_observed, args.n_collocation, generator=g,
                                        dtype=args.dtype)
    z_ref, u_ref = burgers_reference_grid()
    z_ref = z_ref.to(args.dtype)
    u_ref = u_ref.numpy()

    def fresh() -> MultilayerPerceptron:
        return MultilayerPerceptron(2, args.width, args.layers,
                                    generator=torch.Generator().manual_seed(1), dtype=args.dtype)

    print(f"Burgers nu = 0.01/pi, {args.layers} x {args.width} tanh, N_u = {args.n_observed}, "
          f"N_f = {args.n_collocation}, Adam {args.adam} (lr {args.lr:g}) + L-BFGS {args.lbfgs}"
          f", {args.dtype}, {args.threads} threads", flush=True)
    if args.rounds:
        steps = interleaved_steps(fresh, col, oz, ou, args)
        med = {k: statistics.median(v) for k, v in steps.items()}
        for k, v in steps.items():
            print(f"{k:<8} interleaved step: median {1e3 * med[k]:7.2f} ms, min "
                  f"{1e3 * min(v):7.2f} ms ({args.rounds} rounds of {args.block})")
        if len(med) == 2:
            print(f"interleaved time per step, DeepXDE/mathdl: "
                  f"{med['deepxde'] / med['mathdl']:.2f}x", flush=True)
    if not args.adam and not args.lbfgs:
        return
    ours = run_mathdl(fresh(), col, oz, ou, z_ref, u_ref, args)
    runs = {"mathdl": ours}
    if dde is not None:
        runs["deepxde"] = run_deepxde(fresh(), col, oz, ou, z_ref, u_ref, args)
    else:
        print("DeepXDE is not installed: `make bench-peers` installs it in .venv-deepxde "
              "(see this script's docstring); printing mathdl's figures only")
    for name, rec in runs.items():
        adam_times = rec.step_times[1:] if len(rec.step_times) > 1 else rec.step_times
        print(f"{name:<8} median step {1e3 * statistics.median(adam_times):8.2f} ms | "
              f"train time {rec.times[-1]:8.2f} s | final rel. L2 error {rec.errors[-1]:.3e}")
        print("         error by step: " + ", ".join(
            f"{s}: {e:.2e}" for s, e in zip(rec.steps, rec.errors, strict=True)
            if s % (args.every * max(len(rec.steps) // 8, 1)) == 0 or s == rec.steps[-1]))
    if len(runs) == 2:
        a, b = runs["mathdl"], runs["deepxde"]
        target = max(a.errors[-1], b.errors[-1])
        ta, tb = a.time_to(target), b.time_to(target)
        step_ratio = statistics.median(b.step_times[1:]) / statistics.median(a.step_times[1:])
        print(f"time to reach rel. L2 error {target:.3e}: mathdl {ta:.2f} s, DeepXDE {tb:.2f} s,"
              f" DeepXDE/mathdl {tb / ta:.2f}x (median time per step: {step_ratio:.2f}x)")
        gap = max(abs(x - y) for x, y in zip(a.errors, b.errors, strict=False))
        print(f"same numbers: max |error(mathdl) - error(DeepXDE)| over the recorded steps "
              f"{gap:.1e} (same weights, points and optimiser; rounding differs)")


if __name__ == "__main__":
    main()
