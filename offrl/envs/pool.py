"""A pool of Gymnasium environments stepped together, in-process or across worker processes.

Evaluation rollouts, online SAC and dataset collection all step many independent envs with one
batched policy call per step. With ``workers > 0`` the envs are split into contiguous slices, each
owned by a worker process, so MuJoCo stepping runs on several cores while the policy runs on the
accelerator. Results are identical for any worker count: every env is seeded by its global index.

A pool may also mix envs (:meth:`EnvPool.mixed`: one (env id, kwargs) per env), e.g. every task of a
continual stream stepped together. Envs whose observations are smaller than the largest are padded
with zeros, and each env takes the first entries of its action row (a stream's ``pad: zeros`` rule).
"""

from __future__ import annotations

import builtins
import multiprocessing as mp
import signal
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from offrl.errors import OffrlError


# MuJoCo >= 3.3 warns, on every model it compiles, that Gymnasium's HalfCheetah/Ant XML still uses the
# compiler attribute `settotalmass`: one stderr line per env made, hundreds per evaluation. The attribute
# still works; that one notice is dropped and every other MuJoCo warning still reaches stderr.
_QUIET_MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)
_mujoco_filter_installed = False


def _filter_mujoco_warnings() -> None:
    global _mujoco_filter_installed
    if _mujoco_filter_installed:
        return
    _mujoco_filter_installed = True
    try:
        import mujoco
    except ImportError:
        return
    if mujoco.get_mju_user_warning() is not None:  # somebody else's handler: leave it alone
        return

    def warn(message: str) -> None:
        if not message.startswith(_QUIET_MUJOCO_WARNINGS):
            import sys

            print(f"WARNING: {message}", file=sys.stderr, flush=True)

    mujoco.set_mju_user_warning(warn)


def make_env(env_id: str, **kwargs):
    """``gymnasium.make`` with a clear error for unknown ids or a missing MuJoCo install."""
    import gymnasium as gym

    _filter_mujoco_warnings()
    if env_id.startswith("offrl/"):
        import offrl.envs  # noqa: F401  (registers the continual task families)
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as e:
        ids = [k for k in gym.registry if k.split("-")[0].lower() in env_id.lower()]
        raise OffrlError(f"cannot make env {env_id!r}: {e}" + (f" (similar: {ids[:5]})" if ids else "")) from e
    except ImportError as e:
        raise OffrlError(f"env {env_id!r} needs an optional dependency ({e}); "
                         "install offrl[mujoco]") from e


class _Slice:
    """A contiguous group of envs owned by one process; ``obs_width`` zero-pads flat observations."""

    def __init__(self, specs: Sequence[tuple[str, dict]], obs_width: int | None = None):
        self.envs = [make_env(env_id, **kw) for env_id, kw in specs]
        self.act_dims = [int(np.prod(e.action_space.shape)) for e in self.envs]
        self.obs_width = obs_width

    def _obs(self, o):
        o = np.asarray(o)
        if self.obs_width is None:
            return o
        o = o.reshape(-1)
        return np.pad(o, (0, self.obs_width - o.size))

    def reset(self, seeds: Sequence[int | None]):
        return np.stack([self._obs(e.reset(seed=None if s is None else int(s))[0]) for e, s in zip(self.envs, seeds)])

    def step(self, actions, active, autoreset: bool):
        n = len(self.envs)
        obs = [None] * n
        rew = np.zeros(n, np.float64)
        term = np.zeros(n, bool)
        trunc = np.zeros(n, bool)
        reset_obs = [None] * n
        for i, e in enumerate(self.envs):
            if not active[i]:
                continue
            a = actions[i] if self.obs_width is None else np.asarray(actions[i]).reshape(-1)[: self.act_dims[i]]
            o, r, te, tr, _ = e.step(a)
            obs[i], rew[i], term[i], trunc[i] = self._obs(o), r, te, tr
            if autoreset and (te or tr):
                reset_obs[i] = self._obs(e.reset()[0])
        return obs, rew, term, trunc, reset_obs

    def close(self):
        for e in self.envs:
            e.close()


def _collect_warnings() -> list[tuple[str, str]]:
    """Make this worker keep the warnings its filters let through, as ``(category name, message)``, in the
    list returned, instead of printing them (its stderr would show Python's raw form, once per worker); each
    reply takes them to the parent. Set once, not around every command: the env steps stay free of it, and
    the worker's own "once" registries keep working."""
    caught: list[tuple[str, str]] = []
    warnings.showwarning = lambda message, category, *args, **kwargs: caught.append((category.__name__,
                                                                                    str(message)))
    return caught


