"""Deep BSDE on the HJB equation of the LQG problem in d = 100: mathdl against a faithful PyTorch
port of the published configuration, same problem, one script.

Problem: u_t + Δu - λ|∇u|^2 = 0, g(x) = ln((1 + |x|^2)/2), x0 = 0, T = 1, N = 20 steps (E, Han,
Jentzen 2017; Han, Jentzen, E 2018). Reference: the exact Hopf–Cole value by quadrature
(``hopf_cole_radial_value``).

The port follows the published code (Han, Jentzen, E 2018, PNAS; github.com/frankhan91/DeepBSDE):
one subnetwork per time step (batch norm on the input, two hidden layers of d + 10 with batch norm
and ReLU, a linear output with batch norm, output divided by d), Y0 ~ U[0, 1], Z0 ~ U[-0.1, 0.1],
Adam at 1e-2, batch 64, 2000 iterations, float64, the clipped quadratic loss (delta clip 50), and
the corrected driver -λ|z|^2/2.

Prints, per λ in {1, 10}: the final u(0,0) and its relative error, the wall time per iteration
(median), the wall time until the relative error reaches and stays within the target (0.2% at
λ = 1, 0.5% at λ = 10; "not reached" otherwise), the ratio port/mathdl, and where mathdl's time
goes.
Asserts nothing timed.
Run: ``python benchmarks/pde_deep_bsde.py [--threads 2] [--repeats 1]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from mathdl.pde import (
    DeepBSDEOptions,
    DeepBSDESolver,
    hjb_lqg_pde,
    hjb_terminal,
    hopf_cole_radial_value,
    lqg_profile,
)

D, T, N = 100, 1.0, 20
TARGETS = {1.0: 0.002, 10.0: 0.005}


class PublishedSubnet(torch.nn.Module):
    """BN(input) -> [Linear -> BN -> ReLU] x 2 -> Linear -> BN, as in the published code."""

    def __init__(self, d: int) -> None:
        super().__init__()
        h = d + 10
        bn = dict(momentum=0.01, eps=1e-6, dtype=torch.float64)
        self.layers = torch.nn.Sequential(
            torch.nn.BatchNorm1d(d, **bn),
            torch.nn.Linear(d, h, bias=False, dtype=torch.float64), torch.nn.BatchNorm1d(h, **bn),
            torch.nn.ReLU(),
            torch.nn.Linear(h, h, bias=False, dtype=torch.float64), torch.nn.BatchNorm1d(h, **bn),
            torch.nn.ReLU(),
            torch.nn.Linear(h, d, bias=False, dtype=torch.float64), torch.nn.BatchNorm1d(d, **bn))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def published_port(lam: float, *, seed: int, iterations: int = 2000, batch: int = 64
                   ) -> tuple[list[float], list[float]]:
    """Train the port; return (wall time after each iteration, y0 after each iteration)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the port's module initialisers use the global generator, as TF did
    dt = T / N
    y0 = torch.nn.Parameter(torch.rand((), generator=gen, dtype=torch.float64))
    z0 = torch.nn.Parameter(0.2 * torch.rand(1, D, generator=gen, dtype=torch.float64) - 0.1)
    subnets = torch.nn.ModuleList(PublishedSubnet(D) for _ in range(N - 1))
    opt = torch.optim.Adam([y0, z0, *subnets.parameters()], lr=1e-2, eps=1e-8)
    times, y0s = [], []
    start = time.perf_counter()
    for _ in range(iterations):
        dw = math.sqrt(dt) * torch.randn(N, batch, D, generator=gen, dtype=torch.float64)
        x = torch.cat([torch.zeros(1, batch, D, dtype=torch.float64),
                       math.sqrt(2.0) * torch.cumsum(dw, dim=0)])
        y = y0 * torch.ones(batch, dtype=torch.float64)
        z = z0.expand(batch, D)
        for n in range(N):
            y = y + dt * 0.5 * lam * z.square().sum(dim=1) + (z * dw[n]).sum(dim=1)
            if n < N - 1:
                z = subnets[n](x[n + 1]) / D
        delta = y - hjb_terminal(x[N])
        loss = torch.where(delta.abs() < 50.0, delta.square(),
                           2 * 50.0 * delta.abs() - 50.0**2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
        y0s.append(float(y0.detach()))
    return times, y0s


def mathdl_solver(lam: float, *, seed: int) -> tuple[list[float], list[float], float]:
    """Train mathdl's solver; return (wall times, y0 after each iteration, warm-start seconds)."""
    options = DeepBSDEOptions(n_steps=N, hidden=(D + 10, D + 10), batch_size=128,
                              iterations=200, learning_rate=1e-3, final_learning_rate=1e-5,
                              init_samples=8192)
    pde = hjb_lqg_pde(dim=D, lam=lam, dtype=torch.float32)
    stamps: list[float] = []
    start = time.perf_counter()
    solver = DeepBSDESolver(pde, options).fit(
        generator=torch.Generator().manual_seed(seed),
        progress=lambda done, total: stamps.append(time.perf_counter() - start))
    warm = stamps[0] - (stamps[1] - stamps[0])  # time before the first iteration
    return stamps, solver.y0_history_, warm


def time_to_target(times: list[float], y0s: list[float], exact: float, tol: float) -> float:
    """First wall time after which the relative error stays <= tol (inf if never)."""
    ok = [abs(v - exact) <= tol * abs(exact) for v in y0s]
    if not ok[-1]:
        return math.inf
    k = len(ok) - 1
    while k > 0 and ok[k - 1]:
        k -= 1
    return times[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--port-iterations", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, d={D}, N={N}")
    for lam, tol in TARGETS.items():
        exact = hopf_cole_radial_value(lqg_profile, dim=D, time_to_maturity=T, lam=lam)
        rows = {"port": [], "mathdl": []}
        warms = []
        for seed in range(args.repeats):
            t, y = published_port(lam, seed=seed, iterations=args.port_iterations)
            rows["port"].append((t, y))
            t, y, warm = mathdl_solver(lam, seed=seed)
            rows["mathdl"].append((t, y))
            warms.append(warm)
        print(f"\nλ = {lam:g}: exact u(0,0) = {exact:.5f}, target {100 * tol:g}%")
        reach = {}
        for name, runs in rows.items():
            finals = [y[-1] for _, y in runs]
            per_it = statistics.median(
                statistics.median(b - a for a, b in zip(t[:-1], t[1:], strict=True))
                for t, _ in runs)
            total = statistics.median(t[-1] for t, _ in runs)
            reach[name] = statistics.median(time_to_target(t, y, exact, tol) for t, y in runs)
            err = statistics.median(abs(v - exact) / exact for v in finals)
            r = "not reached" if math.isinf(reach[name]) else f"{reach[name]:7.2f} s"
            print(f"  {name:<7} final {statistics.median(finals):.5f} (rel. error "
                  f"{100 * err:.3f}%)  {1e3 * per_it:6.2f} ms/iteration  total {total:6.2f} s  "
                  f"time to target: {r}")
        if math.isfinite(reach["mathdl"]):
            ratio = reach["port"] / reach["mathdl"]
            print(f"  ratio port/mathdl (time to target): "
                  f"{'inf (port never reaches it)' if math.isinf(ratio) else f'{ratio:.1f}x'}")
        total = statistics.median(t[-1] for t, _ in rows["mathdl"])
        print(f"  mathdl: warm start (paths, pathwise regression, Y0) "
              f"{statistics.median(warms):.2f} s of its {total:.2f} s")


if __name__ == "__main__":
    main()
