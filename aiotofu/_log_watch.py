"""``client.logs.watch()``: follow runs as the API receives them, and hand out each new run's
log lines, once.

A log line's ``created_at`` is the station's clock when it logged the line, not the time the API
received it: a run uploaded after one that started later, or any run of a station whose clock is
ahead, sorts behind (or far ahead of) what a watch by ``created_at`` has reached, and such a
watch never yields it. What the server records on arrival is the run's ``created_at``, its
upload time, and a run is uploaded with all its lines at once. So a log watch is a watch of
runs by upload time (``EndpointEngine.watch`` on the runs endpoint: exactly once, ties, look-back,
resume), narrowed by the log filters that are run filters, and, for each run it yields, a
listing of that run's lines (``run_ids=[run.id]`` with every filter of the watch, oldest
first), complete when the run is seen.

Where it stands (``LogWatchState``, and the resume token): the runs watch's position just after
the run whose lines are being handed out, and the position of the listing of those lines
(between runs, the runs watch's position alone). Both are composed through their public
surfaces (``Watcher.state`` / ``token_at``, ``Paginator.position`` / ``resume_token``), so a
token holds two bounded tokens and nothing of their insides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from ._endpoint import Query
from ._filters import check_int
from ._listings import EndpointEngine
from ._models import Log, Run
from ._options import MAX_PAGE_SIZE
from ._pagestate import Position
from ._paginate import Paginator
from ._tokens import LogWatchToken, decode_payload, decode_token, encode_payload, encode_token
from ._watch import Watcher, WatchState
from .endpoints import RUNS, LogFilters, RunFilters
from .endpoints.logs import LINE_FILTERS, RUN_FILTERS
from .errors import InvalidParameterError, StateError

__all__ = ["LINE_FILTERS", "RUN_FILTERS", "LogWatchState", "LogWatcher", "watch_logs"]


_RESOURCE = "logs-watch"
_NAME = "resume_token"


@attrs.frozen(kw_only=True)
class LogWatchState(WatchState):
    """Where a log watch stands. As a ``WatchState`` it is its runs watch's position (``since``:
    the upload time of the newest run dealt with), which ``runs`` holds as such; ``run_id`` is
    the run whose lines are being handed out and ``lines`` where their listing stands (both None
    between runs)."""

    runs: WatchState
    run_id: str | None = None
    lines: Position | None = None

    @classmethod
    def of(cls, runs: WatchState, run_id: str | None, lines: Position | None) -> LogWatchState:
        """The state of a log watch whose runs watch stands at ``runs``."""
        # Every field of the runs watch's state, whatever they are: this one reads as it does.
        fields = {
            field.alias or field.name: getattr(runs, field.name)
            for field in attrs.fields(WatchState)
            if field.init
        }
        return cls(**fields, runs=runs, run_id=run_id, lines=lines)


class LogWatcher(Watcher[Log]):
    """An endless async iterator of the log lines of new runs: runs oldest upload first, each
    run's lines oldest first, every line once; ``async with`` it to stop cleanly.

    ``resume_token`` marks the last line handed out: ``client.logs.watch(resume_token=...)``
    picks up there, in this process or another.
    """

    # The whole surface of Watcher is overridden (tests/unit/test_log_watch.py holds that), and
    # Watcher.__init__ is not called: its machinery is the runs watch's, composed, not inherited.
    def __init__(
        self,
        *,
        logs: EndpointEngine[Log, LogFilters],
        filters: LogFilters,
        page_size: int,
        runs: Watcher[Run],
        run_id: str | None = None,
        lines: Paginator[Log] | None = None,
    ) -> None:
        self._logs = logs
        self._filters = filters
        self._page_size = page_size
        self._runs = runs
        self._run_id = run_id
        self._lines = lines
        self._closed = False

    def __aiter__(self) -> LogWatcher:
        return self

    async def __anext__(self) -> Log:
        while not self._closed:
            if self._lines is None:
                run = await self._runs.__anext__()
                # No await between taking the run and starting on its lines: the state never
                # says a run was taken without saying where its lines stand.
                self._start_run(run.id, Position(0))
                continue
            try:
                return await self._lines.__anext__()
            except StopAsyncIteration:
                if self._closed:  # closed by another task: the run is not finished
                    break
            lines, self._lines, self._run_id = self._lines, None, None
            await lines.aclose()
        raise StopAsyncIteration

    def _start_run(self, run_id: str, position: Position) -> None:
        """Start on the lines of run ``run_id`` from ``position``, or skip the run if the
        watch's own ``run_ids`` leave it out."""
        wanted = self._filters.run_ids
        if wanted is not None and run_id not in wanted:
            return
        self._run_id = run_id
        self._lines = self._lines_listing(run_id, position, prefetch=1)

    def _lines_listing(self, run_id: str, position: Position, *, prefetch: int) -> Paginator[Log]:
        return self._logs.paginate(
            lines_query(self._logs, self._filters, run_id),
            page_size=self._page_size,
            max_items=None,
            prefetch=prefetch,
            start=position,
        )

    @property
    def since(self) -> datetime | None:
        """The upload time the watch has reached: fixed when it is entered (``async with``) or
        first iterated, then the ``created_at`` of the newest run whose lines were handed out.
        None before it starts, or while the organisation has no run at all.

        ``client.runs.list(created_before=watcher.since)`` lists the runs uploaded up to where
        the watch begins, whose lines ``client.logs.list(run_ids=...)`` lists.
        """
        return self._runs.since

    @property
    def state(self) -> LogWatchState | None:
        """Where the watch stands (None before it has started)."""
        runs = self._runs.state
        if runs is None:
            return None
        lines = None if self._lines is None else self._lines.position
        return LogWatchState.of(runs, self._run_id, lines)

    @property
    def resume_token(self) -> str:
        """An opaque token for the position just after the last line handed out."""
        return self.token_at(self.state)

    def token_at(self, state: WatchState | None) -> str:
        """The resume token of ``state`` (for wrappers that hand lines out themselves)."""
        if state is None:
            raise StateError("the watch has not started: there is nothing to resume yet")
        if not isinstance(state, LogWatchState):
            raise StateError("not the state of a watch of log lines")
        lines = None
        if state.run_id is not None and state.lines is not None:
            listing = self._lines_listing(state.run_id, state.lines, prefetch=0)
            lines = decode_token(listing.resume_token)
        return encode_payload(
            LogWatchToken(
                resource=_RESOURCE,
                query=self._watch_query().to_json(),
                page_size=self._page_size,
                runs=decode_token(self._runs.token_at(state.runs)),
                lines=lines,
            )
        )

    def _watch_query(self) -> Query[LogFilters]:
        return self._logs.endpoint.query(self._filters, sort_by="created_at", sort_order="asc")

    async def __aenter__(self) -> LogWatcher:
        """Fix the start here: the lines of every run uploaded from now on are yielded, however
        long the caller works on something else before iterating."""
        await self._runs.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop watching: cancel the listing of lines and the poll of runs in flight. The
        position stays: ``resume_token`` still says where the watch stopped."""
        self._closed = True
        if self._lines is not None:
            await self._lines.aclose()
        await self._runs.aclose()

    def __repr__(self) -> str:
        if self._runs.state is None:
            return "<aiotofu.Watcher of logs, not started>"
        where = f", in run {self._run_id}" if self._run_id is not None else ""
        return f"<aiotofu.Watcher of logs of runs uploaded since {self._runs.since}{where}>"


def lines_query(
    logs: EndpointEngine[Log, LogFilters], filters: LogFilters, run_id: str
) -> Query[Any]:
    """The listing of one run's lines that match ``filters``: oldest first."""
    one_run = attrs.evolve(filters, run_ids=(run_id,))
    return logs.endpoint.query(one_run, sort_by="created_at", sort_order="asc")