def _taken(caught: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The warnings kept so far, the list emptied for the next reply."""
    out = list(caught)
    caught.clear()
    return out


def _warn_again(caught: list[tuple[str, str]]) -> None:
    """Raise a worker's warnings again in the parent, where its filters and its display (``offrl``'s one line
    each, once) apply to them as to the parent's own; a category that is no builtin one becomes UserWarning."""
    for name, message in caught:
        category = getattr(builtins, name, None)
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category = UserWarning
        warnings.warn(message, category, stacklevel=3)


def _worker(conn, specs, obs_width):
    # Ctrl-C (or `timeout -s INT`) reaches the whole process group: the parent handles it and closes the
    # pool, so a worker ignores it instead of printing a KeyboardInterrupt traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    caught = _collect_warnings()
    try:
        sl = _Slice(specs, obs_width)
        conn.send(("ok", None, _taken(caught)))
    except Exception as e:  # report construction errors to the parent instead of dying silently
        conn.send(("error", repr(e), _taken(caught)))
        return
    while True:
        try:
            cmd, args = conn.recv()
        except (EOFError, OSError):  # the parent died without closing the pool: nothing left to serve
            sl.close()
            return
        if cmd == "close":
            sl.close()
            conn.close()
            return
        try:
            result = getattr(sl, cmd)(*args)
            conn.send(("ok", result, _taken(caught)))
        except Exception as e:
            conn.send(("error", repr(e), _taken(caught)))


