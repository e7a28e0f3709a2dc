"""A learned score on the 8x8 digits: mathdl against Hugging Face diffusers' schedulers driving the
same network, same inputs, one run.

Data: scikit-learn's digits scaled to [-1, 1] (``load_digits``), a seeded 80/20 train/held-out
split. Forward process: the variance-preserving SDE with beta(t) = 0.1 + 19.9 t on [0, 1]
(Song et al. 2021), whose discretisation with N = 1000 steps is exactly DDPM's linear schedule
beta_i = 1e-4 ... 0.02 (``DDPMScheduler``'s default): discrete step i is time t = (i + 1)/N.

Both sides train the same ``ScoreMLP`` (identical initial weights) for the same number of Adam
steps, batch size and learning-rate schedule, on the same loss |eps_theta(x_t, t) - z|^2:

* mathdl: ``DenoisingScoreMatching.fit`` (continuous t ~ U[1e-3, 1]);
* diffusers: the usual DDPM training loop, integer timesteps i ~ U{0..999},
  ``DDPMScheduler.add_noise``, the network called at t = (i + 1)/1000.

Sampling (``--samples`` points, ``--steps`` network evaluations, the mathdl-trained network):

* stochastic: mathdl ``sample(..., Sampler.EULER_MARUYAMA)`` (reverse SDE) against diffusers'
  ``DDPMScheduler.step`` (ancestral sampling, ``clip_sample=False``: no clipping of the predicted
  x_0, which mathdl's sampler does not do either);
* deterministic: mathdl ``Sampler.EULER`` (probability-flow ODE, uniform in t) against diffusers'
  ``EulerDiscreteScheduler`` (the same ODE, Euler in the noise level sigma of the
  variance-exploding coordinates, Karras et al. 2022).

Printed: training seconds and sampling throughput (samples/s), medians over ``--repeats``, the
ratios diffusers/mathdl (time), and, to check that both compute the same thing, the unbiased MMD^2
(Gaussian kernel, median-distance bandwidth) of each sampler's output to the held-out digits, with
two references: the training digits (the floor) and N(0, I) noise. Runs on CPU, and on CUDA too
when ``torch.cuda.is_available()``. Asserts nothing timed. Both sides call the same network the
same number of times, so the ratios measure the libraries' overheads around it; on a machine
shared with other jobs, ``--threads 1`` avoids OpenMP oversubscription, which otherwise dominates
the timings.

diffusers is a peer for the benchmark only, installed beside mathdl in its own environment
(``make bench-peers`` does exactly this)::

    python3 -m venv .venv-diffusers
    .venv-diffusers/bin/pip install torch==2.13.0
    .venv-diffusers/bin/pip install -e . diffusers==0.42.1
    OMP_NUM_THREADS=2 .venv-diffusers/bin/python benchmarks/generative_vs_diffusers.py

Without diffusers the script prints mathdl's figures only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from mathdl.generative import (
    DenoisingScoreMatching,
    PixelScale,
    Sampler,
    ScoreMLP,
    VariancePreserving,
    held_out_split,
    load_digits,
    mmd2_unbiased,
    sample,
    sample_prior,
)

try:  # the peer, optional
    import diffusers
except ImportError:  # pragma: no cover - depends on the environment
    diffusers = None

PROCESS = VariancePreserving(0.1, 20.0)
T_MIN, T_MAX = 1e-3, 1.0
N_TRAIN_STEPS = 1000  # DDPM's discretisation: beta_i = beta(t_i) / N, t = (i + 1) / N


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int
          ) -> dict[str, tuple[float, object]]:
    """Median wall time over ``repeats`` calls of each function, and its last result. The
    repeats are interleaved (one call of each function per round), so that a change in the
    machine's load affects every contestant alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    outs: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            outs[name] = fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), outs[name]) for name in fns}


# ----------------------------------------------------------------------------- training

def train_mathdl(x: torch.Tensor, args, seed: int) -> ScoreMLP:
    g = torch.Generator(device=x.device).manual_seed(seed)
    est = DenoisingScoreMatching(PROCESS, t_max=T_MAX, t_min=T_MIN, hidden=args.hidden,
                                 steps=args.train_steps, batch_size=args.batch_size, lr=args.lr)
    return est.fit(x, generator=g).model_