def run_filters(filters: LogFilters) -> RunFilters:
    """The runs whose lines can match ``filters``: those its run filters match."""
    values = {run: getattr(filters, log) for log, run in RUN_FILTERS.items()}
    return RunFilters(**{name: value for name, value in values.items() if value is not None})


def watch_logs(
    logs: EndpointEngine[Log, LogFilters],
    filters: LogFilters,
    *,
    poll_interval: float,
    since: datetime | None,
    page_size: int,
    resume_token: str | None,
    lookback: timedelta | float,
) -> LogWatcher:
    """A watch of the lines of new runs that match ``filters``, or one resumed from its token
    (which carries the filters). Every argument is checked here, before any request."""
    runs: EndpointEngine[Run, RunFilters] = EndpointEngine(RUNS, logs.requester)
    if resume_token is not None:
        named = ["since"] * (since is not None) + list(filters.to_json())
        if named:
            raise InvalidParameterError(
                named[0], "the resume token carries the filters and the position"
            )
        if lookback:
            raise InvalidParameterError("lookback", "the resume token carries the look-back")
        return _resume(logs, runs, resume_token, poll_interval)
    watcher = runs.watch(
        run_filters(filters),
        poll_interval=poll_interval,
        since=since,
        page_size=page_size,
        lookback=lookback,
    )
    return LogWatcher(logs=logs, filters=filters, page_size=page_size, runs=watcher)


def _resume(
    logs: EndpointEngine[Log, LogFilters],
    runs: EndpointEngine[Run, RunFilters],
    token: str,
    poll_interval: float,
) -> LogWatcher:
    """The watch a log watch's token describes, every part of it checked again."""
    if decode_token(token, _NAME).get("resource") != _RESOURCE:
        raise InvalidParameterError(_NAME, "not a resume token of a watch of logs")
    payload = decode_payload(token, LogWatchToken, resource=_RESOURCE, name=_NAME)
    try:
        # What the token says is checked as arguments are, but it is the token that is wrong.
        filters = Query.from_json(logs.endpoint, payload.query, _NAME).filters
        page_size = check_int("page_size", payload.page_size, 1, MAX_PAGE_SIZE)
    except InvalidParameterError as exc:
        if exc.parameter == _NAME:
            raise
        raise InvalidParameterError(_NAME, f"not a valid resume token ({exc})") from None
    # It names the resume token itself (and checks poll_interval, under its own name).
    runs_watcher = runs.resume_watch(encode_token(payload.runs), poll_interval=poll_interval)
    run_id, listing = None, None
    if payload.lines is not None:
        run_id = _run_of(payload.lines)
        # The listing of lines must be the one this watch makes for that run.
        expected = lines_query(logs, filters, run_id).to_json()
        if payload.lines.get("query") != expected or payload.lines.get("page_size") != page_size:
            raise InvalidParameterError(_NAME, "not a valid resume token (lines of another run)")
        try:
            listing = logs.resume(encode_token(payload.lines), prefetch=1)
        except InvalidParameterError as exc:
            raise InvalidParameterError(_NAME, f"not a valid resume token ({exc})") from None
    return LogWatcher(
        logs=logs,
        filters=filters,
        page_size=page_size,
        runs=runs_watcher,
        run_id=run_id,
        lines=listing,
    )


def _run_of(lines: Mapping[str, Any]) -> str:
    """The one run a token's listing of lines is of."""
    query = lines.get("query")
    run_ids = query.get("run_ids") if isinstance(query, Mapping) else None
    if not (isinstance(run_ids, list) and len(run_ids) == 1 and isinstance(run_ids[0], str)):
        raise InvalidParameterError(_NAME, "not a valid resume token (lines of no single run)")
    return run_ids[0]
