r"""Autoencoders for tabular data (plain, denoising, variational), with the linear theory that
fixes what they learn, and latent-space export to CSV.

Columns are standardised first (mean and standard deviation learned in :meth:`fit`), the usual
preparation of omics tables, where features live on unrelated scales. An encoder
:math:`E: \mathbb R^d \to \mathbb R^k` and a decoder :math:`D: \mathbb R^k \to \mathbb R^d` are
then trained on the standardised rows :math:`x` to minimise

.. math::
    \text{PLAIN: } \frac1d\,\mathbb E\,\|D(E(x)) - x\|^2, \qquad
    \text{DENOISING: } \frac1d\,\mathbb E\,\|D(E(x + s\varepsilon)) - x\|^2,\
    \varepsilon \sim \mathcal N(0, I_d),

(Vincent et al. 2008, with Gaussian corruption of standard deviation :math:`s` in standardised
units), or, ``VARIATIONAL``, to maximise the ELBO of a :class:`~mathdl.generative.VAE` with a
per-feature Gaussian decoder (latents are then the posterior means).

**Linear theory.** With affine maps (``hidden=()``) and centred data of covariance
:math:`\Sigma = U\Lambda U^\top`, :math:`\lambda_1 \ge \dots \ge \lambda_d`, the end-to-end map
:math:`A = DE` (rank :math:`\le k`) minimises

.. math::
    J(A) = \mathbb E\|A(x + s\varepsilon) - x\|^2
         = \big\|(A - A_\infty)(\Sigma + s^2 I)^{1/2}\big\|_F^2 + \text{const},
    \qquad A_\infty = \Sigma(\Sigma + s^2 I)^{-1},

so by Eckart–Young the optimum truncates :math:`A_\infty(\Sigma + s^2I)^{1/2} = U
\operatorname{diag}(\lambda_j / \sqrt{\lambda_j + s^2})U^\top` (increasing in :math:`\lambda_j`)
to its top :math:`k` terms:

.. math::
    A^* = U_k \operatorname{diag}\Big(\frac{\lambda_j}{\lambda_j + s^2}\Big)_{j \le k} U_k^\top,
    \qquad J(A^*) = \operatorname{tr}\Sigma - \sum_{j \le k}\frac{\lambda_j^2}{\lambda_j + s^2}

(:func:`optimal_linear_autoencoder`). At :math:`s = 0` this is the orthogonal projection onto
the top-:math:`k` principal subspace, with error :math:`\sum_{j > k}\lambda_j`: a linear
autoencoder learns PCA, and every other critical point of its loss is a saddle (Baldi & Hornik
1989). Denoising adds ridge-type shrinkage of each principal coordinate by
:math:`\lambda_j / (\lambda_j + s^2)`, the Tikhonov regularisation equivalent to training with
input noise (Bishop 1995).

**Export.** :func:`write_latents_csv` writes latents (columns ``z1 .. zk``, optionally preceded
by row identifiers) atomically: to a temporary file in the target's directory, flushed to disk,
then renamed over the target with :func:`os.replace`, so a crash leaves either the old file or
the complete new one. :func:`read_numeric_csv` reads a user's numeric table (header row,
optional identifier column) into a tensor.

References:
    P. Baldi, K. Hornik, "Neural networks and principal component analysis: learning from
    examples without local minima", Neural Networks 2 (1989) 53-58; P. Vincent, H. Larochelle,
    Y. Bengio, P.-A. Manzagol, "Extracting and composing robust features with denoising
    autoencoders", ICML 2008; C. M. Bishop, "Training with noise is equivalent to Tikhonov
    regularization", Neural Computation 7 (1995) 108-116; C. Eckart, G. Young, "The
    approximation of one matrix by another of lower rank", Psychometrika 1 (1936) 211-218.
"""

from __future__ import annotations

import contextlib
import csv
import enum
import math
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from mathdl._monitor import ProgressCallback, TrainingMonitor
from mathdl._validation import check_positive_int, check_positive_ints, check_real
from mathdl.generative._vae import (
    VAE,
    DecoderLikelihood,
    _check_generator,
    _check_matrix,
    _forget,
    _geometric_schedule,
    _learning_rates,
    _minibatch,
    _mlp,
)

