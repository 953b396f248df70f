"""The seed axis over several devices of one host (``TrainConfig.devices``, ``ContinualConfig.devices``).

Seeds are already a vmapped axis of every training state (:mod:`offrl.train`). With ``devices > 1`` that
axis is split over a 1-D :class:`jax.sharding.Mesh` of this host's devices (axis name ``"seeds"``):

* the seed-stacked states and per-seed random keys are sharded along it (``NamedSharding(mesh,
  P("seeds"))``), so each device holds and trains its own seeds;
* the shared data (the dataset's device table) is replicated, one copy per device;
* the fused chunk is compiled once with those shardings (``jax.jit`` with ``in_shardings`` /
  ``out_shardings``, no ``pmap``). Seeds never read each other's data, so the compiled program has no
  collective: every device runs the one-device program on its own seeds.

The rule for seed counts that the devices do not divide: **pad and drop**. The seed axis is padded up
to the next multiple of the device count with copies of the last seed (its state and key); the copies
train along and are dropped before anything leaves the trainer: metrics, evaluation, checkpoints and
final states hold the real seeds only. A seed list is a choice about the experiment and the device
count one about the machine, so the machine never refuses or changes an experiment; the price is the
padded slots' compute (fewer than one seed per device), which the trainer prints when it starts.
Checkpoints hold exactly the real seeds, whatever the device count, so a run checkpointed on 2
devices resumes on 1 (or 4) with the same numbers: orbax restores them into the current placement.

With one device (the default) nothing here changes the trainer: plain ``jax.jit``, default placement.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal

from offrl.errors import ConfigError

SEED_AXIS = "seeds"
"""the mesh axis name of the seed axis."""

DevicesOption = int | Literal["all"]
"""the type of the ``devices`` field of the trainers' configs: a device count or ``"all"``."""


