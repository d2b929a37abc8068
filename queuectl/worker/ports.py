"""What a worker needs from outside: the store's calls (`Store`, with `EngineStore` binding
them to an engine; unit tests pass an in-memory fake) and the config snapshot (`Settings`).

Threading: `Settings` is immutable; the main thread swaps the worker's snapshot at each
heartbeat and slot threads read whichever one is current."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from queuectl import store
from queuectl.core import backoff, configkeys

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["EngineStore", "ListenerLike", "Settings", "Store"]


@dataclass(frozen=True)
class Settings:
    """The config values a worker uses, in seconds (job_timeout in ms)."""

    lease_timeout: float = 30.0
    heartbeat_interval: float = 5.0
    poll_interval: float = 1.0
    job_timeout_ms: int | None = None
    retention: float | None = 7 * 86400.0
    policy: backoff.Policy = backoff.Policy()

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> Settings:
        """The snapshot of a `store.load_config` answer."""
        return cls(
            # Never shorter than two heartbeats, even as an older version stored it.
            lease_timeout=configkeys.lease_seconds(values),
            heartbeat_interval=float(values["heartbeat_interval"]),
            poll_interval=float(values["poll_interval"]),
            job_timeout_ms=values["job_timeout"],
            retention=values["retention"],
            policy=backoff.Policy(
                float(values["backoff_base"]), float(values["backoff_max"]),
                float(values["backoff_jitter"]), values["retry_on"], values["no_retry_on"]),
        )


class ListenerLike(Protocol):
    """A LISTEN connection (see `store.Listener`)."""

    def fileno(self) -> int: ...
    def payloads(self) -> list[str]: ...
    def close(self) -> None: ...


class Store(Protocol):
    """The store calls a worker makes; each raises only `queuectl.errors` exceptions."""

    def load_config(self) -> dict[str, Any]: ...
    def register_worker(self, *, host: str, pid: int, version: str, concurrency: int,
                        worker_id: int | None = None) -> int: ...
    def deregister_worker(self, *, worker_id: int) -> None: ...
    def heartbeat(self, *, worker_id: int, run_ids: Sequence[int], lease_seconds: float,
                  state: str = "running", running: Sequence[int] = ()
                  ) -> store.Beat: ...
    def finish_and_claim(
        self, *, results: Sequence[store.RunResult], worker_id: int | None, limit: int,
        lease_seconds: float, start_now: int | None = None,
    ) -> tuple[set[tuple[str, int]], list[store.Claimed]]: ...
    def abandon_run(self, *, job_id: str, run_id: int, error: str,
                    lease_expired: bool = False) -> bool: ...
    def requeue_runs(self, *, runs: Sequence[tuple[str, int]]) -> list[str]: ...
    def try_lead(self, *, worker_id: int, lease_seconds: float,
                 stale_after: float) -> bool: ...
    def resign_leader(self, *, worker_id: int) -> None: ...
    def expired_runs(self, *, limit: int = 500) -> list[store.ExpiredRun]: ...
    def rescue_runs(self, *, results: Sequence[store.RunResult]) -> list[str]: ...
    def delete_stale_workers(self, *, older_than: float) -> int: ...
    def prune(self, *, older_than: float,
              wait: bool = True) -> tuple[int, int] | None: ...
    def open_listener(self) -> ListenerLike: ...
    def take_controls(self, *, run_ids: Sequence[int]) -> list[store.Control]: ...
    def append_output(self, *, chunks: Sequence[tuple[str, int, str]]) -> None: ...
    def delete_finished_output(self, *, older_than: float) -> int: ...
    def enqueue_due_crons(self) -> store.CronPass: ...


class EngineStore:
    """`Store` on a real database: each method is the `queuectl.store` function of the same
    name on `engine`; claims take jobs of `queues` only (None: every queue)."""

    def __init__(self, engine: sa.Engine, queues: Sequence[str] | None = None) -> None:
        self.engine = engine
        self.queues = None if queues is None else list(queues)

    def load_config(self) -> dict[str, Any]:
        return store.load_config(self.engine)

    def register_worker(self, *, host: str, pid: int, version: str, concurrency: int,
                        worker_id: int | None = None) -> int:
        return store.register_worker(self.engine, host=host, pid=pid, version=version,
                                     concurrency=concurrency, worker_id=worker_id)

    def deregister_worker(self, *, worker_id: int) -> None:
        store.deregister_worker(self.engine, worker_id=worker_id)

    def heartbeat(self, *, worker_id: int, run_ids: Sequence[int], lease_seconds: float,
                  state: str = "running", running: Sequence[int] = ()
                  ) -> store.Beat:
        return store.heartbeat(self.engine, worker_id=worker_id, run_ids=run_ids,
                               lease_seconds=lease_seconds, state=state, running=running)

    def finish_and_claim(
        self, *, results: Sequence[store.RunResult], worker_id: int | None, limit: int,
        lease_seconds: float, start_now: int | None = None,
    ) -> tuple[set[tuple[str, int]], list[store.Claimed]]:
        return store.finish_and_claim(self.engine, results=results, worker_id=worker_id,
                                      limit=limit, lease_seconds=lease_seconds,
                                      start_now=start_now, queues=self.queues)

    def abandon_run(self, *, job_id: str, run_id: int, error: str,
                    lease_expired: bool = False) -> bool:
        return store.abandon_run(self.engine, job_id=job_id, run_id=run_id, error=error,
                                 lease_expired=lease_expired)

    def requeue_runs(self, *, runs: Sequence[tuple[str, int]]) -> list[str]:
        return store.requeue_runs(self.engine, runs=runs)

    def try_lead(self, *, worker_id: int, lease_seconds: float, stale_after: float) -> bool:
        return store.try_lead(self.engine, worker_id=worker_id, lease_seconds=lease_seconds,
                              stale_after=stale_after)

    def resign_leader(self, *, worker_id: int) -> None:
        store.resign_leader(self.engine, worker_id=worker_id)

    def expired_runs(self, *, limit: int = 500) -> list[store.ExpiredRun]:
        return store.expired_runs(self.engine, limit=limit)

    def rescue_runs(self, *, results: Sequence[store.RunResult]) -> list[str]:
        return store.rescue_runs(self.engine, results=results)

    def delete_stale_workers(self, *, older_than: float) -> int:
        return store.delete_stale_workers(self.engine, older_than=older_than)

    def prune(self, *, older_than: float,
              wait: bool = True) -> tuple[int, int] | None:
        return store.prune(self.engine, older_than=older_than, wait=wait)

    def open_listener(self) -> ListenerLike:
        return store.open_listener(self.engine)

    def take_controls(self, *, run_ids: Sequence[int]) -> list[store.Control]:
        return store.take_controls(self.engine, run_ids=run_ids)

    def append_output(self, *, chunks: Sequence[tuple[str, int, str]]) -> None:
        store.append_output(self.engine, chunks=chunks)

    def delete_finished_output(self, *, older_than: float) -> int:
        return store.delete_finished_output(self.engine, older_than=older_than)

    def enqueue_due_crons(self) -> store.CronPass:
        return store.enqueue_due_crons(self.engine)