__all__ = [
    "AutoencoderKind",
    "NumericTable",
    "TabularAutoencoder",
    "optimal_linear_autoencoder",
    "read_numeric_csv",
    "write_latents_csv",
]


class AutoencoderKind(enum.Enum):
    """The training objective of :class:`TabularAutoencoder` (module docstring).

    ``PLAIN``: mean squared reconstruction error. ``DENOISING``: the same from inputs corrupted
    by Gaussian noise. ``VARIATIONAL``: the ELBO of a VAE with a per-feature Gaussian decoder.
    """

    PLAIN = "plain"
    DENOISING = "denoising"
    VARIATIONAL = "variational"


def optimal_linear_autoencoder(covariance: Tensor, latent_dim: int, *, noise_std: float = 0.0
                               ) -> tuple[Tensor, Tensor]:
    r"""The best linear autoencoder of rank :math:`k` for centred data of covariance
    :math:`\Sigma = U\Lambda U^\top` under input noise of standard deviation :math:`s` (module
    docstring; Baldi & Hornik 1989 at :math:`s = 0`):

    .. math::
        A^* = U_k\operatorname{diag}\Big(\frac{\lambda_j}{\lambda_j + s^2}\Big)U_k^\top, \qquad
        \min_{\operatorname{rank}A \le k}\mathbb E\|A(x + s\varepsilon) - x\|^2
        = \operatorname{tr}\Sigma - \sum_{j \le k}\frac{\lambda_j^2}{\lambda_j + s^2}.

    Args:
        covariance: ``(d, d)`` symmetric positive semi-definite :math:`\Sigma`.
        latent_dim: :math:`k \ge 1` (:math:`k \ge d` gives :math:`A_\infty`).
        noise_std: :math:`s \ge 0`.

    Returns:
        ``(A (d, d), minimal expected squared error (0-d), summed over the d coordinates)``;
        unique when :math:`\lambda_k > \lambda_{k+1}`.

    Raises:
        ValueError: a non-square, non-symmetric or indefinite covariance, bad ``latent_dim`` or
            ``noise_std``.
    """
    if not isinstance(covariance, Tensor) or not torch.is_floating_point(covariance) or (
            covariance.ndim != 2 or covariance.shape[0] != covariance.shape[1]):
        raise ValueError("covariance: expected a floating-point tensor of shape (d, d)")
    k = check_positive_int(latent_dim, "latent_dim")
    s2 = check_real(noise_std, "noise_std", nonnegative=True) ** 2
    scale = max(float(covariance.abs().amax()), 1e-300)
    if float((covariance - covariance.T).abs().amax()) > 1e-10 * scale:
        raise ValueError("covariance: expected a symmetric matrix")
    eigenvalues, eigenvectors = torch.linalg.eigh(0.5 * (covariance + covariance.T))
    if float(eigenvalues[0]) < -1e-10 * scale:
        raise ValueError("covariance: expected a positive semi-definite matrix")
    eigenvalues = eigenvalues.flip(0).clamp_min(0)[:k]
    u = eigenvectors.flip(1)[:, :k]
    denominator = eigenvalues + s2
    shrink = torch.where(denominator > 0, eigenvalues / denominator.clamp_min(1e-300),
                         torch.zeros_like(eigenvalues))
    error = torch.diagonal(covariance).sum() - (shrink * eigenvalues).sum()
    return (u * shrink) @ u.T, error


_AUTOENCODER_STATE = ("mean_", "scale_", "n_features_in_", "encoder_", "decoder_", "vae_",
                      "history_")