def parse_devices(value: Any, where: str = "devices") -> int | str:
    """A ``devices`` option as the configs keep it: a count >= 1 (an int, or digits as text) or ``"all"``.

    Raises:
      ConfigError: anything else, naming ``where`` (as :meth:`SeedPlacement.create` does).
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return "all"
        if text.isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ConfigError(f"{where}={value!r} must be a device count >= 1 or 'all' (every local device)")


def _describe_devices(devices: list) -> str:
    kinds = sorted({d.platform for d in devices})
    return f"{len(devices)} local device{'s' * (len(devices) != 1)} ({', '.join(kinds) or 'none'})"


@dataclasses.dataclass(frozen=True)
class SeedPlacement:
    """Where the seed axis of a run lives: ``n_seeds`` real seeds over ``devices`` (padded to ``n_slots``).

    Build it with :meth:`create`. Every array it places has the (padded) seed axis first.
    """

    n_seeds: int
    devices: tuple

    @classmethod
    def create(cls, option: Any, n_seeds: int, where: str = "devices") -> SeedPlacement:
        """The placement of ``n_seeds`` seeds for a ``devices`` option (``1``, a count or ``"all"``);
        errors name the option ``where`` (e.g. ``--devices / TrainConfig.devices``, :func:`offrl.errors.field_name`).

        ``"all"`` takes every local device, but no more devices than seeds (a device without a seed of
        its own would only train a padding copy).

        Raises:
          ConfigError: more devices than this host has (with how to make more visible), or an explicit
            count larger than the number of seeds.
        """
        import jax

        option = parse_devices(option, where)
        if option == 1:
            return cls(n_seeds, ())
        local = jax.local_devices()
        if option == "all":
            count = min(len(local), n_seeds)
        else:
            count = option
            if count > len(local):
                raise ConfigError(
                    f"{where}={count} but this host has {_describe_devices(local)}: on GPUs, CUDA_VISIBLE_DEVICES "
                    "decides which ones JAX sees; on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N "
                    "(set before jax starts) makes N host devices; or give 'all' (every local device)")
            if count > n_seeds:
                raise ConfigError(f"{where}={count} is more devices than the {n_seeds} seed(s) of the run: each "
                                  f"device trains whole seeds; use at most {n_seeds} devices (or 'all')")
        return cls(n_seeds, tuple(local[:count]) if count > 1 else ())

    # ------------------------------------------------------------------ sizes
    @property
    def n_devices(self) -> int:
        """Devices the seed axis is split over (1: the default device, no mesh)."""
        return max(len(self.devices), 1)

    @property
    def sharded(self) -> bool:
        """Whether the seed axis is split over more than one device."""
        return self.n_devices > 1

    @property
    def n_slots(self) -> int:
        """The padded seed axis: the smallest multiple of the device count that holds every seed."""
        return -(-self.n_seeds // self.n_devices) * self.n_devices

    @property
    def padding(self) -> int:
        """Padding slots (copies of the last seed, trained and dropped)."""
        return self.n_slots - self.n_seeds

    def describe(self) -> str:
        """One line for the user: seeds per device and any padding."""
        per = self.n_slots // self.n_devices
        kinds = ", ".join(sorted({d.platform for d in self.devices}))
        text = (f"{self.n_seeds} seeds over {self.n_devices} {kinds} devices, {per} per device "
                f"(seed axis sharded on a 1-D mesh)")
        if self.padding:
            text += (f"; {self.padding} padding slot(s) train copies of the last seed and are dropped "
                     f"(a multiple of {self.n_devices} seeds wastes nothing)")
        return text

    # ------------------------------------------------------------------ shardings
    @functools.cached_property
    def mesh(self):
        """The 1-D mesh of the devices, axis :data:`SEED_AXIS` (None with one device)."""
        if not self.sharded:
            return None
        import numpy as np
        from jax.sharding import Mesh

        return Mesh(np.asarray(self.devices, dtype=object), (SEED_AXIS,))

    @property
    def seed_sharding(self):
        """``NamedSharding(mesh, P("seeds"))``: the leading axis split over the devices."""
        from jax.sharding import NamedSharding, PartitionSpec

        return NamedSharding(self.mesh, PartitionSpec(SEED_AXIS))

    @property
    def replicated(self):
        """``NamedSharding(mesh, P())``: a full copy on every device."""
        from jax.sharding import NamedSharding, PartitionSpec

        return NamedSharding(self.mesh, PartitionSpec())

    # ------------------------------------------------------------------ placing arrays
    def place(self, tree):
        """Seed-stacked arrays (``n_seeds`` or already ``n_slots`` rows) padded and sharded along the seeds.

        Arrays already placed this way are returned as they are (no copy).
        """
        import jax
        import numpy as np

        if not self.sharded:
            return tree
        rows = {int(x.shape[0]) for x in jax.tree_util.tree_leaves(tree)}
        if rows == {self.n_seeds} and self.padding:
            # padded on the host: once per run (and per resume), and no compilation for every leaf's shape
            tree = jax.tree_util.tree_map(
                lambda x: np.concatenate([np.asarray(x), np.repeat(np.asarray(x)[-1:], self.padding, axis=0)]), tree)
        elif rows != {self.n_slots}:
            raise ValueError(f"seed-stacked arrays with {sorted(rows)} rows; expected {self.n_seeds} or {self.n_slots}")
        return jax.device_put(tree, self.seed_sharding)

    def replicate(self, tree):
        """Shared arrays (the dataset's device table) on the device, one copy per device when sharded."""
        import jax

        return jax.device_put(tree, self.replicated if self.sharded else None)

    def unpad(self, tree):
        """The real seeds of padded seed-stacked arrays (the first ``n_seeds`` rows); without padding, ``tree``.

        With padding the result is replicated over the mesh (uneven shards do not exist), by way of the host:
        it serves evaluations, checkpoints and metrics, which go to the host anyway.
        """
        if not self.padding:
            return tree
        import jax
        import numpy as np

        return jax.device_put(jax.tree_util.tree_map(lambda x: np.asarray(x)[: self.n_seeds], tree), self.replicated)

    def jit(self, fn: Callable, *, stacked: int, shared: int, donate_argnums: tuple[int, ...] = (),
            compiler_options: dict | None = None):
        """``jax.jit`` of ``fn(*stacked_args, *shared_args)``, compiled once for the placement: the first
        ``stacked`` arguments and every output are seed-stacked and sharded along the seeds, the next
        ``shared`` arguments replicated. With one device, a plain ``jax.jit``."""
        import jax

        if not self.sharded:
            return jax.jit(fn, donate_argnums=donate_argnums, compiler_options=compiler_options)
        in_shardings = (self.seed_sharding,) * stacked + (self.replicated,) * shared
        return jax.jit(fn, in_shardings=in_shardings, out_shardings=self.seed_sharding,
                       donate_argnums=donate_argnums, compiler_options=compiler_options)
