"""Group commit: the scans of many lanes decided in batches, one commit per batch.

Every answer waits for its event to be committed, and a commit costs about as
much as deciding a scan; the signature check costs more than either, but runs
in C without holding the GIL. So a scan goes through three stages:

1. the event loop hands it in and awaits its answer (nothing else is done there);
2. one of a few worker threads prepares it (checks its code's signature), with
   no lock held, so the checks of many scans run on all cores at once;
3. one writer thread takes every prepared scan that is next in arrival order,
   decides them in that order and commits them in one transaction (`run`), and
   only then hands their answers back to the event loop.

A lane alone never waits for a batch to fill: the writer takes the one scan that
is ready. While it decides and commits, the next scans are being prepared and
queue up; so the busier the gates, the larger the batches and the fewer the
commits per scan.

The batcher knows nothing of scans: `prepare` and `run` are given, and `run`
gives back one outcome per item (its result, or the exception its caller gets).
Threads start on the first `submit` and stop on `close`; an answer goes back to
the event loop its caller awaits on, so successive `asyncio.run`s may share one.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from vistapass.platform.logging import get_logger

log = get_logger(__name__)

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")
Result = TypeVar("Result")


class Closed(RuntimeError):
    """`submit` after `close`."""


class GroupCommit(Generic[Item, Prepared, Result]):
    """Prepare items on `workers` threads, then `run` them in batches on one writer thread."""

    def __init__(
        self,
        prepare: Callable[[Item], Prepared],
        run: Callable[[Sequence[Prepared]], list[Result | BaseException]],
        *,
        workers: int,
        name: str,
    ) -> None:
        self._prepare, self._run = prepare, run
        self._workers, self._name = workers, name
        self._intake: queue.SimpleQueue[tuple[int, Item, asyncio.Future[Result]] | None] = (
            queue.SimpleQueue()
        )
        # Prepared items by arrival number, until the writer takes them in order.
        self._ready: dict[int, tuple[Prepared | BaseException, asyncio.Future[Result]]] = {}
        self._ready_changed = threading.Condition()
        self._submitted = 0  # arrival numbers given out
        self._next = 0  # the arrival number the writer takes next
        self._submitting = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._closed = False
        self.batches = 0  # batches run and items in them: how well commits are shared
        self.items = 0

    async def submit(self, item: Item) -> Result:
        """The item's result, once its batch is committed."""
        answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        with self._submitting:
            if self._closed:
                raise Closed(f"{self._name} is closed")
            if not self._threads:
                self._start()
            # Numbered and queued together, so numbers are in queue order.
            self._intake.put((self._submitted, item, answer))
            self._submitted += 1
        return await answer

    @property
    def backlog(self) -> int:
        """Items submitted that the writer has not taken yet."""
        return self._submitted - self._next

    @property
    def waiting(self) -> int:
        """Items prepared, waiting for the writer (or for an earlier item's preparation)."""
        with self._ready_changed:
            return len(self._ready)

    def close(self) -> None:
        """Answer every item submitted so far, then stop the threads."""
        with self._submitting:
            self._closed = True
            threads, self._threads = self._threads, []
        if not threads:
            return
        *workers, writer = threads
        for _ in workers:
            self._intake.put(None)
        for thread in workers:
            thread.join()
        with self._ready_changed:
            self._stopping = True
            self._ready_changed.notify()
        writer.join()

    def _start(self) -> None:
        self._threads = [
            threading.Thread(target=self._preparing, name=f"{self._name}-{n}", daemon=True)
            for n in range(self._workers)
        ]
        self._threads.append(
            threading.Thread(target=self._writing, name=f"{self._name}-writer", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    def _preparing(self) -> None:
        while (entry := self._intake.get()) is not None:
            number, item, answer = entry
            prepared: Prepared | BaseException
            try:
                prepared = self._prepare(item)
            except Exception as exc:  # the caller's to see, like any failure of `run`
                prepared = exc
            with self._ready_changed:
                self._ready[number] = (prepared, answer)
                if number == self._next:
                    self._ready_changed.notify()

    def _writing(self) -> None:
        while batch := self._take():
            try:
                settled = self._decided(batch)
            except Exception as exc:
                # `run` answers per item and should never raise; if it does, it has
                # answered none, and every caller gets the failure.
                settled = [(answer, exc) for _, answer in batch]
            self.batches += 1
            self.items += len(batch)
            self._hand_back(settled)

    def _decided(
        self, batch: list[tuple[Prepared | BaseException, asyncio.Future[Result]]]
    ) -> list[tuple[asyncio.Future[Result], Result | BaseException]]:
        items = [prepared for prepared, _ in batch if not isinstance(prepared, BaseException)]
        outcomes = self._run(items)
        if len(outcomes) != len(items):
            raise RuntimeError(f"{len(outcomes)} outcomes for {len(items)} items")
        ordered = iter(outcomes)
        return [
            (answer, prepared if isinstance(prepared, BaseException) else next(ordered))
            for prepared, answer in batch
        ]

    def _take(self) -> list[tuple[Prepared | BaseException, asyncio.Future[Result]]]:
        """The prepared items next in arrival order, waiting for at least one; [] to stop."""
        with self._ready_changed:
            while self._next not in self._ready and not self._stopping:
                self._ready_changed.wait()
            batch = []
            while self._next in self._ready:
                batch.append(self._ready.pop(self._next))
                self._next += 1
            return batch

    @staticmethod
    def _hand_back(settled: list[tuple[asyncio.Future[Result], Result | BaseException]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Result], object]]] = {}
        for answer, outcome in settled:
            by_loop.setdefault(answer.get_loop(), []).append((answer, outcome))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, answers)
            except RuntimeError:
                # The loop is closed: no one awaits these answers any more. Their
                # events are committed, as for a caller that gave up waiting.
                log.warning("gate_edge.answers_dropped", count=len(answers))


def _settle(answers: list[tuple[asyncio.Future[object], object]]) -> None:
    for answer, outcome in answers:
        if answer.done():  # its caller was cancelled
            continue
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)