class TabularAutoencoder:
    r"""Autoencoder for a table of ``n`` rows (samples) and ``d`` numeric columns (features),
    with per-column standardisation and latent export (module docstring).

    Constructor stores; :meth:`fit` learns the standardisation, builds and trains the networks,
    and returns ``self``.

    Args:
        latent_dim: :math:`k`.
        hidden: hidden widths of the encoder (the decoder's are reversed); ``()`` for affine
            maps, whose optimum is :func:`optimal_linear_autoencoder`.
        kind: :class:`AutoencoderKind`.
        noise_std: :math:`s > 0` of ``DENOISING``, in standardised units.
        steps: Adam steps; lr: initial learning rate, decayed geometrically to ``final_lr``
            (default: constant).
        batch_size: rows per step, drawn with replacement (all rows, every step, when the table
            has no more).

    After :meth:`fit`: ``mean_``, ``scale_`` (``(d,)``: column means and standard deviations,
    1 for a constant column), ``encoder_`` and ``decoder_`` (``PLAIN``, ``DENOISING``) or
    ``vae_`` (``VARIATIONAL``), ``n_features_in_``, ``history_`` (the training loss at each
    step: mean squared error, or the negative ELBO per row).
    """

    def __init__(self, latent_dim: int = 2, hidden: tuple[int, ...] = (64,), *,
                 kind: AutoencoderKind = AutoencoderKind.PLAIN, noise_std: float = 0.5,
                 steps: int = 2000, lr: float = 1e-3, final_lr: float | None = None,
                 batch_size: int = 128) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.kind = kind
        self.noise_std = noise_std
        self.steps = steps
        self.lr = lr
        self.final_lr = final_lr
        self.batch_size = batch_size

    def _validate(self) -> None:
        check_positive_int(self.latent_dim, "latent_dim")
        check_positive_ints(self.hidden, "hidden")
        if not isinstance(self.kind, AutoencoderKind):
            raise ValueError(f"kind: expected an AutoencoderKind, got {self.kind!r}")
        check_real(self.noise_std, "noise_std", positive=True)
        check_positive_int(self.steps, "steps")
        _learning_rates(self.lr, self.final_lr)
        check_positive_int(self.batch_size, "batch_size")

    def fit(self, x: Tensor, *, generator: torch.Generator,
            progress: ProgressCallback | None = None) -> TabularAutoencoder:
        """Train on the table ``x: (n, d)``, ``n >= 2``; returns ``self``.

        Networks take the dtype and device of ``x``; ``generator`` (on that device) draws the
        initialisation, the minibatches and the noise.

        Raises:
            ValueError: on bad hyperparameters, data (wrong shape, NaN or inf) or generator.
            TrainingDivergedError: the loss became NaN/inf or exploded (lower ``lr``).
        """
        self._validate()
        x = _check_matrix(x, "x", min_rows=2)
        _check_generator(generator)
        _forget(self, _AUTOENCODER_STATE)
        try:
            return self._train(x, generator, progress)
        except BaseException:  # a diverged fit leaves the estimator unfitted
            _forget(self, _AUTOENCODER_STATE)
            raise

    def _train(self, x: Tensor, generator: torch.Generator,
               progress: ProgressCallback | None) -> TabularAutoencoder:
        mean, scale = x.mean(0), x.std(0, correction=0)
        self.mean_ = mean
        self.scale_ = torch.where(scale > 0, scale, torch.ones_like(scale))
        self.n_features_in_ = d = x.shape[1]
        data = (x - self.mean_) / self.scale_
        if self.kind is AutoencoderKind.VARIATIONAL:
            self.vae_ = VAE(self.latent_dim, tuple(self.hidden),
                            likelihood=DecoderLikelihood.GAUSSIAN_DIAGONAL, steps=self.steps,
                            lr=self.lr, final_lr=self.final_lr, batch_size=self.batch_size
                            ).fit(data, generator=generator, progress=progress)
            self.history_ = list(self.vae_.history_)
            return self
        options = dict(generator=generator, dtype=x.dtype, device=x.device)
        hidden = tuple(self.hidden)
        self.encoder_ = _mlp((d, *hidden, self.latent_dim), **options)
        self.decoder_ = _mlp((self.latent_dim, *reversed(hidden), d), **options)
        params = [*self.encoder_.parameters(), *self.decoder_.parameters()]
        lr, final_lr = _learning_rates(self.lr, self.final_lr)
        adam = torch.optim.Adam(params, lr=lr)
        schedule = _geometric_schedule(adam, lr, final_lr, self.steps)
        monitor = TrainingMonitor(self.steps, solver=f"{self.kind.value} autoencoder",
                                  progress=progress, every=10)
        denoising = self.kind is AutoencoderKind.DENOISING
        history = []
        for step in range(1, self.steps + 1):
            batch = _minibatch(data, self.batch_size, generator)
            inputs = batch
            if denoising:
                inputs = batch + self.noise_std * torch.randn(
                    batch.shape, generator=generator, dtype=x.dtype, device=x.device)
            adam.zero_grad(set_to_none=True)
            loss = (self.decoder_(self.encoder_(inputs)) - batch).square().mean()
            loss.backward()
            adam.step()
            schedule.step()
            history.append(float(loss.detach()))
            monitor.step(step, history[-1])
        for p in params:
            p.requires_grad_(False)
        self.history_ = history
        return self

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "mean_"):
            raise ValueError(f"{method}: the autoencoder is not fitted; call fit first")

    def transform(self, x: Tensor) -> Tensor:
        r"""Latent coordinates of the rows of ``x: (n, d)``: :math:`E((x - \text{mean}) /
        \text{scale})`, or the VAE's posterior means; ``(n, k)``.

        Raises:
            ValueError: before :meth:`fit`, or ``x`` with the wrong shape, dtype or non-finite
                values.
        """
        self._check_fitted("transform")
        x = _check_matrix(x, "x", columns=self.n_features_in_, dtype=self.mean_.dtype)
        data = (x - self.mean_) / self.scale_
        if self.kind is AutoencoderKind.VARIATIONAL:
            return self.vae_.transform(data)
        with torch.no_grad():
            return self.encoder_(data)

    def inverse_transform(self, z: Tensor) -> Tensor:
        r"""Decode latents ``z: (n, k)`` to rows in the units of the data: :math:`\text{mean} +
        \text{scale} \odot D(z)` (the decoder's mean for ``VARIATIONAL``); ``(n, d)``."""
        self._check_fitted("inverse_transform")
        z = _check_matrix(z, "z", columns=self.latent_dim, dtype=self.mean_.dtype)
        if self.kind is AutoencoderKind.VARIATIONAL:
            decoded = self.vae_.decode(z)
        else:
            with torch.no_grad():
                decoded = self.decoder_(z)
        return self.mean_ + self.scale_ * decoded

    def reconstruct(self, x: Tensor) -> Tensor:
        """``inverse_transform(transform(x))``, ``(n, d)``."""
        return self.inverse_transform(self.transform(x))

    def reconstruction_error(self, x: Tensor) -> Tensor:
        r"""Per-row mean squared reconstruction error in standardised units,
        :math:`\frac1d\sum_j\big((x_j - \hat x_j)/\text{scale}_j\big)^2`, ``(n,)``."""
        residual = (self.reconstruct(x) - x) / self.scale_
        return residual.square().mean(1)

    def __repr__(self) -> str:
        return (f"TabularAutoencoder({self.latent_dim}, hidden={self.hidden}, kind={self.kind}, "
                f"steps={self.steps})")


