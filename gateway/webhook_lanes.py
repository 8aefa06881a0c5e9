"""Which delivery goes next: fair across keys and receivers, in order per message. Pure.

A *lane* is one key's deliveries to one receiver (origin). The webhook worker claims rows per
lane from the store (:meth:`Lanes.plan`) and asks :meth:`Lanes.next_job` for the next one to
start. That answer honours three caps -- in flight over all (``concurrency``), per key
(``per_key``) and per receiver (``per_origin``, shared by every key that posts to it) -- takes
keys in turn (round robin) and each key's lanes in turn, and skips receivers whose breaker is
open. A receiver that never answers therefore holds at most ``per_origin`` slots, and a key
at most ``per_key``: the others flow.

Per message, one delivery at a time: a row of a message that already has one in memory waits
in that message's chain and starts when the one before it finished (done, or failed for
good). When the one before it is to be retried, the rows behind it are handed back to the
store to wait for that retry (:meth:`Lanes.finish` returns them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from smsgw.queue.store.records import Claim, Lane, WebhookJob

__all__ = ["LaneState", "Lanes"]


class LaneState:
    """One (key, origin): jobs ready to start, and what the store may still hold."""

    __slots__ = ("due_at", "held", "key", "more", "origin", "ready")

    def __init__(self, key: str, origin: str) -> None:
        self.key = key
        self.origin = origin
        self.ready: deque[WebhookJob] = deque()
        self.held = 0
        """Jobs of this lane in memory: ready, in flight, or waiting in a message's chain."""
        self.more = False
        """The store may hold rows due now (new rows were committed, or a claim came back
        full)."""
        self.due_at: float | None = None
        """Wall time the earliest row left in the store is due (None: none known)."""


