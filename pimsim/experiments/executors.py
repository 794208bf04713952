"""Executors: run a picklable function over design points, yielding each outcome as it finishes.

`executor.run(fn, items)` yields `(index, value, exception)` in completion order; exactly one of value
and exception is None. The caller (the runner, in the parent process) stores each finished point at
once, so the executor never holds finished work that an interruption could lose.

- `LocalExecutor(workers)`: a `concurrent.futures.ProcessPoolExecutor` (default: one process per CPU);
  `workers=1` evaluates in this process (no pickling, easiest to debug). Its workers die with the
  process that started them, even when that one is killed with SIGKILL and cannot stop them: on Linux
  the kernel sends them SIGKILL (prctl PR_SET_PDEATHSIG, immediate even while a worker is inside a
  long numba kernel); elsewhere a daemon thread in each worker polls os.getppid() every 0.5 s.
- `DaskExecutor(address, workers)`: a `distributed.Client` on a running scheduler at `address`, or a
  `LocalCluster` of `workers` single-threaded worker processes when no address is given.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence

from pimsim.errors import ConfigError

Outcome = tuple[int, Any, BaseException | None]


def _ignore_sigint() -> None:
    # Ctrl-C goes to the whole process group; the parent decides what happens (it stops the workers)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_parent(ppid: int, poll_s: float) -> None:
    while os.getppid() == ppid:
        time.sleep(poll_s)
    os._exit(1)


def die_with_parent(runner_pid: int, poll_s: float = 0.5) -> None:
    """Make this worker process exit when its parent dies (module docstring). `runner_pid`: the process
    that created the pool; if it is already gone (it died before this ran), exit now."""
    ppid = os.getppid()
    armed = False
    if sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if not _alive(runner_pid):
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(ppid, poll_s), daemon=True, name="pimsim-watchdog").start()


def _worker_init(runner_pid: int) -> None:
    _ignore_sigint()
    die_with_parent(runner_pid)


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        if self.workers == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                try:
                    value = fn(item)
                except Exception as exc:  # noqa: BLE001 - reported by the runner
                    yield i, None, exc
                else:
                    yield i, value, None
            return
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(items)), initializer=_worker_init,
                                   initargs=(os.getpid(),))
        finished = False
        try:
            pending = {pool.submit(fn, item): i for i, item in enumerate(items)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    exc = fut.exception()
                    yield i, (None if exc else fut.result()), exc
            finished = True
        finally:
            if not finished:  # interrupted: stop the workers now instead of letting them finish
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.terminate()
            pool.shutdown(wait=finished, cancel_futures=True)


class DaskExecutor:
    name = "dask"

    def __init__(self, address: str | None = None, workers: int | None = None):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError("--executor dask needs Dask: pip install 'pimsim[cluster]' "
                              "(dask[distributed])") from None
        self.address = address
        self.workers = max(1, workers or os.cpu_count() or 1)

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if self.address:
            try:
                client = Client(self.address, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"--scheduler {self.address}: cannot connect ({exc})") from None
        else:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        futures = []
        try:
            futures = client.map(fn, list(items), pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in as_completed(futures):
                i = index[fut.key]
                try:
                    value = fut.result()
                except Exception as exc:  # noqa: BLE001 - reported by the runner
                    yield i, None, exc
                else:
                    yield i, value, None
                fut.release()
        finally:
            if futures:
                client.cancel(futures)
            client.close()
            if cluster is not None:
                cluster.close()


def make_executor(kind: str = "local", *, workers: int | None = None, scheduler: str | None = None):
    if kind == "local":
        if scheduler:
            raise ConfigError("--scheduler applies to --executor dask")
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise ConfigError(f"--executor: unknown executor {kind!r}; choose local or dask")