# ----------------------------------------------------------------------------- CSV in and out


def write_latents_csv(path: str | os.PathLike[str], latents: Tensor, *,
                      row_ids: Sequence[str] | None = None, id_column: str = "id") -> Path:
    """Write latents to a CSV file atomically: header ``[id_column,] z1, ..., zk``, one row per
    sample, numbers written with Python's shortest round-trip representation (reading them back
    recovers the values exactly).

    The file is written to a temporary file in the same directory, flushed and synced, then
    renamed over ``path`` (:func:`os.replace`, atomic on POSIX and Windows): a crash or an error
    leaves the previous file, if any, untouched, and no partial file.

    Args:
        path: the target file (its directory must exist).
        latents: ``(n, k)`` finite values (e.g. ``TabularAutoencoder.transform(x)``).
        row_ids: ``n`` identifiers written as the first column (e.g. ``NumericTable.row_ids``).
        id_column: the identifier column's header.

    Returns:
        The path written.

    Raises:
        ValueError: bad latents, row ids of the wrong number or type, a missing directory.
    """
    latents = _check_matrix(latents, "latents")
    n, k = latents.shape
    if row_ids is not None:
        if isinstance(row_ids, str) or len(row_ids) != n or not all(
                isinstance(r, str) for r in row_ids):
            raise ValueError(f"row_ids: expected a sequence of {n} strings (one per row of "
                             "latents)")
    if not isinstance(id_column, str) or not id_column:
        raise ValueError(f"id_column: expected a non-empty string, got {id_column!r}")
    target = Path(path)
    directory = target.parent
    if not directory.is_dir():
        raise ValueError(f"path: expected a file in an existing directory, got {str(path)!r}")
    header = [f"z{j + 1}" for j in range(k)]
    if row_ids is not None:
        header = [id_column, *header]
    values = latents.detach().to("cpu", torch.float64).tolist()
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for i, row in enumerate(values):
                cells = [repr(v) for v in row]
                writer.writerow(cells if row_ids is None else [row_ids[i], *cells])
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError, AttributeError):  # persist the rename (POSIX)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return target