class Lanes:
    """The worker's in-memory view; see the module docstring."""

    def __init__(self, *, concurrency: int, per_key: int, per_origin: int) -> None:
        self.concurrency = concurrency
        self.per_key = per_key
        self.per_origin = per_origin
        self.lanes: dict[Lane, LaneState] = {}
        self._keys: deque[str] = deque()
        self._key_lanes: dict[str, deque[LaneState]] = {}
        self._chains: dict[int, deque[WebhookJob]] = {}
        self.in_flight = 0
        self._key_flight: dict[str, int] = {}
        self.origin_flight: dict[str, int] = {}
        self._key_held: dict[str, int] = {}
        self.retrying: dict[int, float] = {}
        """Messages whose delivery is to be retried (wall time) and the store does not know
        yet: a claim already under way may bring their later rows, which must wait too."""

    def lane(self, key: str, origin: str) -> LaneState:
        state = self.lanes.get((key, origin))
        if state is None:
            state = self.lanes[key, origin] = LaneState(key, origin)
            if key not in self._key_lanes:
                self._key_lanes[key] = deque()
                self._keys.append(key)
            self._key_lanes[key].append(state)
        return state

    def held(self, key: str) -> int:
        return self._key_held.get(key, 0)

    # -- claiming ----------------------------------------------------------------------

    def room(self, lane: LaneState) -> int:
        """How many more rows the lane may take from the store: four times what its receiver
        may have in flight, and eight times a key's share over all its lanes (enough to keep
        the slots busy between two store steps)."""
        return min(4 * self.per_origin - lane.held, 8 * self.per_key - self.held(lane.key))

    def ready_total(self) -> int:
        """Jobs taken and waiting for a slot."""
        return sum(len(state.ready) for state in self.lanes.values())

    def plan(self, now: float, paused: Callable[[str], bool], most: int = 64) -> list[Claim]:
        """Claims for lanes that may have rows due and have room (at most ``most`` lanes,
        the ones that waited longest first)."""
        claims: list[Claim] = []
        for state in self.lanes.values():
            if not (state.more or (state.due_at is not None and state.due_at <= now)):
                continue
            room = self.room(state)
            if room <= 0 or paused(state.origin):
                continue
            claims.append(Claim(state.key, state.origin, room))
            state.more = False
            if len(claims) >= most:
                break
        return claims

    def claimed(
        self, claim: Claim, jobs: list[WebhookJob], next_at: float | None
    ) -> list[tuple[WebhookJob, float]]:
        """Take in what a claim returned. Returns the jobs to hand back at once, with the
        time they may be due: later rows of a message whose retry the store does not know of
        yet (the claim ran before it was recorded).

        ``next_at`` is the store's view when the claim ran. Whatever marked the lane
        :attr:`~LaneState.more` while the claim was under way (a commit it may not have
        seen, an attempt that ended and is to be retried or handed back) is newer than that
        view, so the mark stays: the next step claims the lane again and learns when those
        rows are due. Clearing it lost them -- a retry that nothing else woke was never
        attempted."""
        state = self.lane(claim.key, claim.origin)
        state.more = state.more or len(jobs) >= claim.limit
        state.due_at = next_at
        back: list[tuple[WebhookJob, float]] = []
        for job in jobs:
            if job.mid is not None and job.mid in self.retrying:
                back.append((job, self.retrying[job.mid]))
                continue
            self._hold(state, job)
            if job.mid is not None:
                chain = self._chains.get(job.mid)
                if chain is not None:
                    chain.append(job)
                    continue
                self._chains[job.mid] = deque()
            state.ready.append(job)
        return back

    def _hold(self, state: LaneState, job: WebhookJob, n: int = 1) -> None:
        state.held += n
        self._key_held[job.key] = self._key_held.get(job.key, 0) + n

    def forget_idle(self) -> None:
        """Drop lanes with nothing in memory and nothing known in the store."""
        for lane, state in list(self.lanes.items()):
            if not state.held and not state.more and state.due_at is None:
                del self.lanes[lane]
                self._key_lanes[state.key].remove(state)

    # -- starting ----------------------------------------------------------------------

    def next_job(self, blocked: Callable[[str], bool]) -> WebhookJob | None:
        """The next job to start under the caps (its slot is taken), or None.

        ``blocked(origin)`` is True for a receiver that must not get a delivery now.
        """
        if self.in_flight >= self.concurrency:
            return None
        keys = self._keys
        for _ in range(len(keys)):
            key = keys[0]
            keys.rotate(-1)
            if self._key_flight.get(key, 0) >= self.per_key:
                continue
            lanes = self._key_lanes[key]
            for _ in range(len(lanes)):
                state = lanes[0]
                lanes.rotate(-1)
                if not state.ready or self.origin_flight.get(state.origin, 0) >= self.per_origin:
                    continue
                if blocked(state.origin):
                    continue
                job = state.ready.popleft()
                self.in_flight += 1
                self._key_flight[key] = self._key_flight.get(key, 0) + 1
                self.origin_flight[state.origin] = self.origin_flight.get(state.origin, 0) + 1
                return job
        return None

    # -- finishing ---------------------------------------------------------------------

    def finish(self, job: WebhookJob, *, retry_at: float | None = None) -> list[WebhookJob]:
        """The job's attempt ended (its slot is free). When it is to be retried (at wall
        time ``retry_at``) its message's later rows are returned, to be handed back to the
        store; otherwise the next of them, if any, is ready to start at the head of its
        lane. Either way the lane is marked :attr:`~LaneState.more`: the store may now hold
        rows of it that may go (the retried row, rows handed back, rows that waited behind
        this one), and only a claim tells when."""
        self.in_flight -= 1
        self._key_flight[job.key] -= 1
        self.origin_flight[job.origin] -= 1
        if not self.origin_flight[job.origin]:
            del self.origin_flight[job.origin]
        state = self.lane(job.key, job.origin)
        state.more = True
        self._hold(state, job, -1)
        if job.mid is None:
            return []
        chain = self._chains.pop(job.mid, None) or deque()
        if retry_at is not None:
            self.retrying[job.mid] = retry_at
            self._hold(state, job, -len(chain))
            return list(chain)
        if chain:
            nxt = chain.popleft()
            self._chains[job.mid] = chain
            state.ready.appendleft(nxt)
        return []

    def release_origin(self, origin: str) -> list[WebhookJob]:
        """Take back every job not started for ``origin`` (its breaker opened), with the rows
        chained behind them, to be handed back to the store."""
        out: list[WebhookJob] = []
        for state in self.lanes.values():
            if state.origin != origin or not state.ready:
                continue
            taken: list[WebhookJob] = []
            for job in state.ready:
                taken.append(job)
                if job.mid is not None:
                    taken.extend(self._chains.pop(job.mid, ()))
            state.ready.clear()
            state.more = True  # its rows wait in the store again: claim once it may
            state.held -= len(taken)
            self._key_held[state.key] -= len(taken)
            out.extend(taken)
        return out