def _scheduler_kwargs() -> dict:
    return dict(num_train_timesteps=N_TRAIN_STEPS, beta_start=PROCESS.beta_min / N_TRAIN_STEPS,
                beta_end=PROCESS.beta_max / N_TRAIN_STEPS, beta_schedule="linear")


def train_diffusers(x: torch.Tensor, args, seed: int) -> ScoreMLP:
    """The DDPM training loop of diffusers' examples, written with its public API, on the same
    network, optimiser, learning-rate schedule and loss as mathdl."""
    g = torch.Generator(device=x.device).manual_seed(seed)
    net = ScoreMLP(x.shape[1], PROCESS, hidden=args.hidden, generator=g, dtype=x.dtype,
                   device=x.device)  # first draws of the same seed: mathdl's initial weights
    scheduler = diffusers.DDPMScheduler(**_scheduler_kwargs())
    adam = torch.optim.Adam(net.parameters(), lr=args.lr)
    final_lr = args.lr / 10  # DenoisingScoreMatching's default
    decay = (final_lr / args.lr) ** (1 / max(args.train_steps - 1, 1))
    schedule = torch.optim.lr_scheduler.ExponentialLR(adam, gamma=decay)
    n = x.shape[0]
    for _ in range(args.train_steps):
        rows = torch.randint(0, n, (args.batch_size,), generator=g, device=x.device)
        x0 = x[rows]
        noise = torch.randn(x0.shape, generator=g, dtype=x.dtype, device=x.device)
        steps = torch.randint(0, N_TRAIN_STEPS, (args.batch_size,), generator=g,
                              device=x.device)
        noisy = scheduler.add_noise(x0, noise, steps)
        pred = net(noisy, (steps + 1).to(x.dtype) / N_TRAIN_STEPS)
        loss = (pred - noise).square().sum(1).mean()
        adam.zero_grad(set_to_none=True)
        loss.backward()
        adam.step()
        schedule.step()
    net.eval()
    return net


# ----------------------------------------------------------------------------- sampling

def _score_of(net: ScoreMLP) -> Callable[[torch.Tensor, float], torch.Tensor]:
    def score(x: torch.Tensor, t: float) -> torch.Tensor:
        return net.score(x, t)

    return score


def sample_mathdl(net: ScoreMLP, sampler: Sampler, n: int, steps: int, seed: int,
                  device: torch.device) -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        x = sample_prior(PROCESS, n, net.dim, T_MAX, generator=g, dtype=torch.float32,
                         device=device)
        return sample(_score_of(net), PROCESS, x, sampler=sampler, t_max=T_MAX, t_min=T_MIN,
                      steps=steps, generator=g)


def sample_diffusers_ddpm(net: ScoreMLP, n: int, steps: int, seed: int,
                          device: torch.device) -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(seed)
    scheduler = diffusers.DDPMScheduler(**_scheduler_kwargs(), clip_sample=False)
    scheduler.set_timesteps(steps, device=device)
    with torch.no_grad():
        x = torch.randn(n, net.dim, generator=g, device=device)
        for t in scheduler.timesteps:
            eps = net(x, (t.to(torch.float32) + 1) / N_TRAIN_STEPS)
            x = scheduler.step(eps, t, x, generator=g).prev_sample
    return x


def sample_diffusers_euler(net: ScoreMLP, n: int, steps: int, seed: int,
                           device: torch.device) -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(seed)
    scheduler = diffusers.EulerDiscreteScheduler(**_scheduler_kwargs())
    scheduler.set_timesteps(steps, device=device)
    with torch.no_grad():
        x = torch.randn(n, net.dim, generator=g, device=device) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            x_in = scheduler.scale_model_input(x, t)  # x / sqrt(sigma^2 + 1): the VP state
            eps = net(x_in, (t.to(torch.float32) + 1) / N_TRAIN_STEPS)
            x = scheduler.step(eps, t, x).prev_sample
    return x


# ----------------------------------------------------------------------------- comparison

def median_distance(y: torch.Tensor) -> float:
    d = torch.cdist(y, y)
    return float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)].median())