_MISSING = frozenset({"", "na", "n/a", "#n/a", "nan", "null", "none", "?", "-"})


@dataclass(frozen=True, eq=False)
class NumericTable:
    """A numeric table read by :func:`read_numeric_csv`.

    Attributes:
        values: ``(n, d)`` tensor, rows = samples, columns = features.
        columns: the ``d`` feature names, from the header.
        row_ids: the ``n`` identifiers of the id column, or ``None`` without one.
    """

    values: Tensor
    columns: tuple[str, ...]
    row_ids: tuple[str, ...] | None


def read_numeric_csv(path: str | os.PathLike[str], *, id_column: str | None = None,
                     delimiter: str = ",", dtype: torch.dtype = torch.float64,
                     device: torch.device | str | None = None) -> NumericTable:
    """Read a numeric table from a CSV (or, with ``delimiter="\\t"``, TSV) file.

    The first row is the header (column names, unique); every other non-blank row has one cell
    per header column; every cell outside ``id_column`` is a finite number. Missing values are
    refused, not guessed: impute or drop them first.

    Args:
        path: the file (UTF-8, a byte-order mark allowed).
        id_column: the name of a column of row identifiers, kept as strings, or ``None``.
        delimiter: the field separator, one character.
        dtype, device: of the returned tensor (a floating dtype).

    Returns:
        :class:`NumericTable`.

    Raises:
        ValueError: naming the file, line and column: a missing file, no header or no data
            rows, duplicate or missing column names, a ragged row, a non-numeric, empty or
            non-finite cell.
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter: expected one character, got {delimiter!r}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    source = Path(path)
    if not source.is_file():
        raise ValueError(f"path: expected an existing file, got {str(path)!r}")
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = None
        for row in reader:
            if row and any(cell.strip() for cell in row):
                header = [cell.strip() for cell in row]
                break
        if header is None:
            raise ValueError(f"{source}: expected a header row, the file is empty")
        seen: set[str] = set()
        for name in header:
            if not name:
                raise ValueError(f"{source}: line {reader.line_num}: expected a name for every "
                                 "column of the header, got an empty one")
            if name in seen:
                raise ValueError(f"{source}: line {reader.line_num}: duplicate column name "
                                 f"{name!r}")
            seen.add(name)
        id_index = None
        if id_column is not None:
            if id_column not in seen:
                raise ValueError(f"id_column: expected one of the header's columns {header}, got "
                                 f"{id_column!r}")
            id_index = header.index(id_column)
        numeric = [j for j in range(len(header)) if j != id_index]
        if not numeric:
            raise ValueError(f"{source}: expected at least one numeric column")
        rows: list[list[float]] = []
        ids: list[str] = []
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            if len(row) != len(header):
                raise ValueError(f"{source}: line {line}: expected {len(header)} fields like the "
                                 f"header, got {len(row)}")
            values = []
            for j in numeric:
                cell = row[j].strip()
                try:
                    value = float(cell)
                except ValueError:
                    value = None
                if value is None or not math.isfinite(value):
                    hint = (" (missing values are not supported: impute or drop them first)"
                            if cell.lower() in _MISSING else "")
                    raise ValueError(f"{source}: line {line}, column {header[j]!r}: expected a "
                                     f"finite number, got {row[j]!r}{hint}") from None
                values.append(value)
            rows.append(values)
            if id_index is not None:
                ids.append(row[id_index].strip())
    if not rows:
        raise ValueError(f"{source}: expected at least one data row below the header")
    tensor = torch.tensor(rows, dtype=dtype, device=device)
    return NumericTable(tensor, tuple(header[j] for j in numeric),
                        tuple(ids) if id_index is not None else None)