class EnvPool:
    """``n`` copies of ``env_id``; ``reset(seeds)`` then ``step(actions, active)`` on all at once.

    ``step`` returns ``(next_obs, rewards, terminations, truncations, reset_obs)``. Inactive envs
    (finished evaluation episodes) are not stepped and report zeros. With ``autoreset=True`` a
    finished env is reset at once and ``reset_obs[i]`` holds its new first observation, while
    ``next_obs[i]`` keeps the true final observation (needed for correct bootstrapping).
    """

    def __init__(self, env_id: str, n: int, workers: int = 0, env_kwargs: dict | None = None, *,
                 specs: Sequence[tuple[str, dict]] | None = None):
        if specs is None:
            specs = [(env_id, dict(env_kwargs or {}))] * n
        specs = [(e, dict(kw)) for e, kw in specs]
        n = len(specs)
        if n < 1:
            raise OffrlError(f"EnvPool needs at least one env, got n={n}")
        self.env_id, self.n = specs[0][0], n
        workers = max(0, min(workers, n))
        distinct = list({(e, repr(sorted(kw.items()))): (e, kw) for e, kw in specs}.values())
        probes = [make_env(e, **kw) for e, kw in distinct]
        obs_shapes = {tuple(p.observation_space.shape or ()) for p in probes}
        act_shapes = {tuple(p.action_space.shape or ()) for p in probes}
        self.observation_space, self.action_space = probes[0].observation_space, probes[0].action_space
        obs_width = None
        if len(obs_shapes) > 1 or len(act_shapes) > 1:  # mixed spaces: zero-pad to the largest
            from gymnasium.spaces import Box

            obs_width = max(int(np.prod(s)) for s in obs_shapes)
            act_width = max(int(np.prod(s)) for s in act_shapes)
            self.observation_space = Box(-np.inf, np.inf, (obs_width,), np.float64)
            self.action_space = Box(-1.0, 1.0, (act_width,), np.float32)
        steps = [p.spec.max_episode_steps for p in probes if p.spec and p.spec.max_episode_steps]
        self.max_episode_steps = max(steps) if steps else None
        for p in probes:
            p.close()
        self._bounds = np.linspace(0, n, (workers or 1) + 1).astype(int)
        self._local = None
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        if workers == 0:
            self._local = _Slice(specs, obs_width)
        else:
            ctx = mp.get_context("spawn")  # fork after JAX initialised is unsafe
            for lo, hi in zip(self._bounds[:-1], self._bounds[1:]):
                parent, child = ctx.Pipe()
                p = ctx.Process(target=_worker, args=(child, specs[lo:hi], obs_width), daemon=True)
                p.start()
                # the worker holds its end now: with the parent's copy closed, a worker that dies is read
                # as end-of-file instead of a reply awaited forever
                child.close()
                self._conns.append(parent)
                self._procs.append(p)
            for i in range(len(self._conns)):
                status, err, caught = self._reply(i, "start")
                _warn_again(caught)
                if status != "ok":
                    self.close()
                    raise OffrlError(f"env worker failed to start {self.env_id!r}: {err}")

    @classmethod
    def mixed(cls, specs: Sequence[tuple[str, dict]], workers: int = 0) -> "EnvPool":
        """A pool of different envs, one ``(env id, kwargs)`` per env (see the module docstring)."""
        return cls(specs[0][0] if specs else "", len(specs), workers, specs=specs)

    def _send(self, cmd: str, per_slice_args) -> None:
        if self._local is not None:
            self._pending = [getattr(self._local, cmd)(*per_slice_args[0])]
            return
        for i, a in enumerate(per_slice_args):
            try:
                self._conns[i].send((cmd, a))
            except OSError:  # BrokenPipeError: the worker is gone
                self._died(i, cmd)
        self._pending = None

    def _recv(self, cmd: str) -> list:
        if self._local is not None:
            out, self._pending = self._pending, None
            return out
        out = []
        for i in range(len(self._conns)):
            status, res, caught = self._reply(i, cmd)
            _warn_again(caught)
            if status != "ok":
                raise OffrlError(f"env worker error in {cmd}: {res}")
            out.append(res)
        return out

    def _reply(self, i: int, cmd: str):
        """Worker ``i``'s reply to ``cmd``; a worker that died (killed, out of memory, a crash in MuJoCo, a
        script started without ``if __name__ == "__main__":``) raises OffrlError with its exit code."""
        try:
            return self._conns[i].recv()
        except (EOFError, OSError):
            self._died(i, cmd)

    def _died(self, i: int, cmd: str):
        """Close the pool and raise OffrlError for worker ``i``, found dead during ``cmd``."""
        proc = self._procs[i]
        proc.join(timeout=5)
        code = proc.exitcode
        how = (f"killed by signal {-code}" if code is not None and code < 0 else
               f"exit code {code}" if code is not None else "no exit code yet")
        lo, hi = self._bounds[i], self._bounds[i + 1]
        self.close()
        if cmd == "start":
            hint = ("; a script that makes a pool with workers must do so under `if __name__ == \"__main__\":` "
                    "(workers are spawned: each imports the main module again)")
        else:
            hint = "; its envs' episodes are lost"
        raise OffrlError(f"env worker {i} (envs {lo}-{hi - 1} of {self.env_id!r}) died during {cmd} "
                         f"({how}){hint}") from None

    def _call(self, cmd: str, per_slice_args) -> list:
        self._send(cmd, per_slice_args)
        return self._recv(cmd)

    def _split(self, x):
        return [x[lo:hi] for lo, hi in zip(self._bounds[:-1], self._bounds[1:])]

    def reset(self, seeds: Sequence[int | None]) -> np.ndarray:
        seeds = list(seeds)
        if len(seeds) != self.n:
            raise OffrlError(f"reset needs {self.n} seeds, got {len(seeds)}")
        return np.concatenate(self._call("reset", [(s,) for s in self._split(seeds)]))

    def step(self, actions: np.ndarray, active: np.ndarray | None = None, autoreset: bool = False):
        self.step_async(actions, active, autoreset)
        return self.step_wait()

    def step_async(self, actions: np.ndarray, active: np.ndarray | None = None, autoreset: bool = False) -> None:
        """Send actions to the workers and return at once (several pools can then step in parallel)."""
        actions = np.asarray(actions)
        active = np.ones(self.n, bool) if active is None else np.asarray(active, bool)
        self._send("step", [(a, m, autoreset) for a, m in zip(self._split(actions), self._split(active))])

    def step_wait(self):
        """Collect the results of :meth:`step_async` (see :meth:`step`)."""
        parts = self._recv("step")
        obs = sum((p[0] for p in parts), [])
        reset_obs = sum((p[4] for p in parts), [])
        template = next((o for o in obs if o is not None), None)
        shape = template.shape if template is not None else self.observation_space.shape

        def fill(lst):
            return np.stack([o if o is not None else np.zeros(shape) for o in lst])

        return (fill(obs), np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
                np.concatenate([p[3] for p in parts]), fill(reset_obs))

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        for c in self._conns:
            try:
                c.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        for c in self._conns:
            c.close()
        self._conns, self._procs = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
