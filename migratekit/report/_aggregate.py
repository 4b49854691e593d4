"""
Reading migratekit's own events back: the streaming aggregation behind
``migratekit report``.

The reader takes JSON lines one at a time and keeps, per migration, stage and
operation, only counters and fixed-size summaries, so a log of any size is
read in bounded memory:

- latency percentiles come from a :class:`LatencyDigest` (every value kept
  while there are few, a logarithmic histogram after that), into which
  the histograms of ``migration.summary`` events merge exactly;
- calls are counted by ``call_id`` through a fixed-size window of recent ids;
- the plot data is a :class:`Timeline` of at most :data:`TIMELINE_BINS` bins;
- distinct diff paths and stage errors are capped.

Two sources count calls: per-call events (``migration.result``,
``migration.op``) and summaries (``migration.summary``, read by
:mod:`~migratekit.report._summaries`). Each call is counted once: a
summary names its ``process``, the prefix of that process's ``call_id``s, so
the per-call events of each process are kept apart (:class:`Entry`), and
those of a process whose summaries were read are left out of the counts,
wherever in the input the summaries came. The same summary read twice (same
process, entry and window) counts once, the second skipped as ``duplicate``.

Nothing read from a line is trusted, and nothing in a line raises. The rule,
field by field:

- A line that is not JSON (bytes that are not UTF-8 are read as U+FFFD first),
  JSON that is not an object, an object whose ``event`` (or ``message``,
  ``msg``) is not one of :data:`EVENT_NAMES` as a string, a line longer than
  :data:`MAX_LINE_BYTES`, or nested too deep to parse: skipped, counted in
  ``skipped_lines`` under its reason.
- A field the event cannot be counted without, missing or invalid, skips the
  line as ``malformed``: ``migration`` (a non-empty string of at most
  :data:`MAX_NAME_CHARS` characters), ``operation``, ``stage``, and for
  results ``origin``, ``ok`` (a JSON boolean) and ``latency_ms`` (a JSON
  number, not a boolean, finite, from 0 to :data:`MAX_LATENCY_MS`); for ops
  ``consistent`` (a boolean or null); for shadow drops ``dropped`` (a whole
  number from 0 to :data:`MAX_COUNT`, 1 when missing).
- An optional field that is invalid counts as missing: ``call_id`` (a
  string), the timestamp (see :func:`parse_timestamp`; outside years 1970 to
  9999 it is no timestamp), ``diff_paths`` (a list of strings; other items
  are dropped), a stage error's descriptive fields (shown as short JSON when
  they are not strings).
- Events of a new migration, stage and operation beyond :data:`MAX_ENTRIES`
  are skipped as ``too_many_migrations``, so that memory stays bounded.
- With *migrations* (``--migration``), events of a migration that matches
  none of the patterns are skipped as ``not_selected``.
- ``types`` of an op event counts as a type mismatch when it is an object;
  its ``old`` and ``new`` name the pair when both are strings. ``ignored``
  counts when it is ``true``: the call is then neither consistent nor
  inconsistent, whatever ``consistent`` says.
- ``migration.reconcile`` and ``migration.stage_change`` are read by
  :mod:`~migratekit.report._history`, which has its own rule (they are
  states: ``--since`` does not leave them out).
- Strings are kept as read, except that lone surrogates (a JSON
  ``"\\ud800"`` escape) become U+FFFD, so that every output can encode them;
  the text and HTML outputs also escape control and bidirectional-formatting
  characters with :func:`printable`, so that a log line cannot drive the
  terminal that shows the report.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from typing import IO, Any

from migratekit.report._constants import (
    CALL_WINDOW,
    EVENT_NAMES,
    MAX_COUNT,
    MAX_ENTRIES,
    MAX_LATENCY_MS,
    MAX_LINE_BYTES,
    MAX_NAME_CHARS,
    MAX_PARTS,
    MAX_PATHS_PER_EVENT,
    MAX_PROCESSES,
    MAX_STAGE_ERRORS,
    MAX_TYPE_NAME_CHARS,
    OP,
    OPERATIONS,
    ORIGINS,
    RESULT,
    SHADOW_DROPPED,
    STAGE_ERROR,
    STAGE_RANK,
    SUMMARY,
)
from migratekit.report._entry import NO_PROCESS, Entry
from migratekit.report._examples import Budget
from migratekit.report._gate import apply_gate, current_of
from migratekit.report._history import ALL, STAGE_CHANGE, History
from migratekit.report._history import EVENTS as HISTORY_EVENTS
from migratekit.report._select import Selection
from migratekit.report._strings import clean
from migratekit.report._summaries import (
    MAX_PROCESS_CHARS,
    Rejected,
    Windows,
    read_summary,
    window_overlaps,
)
from migratekit.report._tally import Tally
from migratekit.report._timestamps import TIMESTAMP_KEYS, finite, parse_timestamp
from migratekit.report._verdict import EntryReport, Report, Thresholds, verdict

_MAX_CALL_ID = 64
_MARKER = b"migration."


# -- the reader ----------------------------------------------------------------------


class CallWindow:
    """The last :data:`CALL_WINDOW` call ids, to count each call once."""

    __slots__ = ("recent", "recent_set")

    def __init__(self) -> None:
        self.recent: deque[str] = deque()
        self.recent_set: set[str] = set()

    def new(self, call_id: Any) -> bool:
        """Whether *call_id* is a string not seen among the last ids (it is remembered)."""
        if not isinstance(call_id, str):
            return False
        if len(call_id) > _MAX_CALL_ID:
            # Remembered by digest: a window of megabyte-long ids would not
            # be bounded memory.
            call_id = hashlib.blake2b(call_id.encode("utf-8", "surrogatepass"),
                                      digest_size=16).hexdigest()
        if call_id in self.recent_set:
            return False
        recent = self.recent
        recent.append(call_id)
        self.recent_set.add(call_id)
        if len(recent) > CALL_WINDOW:
            self.recent_set.discard(recent.popleft())
        return True


def _key(event: dict[str, Any]) -> tuple[str, str, str] | None:
    migration = event.get("migration")
    operation = event.get("operation")
    stage = event.get("stage")
    if type(migration) is not str or not 0 < len(migration) <= MAX_NAME_CHARS:
        return None
    if type(operation) is not str or type(stage) is not str:
        return None
    if operation not in OPERATIONS or len(stage) > 16:
        return None
    stage = stage.lower()
    if stage not in STAGE_RANK:
        return None
    return clean(migration), stage, operation


class Aggregator:
    """
    Reads migratekit events, one JSON line at a time, into per-entry summaries.

    >>> aggregator = Aggregator()
    >>> aggregator.feed([b'{"event": "migration.op", "migration": "users.get", '
    ...                  b'"operation": "read", "stage": "shadow", "consistent": true, '
    ...                  b'"call_id": "ab12cd34-1"}', b"not json"])
    >>> report = aggregator.report()
    >>> report.entries[0].calls, report.skipped_lines
    (1, 1)

    With *since* or *until* (seconds since the epoch), events stamped
    outside [since, until) are skipped as ``outside_window``, and summaries
    whose window does not overlap it; events without a timestamp are kept
    and counted in :attr:`untimed_kept`. With *migrations* (names or shell
    globs), the events of other migrations are skipped as ``not_selected``.
    *resolution* is the window, in samples, that each stage's tail keeps
    fine for the gate: the ``min_samples`` the report will be judged with.

    Calls are counted by distinct ``call_id``, remembering the last
    :data:`CALL_WINDOW` ids: exact as long as the events of one call are less
    than that many lines apart, which they are unless a background shadow
    lags behind by that many events. An op event without a ``call_id``
    counts as one call; a result event without one counts for latency and
    errors only.
    """

    def __init__(self, *, since: float | None = None, until: float | None = None,
                 migrations: Iterable[str] | None = None, resolution: int = 1000) -> None:
        self.entries: dict[tuple[str, str, str], Entry] = {}
        self.selection = Selection(migrations)
        self.resolution = resolution
        self._budget = Budget()
        self.lines = 0
        self.events = 0
        self.skipped: Counter[str] = Counter()
        self.stage_errors: dict[tuple[Any, ...], list[Any]] = {}
        self.stage_errors_other = 0
        self.shadow_dropped: Counter[str] = Counter()
        self.since = since
        self.until = until
        self.untimed_kept = 0
        self.summarised: set[str] = set()
        self.untracked_events = 0
        self._parts = 0
        self._windows: dict[tuple[tuple[str, str, str], str], Windows] = {}
        self.calls = CallWindow()
        self.history = History()

    @property
    def skipped_lines(self) -> int:
        """How many lines were not migratekit events this report reads."""
        return sum(self.skipped.values())

    # -- input -------------------------------------------------------------

    def feed(self, lines: Iterable[bytes | str]) -> None:
        """Read each of *lines* (with or without their line ending)."""
        for line in lines:
            self.feed_line(line)

    def feed_line(self, line: bytes | str) -> None:
        """Read one line; never raises for what the line holds."""
        if isinstance(line, str):
            line = line.encode("utf-8", "replace")
        self.lines += 1
        if len(line) > MAX_LINE_BYTES:
            self.skipped["too_long"] += 1
            return
        if _MARKER not in line:
            self.skipped["blank" if not line.strip() else "other"] += 1
            return
        try:
            event = _loads(line)
        except (ValueError, RecursionError):
            self.skipped["unparsable"] += 1
            return
        if not isinstance(event, dict):
            self.skipped["other"] += 1
            return
        # type() before the set: a list or a dict is not hashable.
        name = event.get("event")
        if type(name) is not str or name not in EVENT_NAMES:
            # An application may rename structlog's "event" key (EventRenamer).
            name = event.get("message", event.get("msg"))
            if type(name) is not str or name not in EVENT_NAMES:
                self.skipped["other"] += 1
                return
        verdict = self._read_event(name, event)
        if verdict is True:
            self.events += 1
        else:
            self.skipped[verdict or "malformed"] += 1

    def too_long(self) -> None:
        """Count a line that was cut off by the reader for being too long."""
        self.lines += 1
        self.skipped["too_long"] += 1

    # -- one event ----------------------------------------------------------

    def _entry(self, key: tuple[str, str, str]) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            if len(self.entries) >= MAX_ENTRIES:
                return None
            entry = self.entries[key] = Entry(key, self.resolution, self._budget)
        return entry

    # Each reader answers True when it counted the event, or the reason it
    # skipped the line: None for "malformed".

    def _read_event(self, name: str, event: dict[str, Any]) -> bool | str | None:
        if self.selection.rejects(event.get("migration")) and not _for_all(name, event):
            return "not_selected"
        if name == SUMMARY:
            return self._read_summary(event)
        when = _timestamp(event)
        if when is None:
            if self.since is not None or self.until is not None:
                self.untimed_kept += 1
        elif (self.since is not None and when < self.since and name not in HISTORY_EVENTS) or \
                (self.until is not None and when >= self.until):
            return "outside_window"
        if name == RESULT:
            return self._read_result(event, when)
        if name == OP:
            return self._read_op(event, when)
        if name == STAGE_ERROR:
            return self._read_stage_error(event)
        if name == SHADOW_DROPPED:
            return self._read_dropped(event)
        return self.history.read(name, event, when, self.lines)

    def _part(self, entry: Entry, call_id: Any) -> Tally:
        """The tally of the process that made *call_id* (the prefix before its ``-``)."""
        process = NO_PROCESS
        if isinstance(call_id, str):
            prefix, dash, _ = call_id.partition("-")
            if dash and 0 < len(prefix) <= MAX_PROCESS_CHARS:
                process = prefix
        if process not in entry.parts and process != NO_PROCESS:
            if self._parts >= MAX_PARTS:
                self.untracked_events += 1
                process = NO_PROCESS
            else:
                self._parts += 1
        return entry.part(process)

    def _read_summary(self, event: dict[str, Any]) -> bool | str | None:
        key = _key(event)
        if key is None:
            return None
        try:
            summary = read_summary(event)
        except Rejected as rejected:
            return rejected.reason
        if not window_overlaps(summary.since, summary.until, self.since, self.until):
            return "outside_window"
        entry = self._entry(key)
        if entry is None:
            return "too_many_migrations"
        windows = self._windows.get((key, summary.process))
        if windows is None:
            if len(self._windows) >= MAX_PROCESSES:
                return "too_many_processes"
            windows = self._windows[(key, summary.process)] = Windows()
        if not windows.add(summary.since, summary.until):
            return "duplicate"
        self.summarised.add(summary.process)
        entry.add_summary(self.lines, summary.since, summary.until, summary.tally)
        return True

    def _read_result(self, event: dict[str, Any], when: float | None) -> bool | str | None:
        key = _key(event)
        origin = event.get("origin")
        ok = event.get("ok")
        latency = event.get("latency_ms")
        # The common case inline; NaN fails the comparison and goes the long way.
        if type(latency) is not float or not 0.0 <= latency <= MAX_LATENCY_MS:
            latency = _latency(latency)
        if key is None or not isinstance(origin, str) or origin not in ORIGINS:
            return None
        if not isinstance(ok, bool) or latency is None:
            return None
        entry = self._entry(key)
        if entry is None:
            return "too_many_migrations"
        call_id = event.get("call_id")
        part = self._part(entry, call_id)
        if self.calls.new(call_id):
            part.calls += 1
        exc_type = event.get("exc_type")
        entry.add_result(self.lines, when, part, origin, ok, latency,
                         clean(exc_type[:200]) if isinstance(exc_type, str) else None, call_id)
        return True

    def _read_op(self, event: dict[str, Any], when: float | None) -> bool | str | None:
        key = _key(event)
        consistent = event.get("consistent")
        if key is None or not (consistent is None or isinstance(consistent, bool)):
            return None
        entry = self._entry(key)
        if entry is None:
            return "too_many_migrations"
        call_id = event.get("call_id")
        part = self._part(entry, call_id)
        if self.calls.new(call_id) or not isinstance(call_id, str):
            part.calls += 1
        if event.get("shadow_dropped") is True:
            part.shadows_dropped += 1
        raw_paths = event.get("diff_paths")
        paths: list[str] = []
        if isinstance(raw_paths, list):
            paths = [
                clean(path[:200])
                for path in raw_paths[:MAX_PATHS_PER_EVENT]
                if isinstance(path, str) and path
            ]
        entry.add_op(self.lines, when, part, consistent,
                     event.get("compare_error") is not None, paths,
                     ignored=event.get("ignored") is True, types=_types(event.get("types")),
                     call_id=call_id)
        return True

    def _read_stage_error(self, event: dict[str, Any]) -> bool | str | None:
        if _name(event.get("migration")) is None:
            return None
        fields = tuple(
            _short(event.get(name))
            for name in ("migration", "provider", "source", "value", "exc_type", "stage")
        )
        found = self.stage_errors.get(fields)
        if found is not None:
            found[0] += 1
        elif len(self.stage_errors) < MAX_STAGE_ERRORS:
            self.stage_errors[fields] = [1, _short(event.get("error"))]
        else:
            self.stage_errors_other += 1
        return True

    def _read_dropped(self, event: dict[str, Any]) -> bool | str | None:
        migration = _name(event.get("migration"))
        dropped = event.get("dropped", 1)
        if migration is None:
            return None
        if isinstance(dropped, bool) or not isinstance(dropped, int):
            return None
        if not 0 <= dropped <= MAX_COUNT:
            return None
        if migration in self.shadow_dropped or len(self.shadow_dropped) < MAX_STAGE_ERRORS:
            self.shadow_dropped[migration] += dropped
        return True

    # -- output ----------------------------------------------------------------

    def report(self, thresholds: Thresholds | None = None) -> Report:
        """The report of everything read so far, with verdicts by *thresholds*."""
        return _report(self, thresholds or Thresholds())


def _report(aggregator: Aggregator, thresholds: Thresholds) -> Report:
    ordered = sorted(
        aggregator.entries.values(),
        key=lambda e: (e.migration, e.operation, STAGE_RANK[e.stage]),
    )
    # The current entry of a migration and operation is the one whose
    # events came last: by time when every event was stamped, else by line.
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in ordered:
        groups.setdefault((entry.migration, entry.operation), []).append(entry)
    latest = {pair: current_of(entries) for pair, entries in groups.items()}
    summarised = aggregator.summarised
    reports = [
        EntryReport.from_entry(entry, thresholds,
                               latest[(entry.migration, entry.operation)] is entry,
                               summarised=summarised)
        for entry in ordered
    ]
    history = aggregator.history
    for report in reports:
        report.reconcile = history.reconcile_of(report.migration)
        report.entered = history.entered(report.migration, report.stage)
        if report.current:
            report.last_change = history.last_change(report.migration)
        if report.reconcile is not None:  # a read in DUALWRITE is judged by it
            report.ready, report.verdict = verdict(report, thresholds)
    by_entry = dict(zip((entry.key for entry in ordered), reports, strict=True))
    for (migration, _), entries in groups.items():
        apply_gate([(entry, by_entry[entry.key]) for entry in entries], thresholds,
                   summarised, entered_at=history.entered_at(migration))
    stage_errors = [
        {
            "migration": fields[0],
            "provider": fields[1],
            "source": fields[2],
            "value": fields[3],
            "exc_type": fields[4],
            "stage": fields[5],
            "error": error,
            "count": count,
        }
        for fields, (count, error) in aggregator.stage_errors.items()
    ]
    return Report(
        entries=reports,
        lines=aggregator.lines,
        events=aggregator.events,
        skipped=dict(aggregator.skipped),
        stage_errors=stage_errors,
        stage_errors_other=aggregator.stage_errors_other,
        shadow_dropped=dict(aggregator.shadow_dropped),
        thresholds=thresholds,
        timelines={entry.key: entry.timeline() for entry in ordered},
        line_timelines={entry.key: entry.line_timeline.points() for entry in ordered},
        since=aggregator.since,
        until=aggregator.until,
        kept_without_timestamp=aggregator.untimed_kept,
        summaries=sum(entry.summaries for entry in ordered),
        summary_processes=len(summarised),
        not_counted_again=sum(report.not_counted_again for report in reports),
        untracked_events=aggregator.untracked_events,
        migrations=list(aggregator.selection.patterns or []) or None,
        unmatched_reconciles=history.unmatched({entry.migration for entry in ordered}),
    )


_decode = json.JSONDecoder().decode


def _loads(line: bytes) -> Any:
    start = line.find(b"{")
    if start > 0:
        # A prefix before the JSON (a syslog or container header): read from the brace.
        line = line[start:]
    # A byte that is not UTF-8 (a Latin-1 error message, a cut multi-byte
    # character) costs that character, not the event.
    return _decode(line.decode("utf-8", "replace"))


def _for_all(name: str, event: dict[str, Any]) -> bool:
    """Whether *event* changes the stage of every migration without one of its own (``*``)."""
    return name == STAGE_CHANGE and event.get("migration") == ALL


def _name(value: Any) -> str | None:
    """A migration name as read from a line, or ``None`` when it is none."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        return None
    return clean(value)