def run(device: torch.device, args) -> None:
    x, _ = load_digits(scale=PixelScale.SYMMETRIC, dtype=torch.float32, device=device)
    train, held = held_out_split(x.shape[0], fraction=0.2, generator=torch.Generator()
                                 .manual_seed(0))
    x_train, x_held = x[train.to(device)], x[held.to(device)].double()
    h = median_distance(x_held)

    def mmd(y: torch.Tensor) -> float:
        return float(mmd2_unbiased(y.double(), x_held, bandwidth=h))

    print(f"\n== {device.type}: digits {tuple(x_train.shape)} train / {tuple(x_held.shape)} held "
          f"out, ScoreMLP hidden {args.hidden}, {args.train_steps} Adam steps of "
          f"{args.batch_size}, lr {args.lr:g}; sampling {args.samples} points in {args.steps} "
          f"steps; medians over {args.repeats} (training: {args.train_repeats})", flush=True)
    noise = torch.randn(args.samples, 64, generator=torch.Generator().manual_seed(9)).to(device)
    print(f"MMD^2 to held-out digits (bandwidth {h:.3f}): training digits {mmd(x_train):.5f} "
          f"(floor), N(0, I) noise {mmd(noise):.5f}")

    trainers = {"mathdl": lambda: train_mathdl(x_train, args, seed=1)}
    if diffusers is not None:
        trainers["diffusers"] = lambda: train_diffusers(x_train, args, seed=1)
    train_mathdl(x_train[:8], argparse.Namespace(**{**vars(args), "train_steps": 2}), seed=1)
    fits = timed(trainers, device, args.train_repeats)  # (warmed up: one-time imports)
    for name, (seconds, _) in fits.items():
        print(f"train   {name:<10} {seconds:8.2f} s  ({1e3 * seconds / args.train_steps:.2f} "
              f"ms/step)")
    if len(fits) == 2:
        print(f"train   diffusers/mathdl time ratio {fits['diffusers'][0] / fits['mathdl'][0]:.2f}")

    net = fits["mathdl"][1]
    samplers: dict[str, Callable[[ScoreMLP], torch.Tensor]] = {
        "mathdl euler-maruyama": lambda m: sample_mathdl(m, Sampler.EULER_MARUYAMA,
                                                         args.samples, args.steps, 2, device),
        "mathdl euler (ODE)": lambda m: sample_mathdl(m, Sampler.EULER, args.samples,
                                                      args.steps, 2, device),
    }
    if diffusers is not None:
        samplers["diffusers DDPM"] = lambda m: sample_diffusers_ddpm(m, args.samples,
                                                                     args.steps, 2, device)
        samplers["diffusers Euler (ODE)"] = lambda m: sample_diffusers_euler(
            m, args.samples, args.steps, 2, device)
    for fn in samplers.values():
        fn(net)  # warm-up
    results = timed({name: (lambda fn=fn: fn(net)) for name, fn in samplers.items()}, device,
                    args.repeats)
    times = {name: seconds for name, (seconds, _) in results.items()}
    for name, (seconds, y) in results.items():
        print(f"sample  {name:<22} {args.samples / seconds:10.0f} samples/s  "
              f"({seconds:.3f} s)  MMD^2 {mmd(y):.5f}", flush=True)
    if diffusers is not None:
        for ours, theirs in (("mathdl euler-maruyama", "diffusers DDPM"),
                             ("mathdl euler (ODE)", "diffusers Euler (ODE)")):
            print(f"sample  {theirs} / {ours} time ratio {times[theirs] / times[ours]:.2f}")
        other = fits["diffusers"][1]
        print("diffusers-trained network: MMD^2 "
              f"mathdl euler-maruyama {mmd(samplers['mathdl euler-maruyama'](other)):.5f}, "
              f"diffusers DDPM {mmd(samplers['diffusers DDPM'](other)):.5f}")
    else:
        print("diffusers is not installed: `make bench-peers` installs it in .venv-diffusers "
              "(see this script's docstring); printed mathdl's figures only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256, 256])
    parser.add_argument("--train-steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100, help="sampler steps")
    parser.add_argument("--repeats", type=int, default=5, help="sampling repeats")
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cpu-only", action="store_true")
    args = parser.parse_args()
    args.hidden = tuple(args.hidden)
    torch.set_num_threads(args.threads)
    version = f", diffusers {diffusers.__version__}" if diffusers is not None else ""
    print(f"torch {torch.__version__}{version}, {args.threads} CPU threads")
    run(torch.device("cpu"), args)
    if torch.cuda.is_available() and not args.cpu_only:
        run(torch.device("cuda"), args)


if __name__ == "__main__":
    main()