def _latency(value: Any) -> float | None:
    """``latency_ms`` as read from a line, or ``None`` when it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = finite(value)
    if number is None or not 0.0 <= number <= MAX_LATENCY_MS:
        return None
    return number


def _types(value: Any) -> tuple[str, str] | None:
    """An op event's ``types``: the pair of type names, ``?`` for a name that is none."""
    if type(value) is not dict:
        return None
    old, new = value.get("old"), value.get("new")
    return (clean(old[:MAX_TYPE_NAME_CHARS]) if type(old) is str else "?",
            clean(new[:MAX_TYPE_NAME_CHARS]) if type(new) is str else "?")


def _timestamp(event: dict[str, Any]) -> float | None:
    for key in TIMESTAMP_KEYS:
        value = event.get(key)
        if value is not None:
            return parse_timestamp(value)
    return None


def _short(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value[:200]
    else:
        try:
            text = json.dumps(value)[:200]
        except (ValueError, RecursionError):  # an int past str()'s digit limit; deep nesting
            text = f"<{type(value).__name__}>"
    text = clean(text)
    return text if len(text) <= 100 else text[:99] + "…"


# -- reading files ----------------------------------------------------------------------


def iter_lines(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[bytes | None]:
    """
    The lines of a binary *stream*, each at most *limit* bytes long; a longer
    line is read through in pieces and given as ``None``, so that no line is
    ever held whole in memory.
    """
    readline = stream.readline
    while True:
        line = readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line
