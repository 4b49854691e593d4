"""
Reading migratekit's own events back: the streaming aggregation behind
``migratekit report``.

The reader takes JSON lines one at a time and keeps, per migration, stage and
operation, only counters and fixed-size summaries, so a log of any size is
read in bounded memory:

- latency percentiles come from a :class:`LatencyDigest` (every value kept
  while there are few, a logarithmic histogram after that);
- calls are counted by ``call_id`` through a fixed-size window of recent ids;
- the plot data is a :class:`Timeline` of at most :data:`TIMELINE_BINS` bins;
- distinct diff paths and stage errors are capped.

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
- Strings are kept as read, except that lone surrogates (a JSON
  ``"\\ud800"`` escape) become U+FFFD, so that every output can encode them;
  the text and HTML outputs also escape control and bidirectional-formatting
  characters with :func:`printable`, so that a log line cannot drive the
  terminal that shows the report.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import itertools
import json
import math
import re
from array import array
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from typing import IO, Any

__all__ = [
    "EVENT_NAMES",
    "STAGES",
    "Aggregator",
    "Entry",
    "EntryReport",
    "LatencyDigest",
    "Report",
    "Thresholds",
    "Timeline",
    "format_text",
    "iter_lines",
    "parse_timestamp",
    "printable",
    "wilson_interval",
]

RESULT = "migration.result"
OP = "migration.op"
STAGE_ERROR = "migration.stage_error"
SHADOW_DROPPED = "migration.shadow_dropped"
EVENT_NAMES = frozenset({RESULT, OP, STAGE_ERROR, SHADOW_DROPPED})

STAGES = ("off", "dualwrite", "shadow", "live", "rampdown", "complete")
_STAGE_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
_NEXT_STAGE = dict(itertools.pairwise(STAGES))
_OPERATIONS = ("read", "write")
_ORIGINS = ("old", "new")

# Which sides run, per operation and stage (DESIGN.md's stage table): the
# report needs it to tell "the new side never ran here" from "no data".
_NEW_RUNS = {
    "read": {"shadow", "live", "rampdown", "complete"},
    "write": {"dualwrite", "shadow", "live", "rampdown", "complete"},
}
_COMPARED = {"shadow", "live"}

MAX_LINE_BYTES = 1 << 20
"""Longer lines are skipped (and counted) without being held in memory."""

CALL_WINDOW = 1 << 16
"""How many recent ``call_id``s are remembered to count each call once."""

TIMELINE_BINS = 96
"""At most this many bins per timeline; the bin width doubles to keep within it."""

MAX_DIFF_PATHS = 256
"""Distinct diff paths kept per entry; the rest are counted as ``(other paths)``."""

MAX_PATHS_PER_EVENT = 32
MAX_STAGE_ERRORS = 256

MAX_ENTRIES = 10_000
"""Distinct (migration, stage, operation) kept; events of more are skipped and counted."""

MAX_NAME_CHARS = 512
"""A longer migration name is no migration name: the line is malformed."""

MAX_LATENCY_MS = 365 * 24 * 3600 * 1000.0
"""A year: a larger ``latency_ms`` is no latency, and the line is malformed."""

MAX_COUNT = 1 << 53
"""The largest count (``dropped``) one event may carry: the largest exact JSON integer."""

_MAX_CALL_ID = 64
# The first second of the year 10000: datetime's range, and far enough.
_MAX_EPOCH = 253402300800.0
_MARKER = b"migration."


# -- the thresholds of the verdict ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """
    When a migration is ready for its next stage.

    *max_inconsistency*: the largest share of comparisons that may disagree
    (0.001 is 0.1%). *min_samples*: how many comparisons (for reads in SHADOW
    and LIVE) or calls of the new side (otherwise) are needed before any
    verdict but ``hold``. *max_latency_ratio*: how much slower the new side's
    p99 may be than the old side's. *max_error_rate*: how much more often the
    new side may fail than the old side in the same stage (its whole error
    rate when the old side did not run). *latency_floor_ms*: latencies below
    this count as this much when comparing them, because timer noise and
    scheduling dominate sub-millisecond timings.
    """

    max_inconsistency: float = 0.001
    min_samples: int = 1000
    max_latency_ratio: float = 1.5
    max_error_rate: float = 0.01
    latency_floor_ms: float = 1.0


# -- latency percentiles in bounded memory ---------------------------------------


class LatencyDigest:
    """
    Percentiles of a stream of latencies in bounded memory.

    Up to :attr:`EXACT_LIMIT` values are kept as they are (8 bytes each), and
    percentiles are exact: the *nearest-rank* value, ``sorted(values)[ceil(p
    / 100 * n) - 1]``, always a value that was seen. Past that, the values
    move into a logarithmic histogram (the DDSketch layout): bucket ``i``
    holds the values in ``(gamma**(i-1), gamma**i]`` with ``gamma = 1.01 /
    0.99``, so a percentile is known within 1% of its value, whatever the
    distribution, with one bucket per 2% of range: about 1,400 buckets from
    a microsecond to a day. Zero and negative values (a clock that went back)
    are counted apart, as zero.
    """

    EXACT_LIMIT = 4096
    RELATIVE_ACCURACY = 0.01
    _GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
    _LOG_GAMMA = math.log(_GAMMA)

    __slots__ = ("_buckets", "_values", "_zeros", "count", "maximum", "total")

    def __init__(self) -> None:
        self._values: array[float] | None = array("d")
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0

    @property
    def exact(self) -> bool:
        """Whether percentiles are exact (every value is still kept)."""
        return self._values is not None

    def add(self, value: float) -> None:
        """Add one latency, in milliseconds."""
        self.count += 1
        self.total += value
        self.maximum = max(self.maximum, value)
        values = self._values
        if values is not None:
            values.append(value)
            if len(values) > self.EXACT_LIMIT:
                self._values = None
                for kept in values:
                    self._bucket(kept)
            return
        self._bucket(value)

    def _bucket(self, value: float) -> None:
        if value <= 0.0:
            self._zeros += 1
            return
        index = math.ceil(math.log(value) / self._LOG_GAMMA)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def percentile(self, p: float) -> float | None:
        """The *p*-th percentile (0 < p <= 100), or ``None`` when nothing was added."""
        n = self.count
        if n == 0:
            return None
        rank = max(1, math.ceil(p / 100.0 * n))
        values = self._values
        if values is not None:
            return sorted(values)[rank - 1]
        seen = self._zeros
        if seen >= rank:
            return 0.0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                # The middle of the bucket, in relative terms: within
                # RELATIVE_ACCURACY of every value the bucket holds; never
                # above the largest value seen.
                estimate = 2.0 * self._GAMMA**index / (self._GAMMA + 1.0)
                return min(estimate, self.maximum)
        return self.maximum  # pragma: no cover - the counts always add up to n

    def buckets(self) -> int:
        """How many histogram buckets are in use (0 while exact)."""
        return len(self._buckets)


# -- consistency and latency over time ------------------------------------------


class Timeline:
    """
    Per-bin sums over an axis (seconds since the epoch, or line numbers), in
    at most :data:`TIMELINE_BINS` bins.

    Bin ``i`` covers ``[i * width, (i + 1) * width)``. When a point falls so
    far from the others that more bins would be needed, the width doubles and
    neighbouring bins merge (``i // 2``), so memory stays fixed however long
    the log and however the points arrive (several processes' logs
    interleaved are not in order).
    """

    __slots__ = ("_bins", "width")

    # checks, inconsistent, old count, old latency sum, new count, new latency sum,
    # new errors
    _FIELDS = 7

    def __init__(self, width: float) -> None:
        self.width = width
        self._bins: dict[int, list[float]] = {}

    def _bin(self, x: float) -> list[float]:
        index = math.floor(x / self.width)
        found = self._bins.get(index)
        if found is not None:
            return found
        bins = self._bins
        if bins:
            low = min(index, *bins)
            high = max(index, *bins)
            while high - low >= TIMELINE_BINS:
                self._merge()
                index //= 2
                low //= 2
                high //= 2
                found = self._bins.get(index)
                if found is not None:
                    return found
        new = [0.0] * self._FIELDS
        self._bins[index] = new
        return new

    def _merge(self) -> None:
        merged: dict[int, list[float]] = {}
        for index, values in self._bins.items():
            into = merged.get(index // 2)
            if into is None:
                merged[index // 2] = values
            else:
                for field in range(self._FIELDS):
                    into[field] += values[field]
        self._bins = merged
        self.width *= 2

    def add_check(self, x: float, consistent: bool) -> None:
        """Record one comparison at *x*."""
        values = self._bin(x)
        values[0] += 1
        if not consistent:
            values[1] += 1

    def add_result(self, x: float, origin: str, latency_ms: float, ok: bool) -> None:
        """Record one side's result at *x*."""
        values = self._bin(x)
        if origin == "old":
            values[2] += 1
            values[3] += latency_ms
        else:
            values[4] += 1
            values[5] += latency_ms
            if not ok:
                values[6] += 1

    def points(self) -> list[dict[str, Any]]:
        """
        The bins in order: ``start``, ``end``, ``checks``, ``inconsistent``,
        ``consistency`` (or ``None`` without checks), ``old_mean_ms`` and
        ``new_mean_ms`` (or ``None``), ``old_count``, ``new_count``, ``new_errors``.
        """
        out: list[dict[str, Any]] = []
        for index in sorted(self._bins):
            checks, bad, n_old, sum_old, n_new, sum_new, errors = self._bins[index]
            out.append(
                {
                    "start": index * self.width,
                    "end": (index + 1) * self.width,
                    "checks": checks,
                    "inconsistent": bad,
                    "consistency": (checks - bad) / checks if checks else None,
                    "old_mean_ms": sum_old / n_old if n_old else None,
                    "new_mean_ms": sum_new / n_new if n_new else None,
                    "old_count": n_old,
                    "new_count": n_new,
                    "new_errors": errors,
                }
            )
        return out


# -- timestamps ------------------------------------------------------------------

_TIMESTAMP_KEYS = ("timestamp", "time", "ts", "@timestamp", "asctime")
_ISO = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d\d:?\d\d)?\s*\Z"
)


def parse_timestamp(value: Any) -> float | None:
    """
    Seconds since the epoch for any of structlog's usual timestamp forms, or
    ``None``.

    Accepts ISO 8601 (``TimeStamper(fmt="iso")``, with ``Z``, an offset, or
    none, which is taken as UTC), a space instead of the ``T`` and a comma
    before the fraction (``logging``'s ``asctime``), and epoch numbers
    (``TimeStamper()``), also as strings, in seconds, milliseconds or
    microseconds. A moment before 1970 or from the year 10000 on is ``None``,
    as is anything else: this never raises.
    """
    seconds = _seconds(value)
    if seconds is None or not 0.0 <= seconds < _MAX_EPOCH:
        return None
    return seconds


def _seconds(value: Any) -> float | None:
    if value.__class__ is str:
        if len(value) > 64:
            return None
        if value[4:5] == "-":
            # The common case, structlog's ISO stamp: the C parser first
            # (Python 3.11 reads "Z" and any fraction), the pattern after.
            try:
                moment = _fromisoformat(value)
            except ValueError:
                return _parse_iso(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_dt.timezone.utc)
            return moment.timestamp()
        try:
            return _epoch(float(value))
        except ValueError:
            return _parse_iso(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = _finite(value)
        return None if number is None else _epoch(number)
    return None


def _finite(value: int | float) -> float | None:
    """*value* as a finite float, or ``None`` (NaN, infinities, ints beyond float's range)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


_fromisoformat = _dt.datetime.fromisoformat


def _parse_iso(value: str) -> float | None:
    match = _ISO.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = _dt.datetime(
            int(year), int(month), int(day),
            int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=_zone(zone),
        )  # fmt: skip
    except (ValueError, OverflowError):
        return None
    return moment.timestamp()


def _zone(zone: str | None) -> _dt.tzinfo:
    if zone is None or zone in ("Z", "z", "UTC"):
        return _dt.timezone.utc
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _epoch(seconds: float) -> float | None:
    if not math.isfinite(seconds) or seconds < 0:
        return None
    # Epoch milliseconds and microseconds are common in log shippers; seconds
    # since 1970 stay below 1e11 until the year 5138.
    if seconds >= 1e14:
        seconds /= 1e6
    elif seconds >= 1e11:
        seconds /= 1e3
    return seconds


# -- strings from log lines ---------------------------------------------------------

_SURROGATES = re.compile(r"[\ud800-\udfff]")
# C0 and C1 controls, DEL, line and paragraph separators, the bidirectional
# formatting characters (which can reorder what a terminal or browser shows,
# as in "Trojan Source"), and lone surrogates (which no encoding accepts).
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _clean(text: str) -> str:
    """*text* with each lone surrogate replaced by U+FFFD, so that it can be encoded."""
    if text.isascii():
        return text
    return _SURROGATES.sub("\ufffd", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """
    *text* safe to show to people: control characters (tab and newline
    included), line separators, bidirectional-formatting characters and lone
    surrogates are written as ``\\x1b`` or ``\\u202e``, so that a string
    from a log line can neither drive a terminal nor reorder or break the
    report's lines.
    """
    return _UNPRINTABLE.sub(_escape, text)


# -- one migration, stage and operation -----------------------------------------


class Entry:
    """What was read about one migration in one stage for one operation."""

    __slots__ = (
        "calls",
        "checks",
        "compare_errors",
        "diff_other",
        "diff_paths",
        "errors",
        "first_time",
        "inconsistent",
        "key",
        "last_line",
        "last_time",
        "latency",
        "line_timeline",
        "mismatches_with_paths",
        "results",
        "time_timeline",
        "untimed",
    )

    def __init__(self, key: tuple[str, str, str]) -> None:
        self.key = key
        self.calls = 0
        self.checks = 0
        self.inconsistent = 0
        self.compare_errors = 0
        self.results = {"old": 0, "new": 0}
        self.errors = {"old": 0, "new": 0}
        self.latency = {"old": LatencyDigest(), "new": LatencyDigest()}
        self.diff_paths: Counter[str] = Counter()
        self.diff_other = 0
        self.mismatches_with_paths = 0
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.last_line = 0
        self.untimed = 0
        self.time_timeline = Timeline(1.0 / 1024)
        self.line_timeline = Timeline(1.0)

    @property
    def migration(self) -> str:
        """The migration's name."""
        return self.key[0]

    @property
    def stage(self) -> str:
        """The stage, lower case."""
        return self.key[1]

    @property
    def operation(self) -> str:
        """``read`` or ``write``."""
        return self.key[2]

    def _when(self, line: int, when: float | None) -> None:
        self.last_line = line
        if when is None:
            self.untimed += 1
            return
        if self.first_time is None or when < self.first_time:
            self.first_time = when
        if self.last_time is None or when > self.last_time:
            self.last_time = when

    def add_result(self, line: int, when: float | None, origin: str, ok: bool,
                   latency_ms: float) -> None:
        """Count one ``migration.result``."""
        self._when(line, when)
        self.results[origin] += 1
        if not ok:
            self.errors[origin] += 1
        self.latency[origin].add(latency_ms)
        self.line_timeline.add_result(line, origin, latency_ms, ok)
        if when is not None:
            self.time_timeline.add_result(when, origin, latency_ms, ok)

    def add_op(self, line: int, when: float | None, consistent: bool | None,
               compare_error: bool, paths: list[str]) -> None:
        """Count one ``migration.op``."""
        self._when(line, when)
        if compare_error:
            self.compare_errors += 1
        if consistent is None:
            return
        self.checks += 1
        self.line_timeline.add_check(line, consistent)
        if when is not None:
            self.time_timeline.add_check(when, consistent)
        if consistent:
            return
        self.inconsistent += 1
        if paths:
            self.mismatches_with_paths += 1
            counter = self.diff_paths
            for path in paths:
                if path in counter or len(counter) < MAX_DIFF_PATHS:
                    counter[path] += 1
                else:
                    self.diff_other += 1


# -- the reader ----------------------------------------------------------------------


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

    Calls are counted by distinct ``call_id``, remembering the last
    :data:`CALL_WINDOW` ids: exact as long as the events of one call are less
    than that many lines apart, which they are unless a background shadow
    lags behind by that many events. An op event without a ``call_id``
    counts as one call; a result event without one counts for latency and
    errors only.
    """

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str], Entry] = {}
        self.lines = 0
        self.events = 0
        self.skipped: Counter[str] = Counter()
        self.stage_errors: dict[tuple[Any, ...], list[Any]] = {}
        self.stage_errors_other = 0
        self.shadow_dropped: Counter[str] = Counter()
        self._recent: deque[str] = deque()
        self._recent_set: set[str] = set()

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

    def _key(self, event: dict[str, Any]) -> tuple[str, str, str] | None:
        migration = event.get("migration")
        operation = event.get("operation")
        stage = event.get("stage")
        if type(migration) is not str or not 0 < len(migration) <= MAX_NAME_CHARS:
            return None
        if type(operation) is not str or type(stage) is not str:
            return None
        if operation not in _OPERATIONS or len(stage) > 16:
            return None
        stage = stage.lower()
        if stage not in _STAGE_RANK:
            return None
        return _clean(migration), stage, operation

    def _entry(self, key: tuple[str, str, str]) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            if len(self.entries) >= MAX_ENTRIES:
                return None
            entry = self.entries[key] = Entry(key)
        return entry

    def _new_call(self, call_id: Any) -> bool:
        if not isinstance(call_id, str):
            return False
        if len(call_id) > _MAX_CALL_ID:
            # Remembered by digest: a window of megabyte-long ids would not
            # be bounded memory.
            call_id = hashlib.blake2b(call_id.encode("utf-8", "surrogatepass"),
                                      digest_size=16).hexdigest()
        if call_id in self._recent_set:
            return False
        recent = self._recent
        recent.append(call_id)
        self._recent_set.add(call_id)
        if len(recent) > CALL_WINDOW:
            self._recent_set.discard(recent.popleft())
        return True

    # Each reader answers True when it counted the event, or the reason it
    # skipped the line: None for "malformed".

    def _read_event(self, name: str, event: dict[str, Any]) -> bool | str | None:
        if name == RESULT:
            return self._read_result(event)
        if name == OP:
            return self._read_op(event)
        if name == STAGE_ERROR:
            return self._read_stage_error(event)
        return self._read_dropped(event)

    def _read_result(self, event: dict[str, Any]) -> bool | str | None:
        key = self._key(event)
        origin = event.get("origin")
        ok = event.get("ok")
        latency = event.get("latency_ms")
        # The common case inline; NaN fails the comparison and goes the long way.
        if type(latency) is not float or not 0.0 <= latency <= MAX_LATENCY_MS:
            latency = _latency(latency)
        if key is None or not isinstance(origin, str) or origin not in _ORIGINS:
            return None
        if not isinstance(ok, bool) or latency is None:
            return None
        entry = self._entry(key)
        if entry is None:
            return "too_many_migrations"
        if self._new_call(event.get("call_id")):
            entry.calls += 1
        entry.add_result(self.lines, _timestamp(event), origin, ok, latency)
        return True

    def _read_op(self, event: dict[str, Any]) -> bool | str | None:
        key = self._key(event)
        consistent = event.get("consistent")
        if key is None or not (consistent is None or isinstance(consistent, bool)):
            return None
        entry = self._entry(key)
        if entry is None:
            return "too_many_migrations"
        call_id = event.get("call_id")
        if self._new_call(call_id) or not isinstance(call_id, str):
            entry.calls += 1
        raw_paths = event.get("diff_paths")
        paths: list[str] = []
        if isinstance(raw_paths, list):
            paths = [
                _clean(path[:200])
                for path in raw_paths[:MAX_PATHS_PER_EVENT]
                if isinstance(path, str) and path
            ]
        entry.add_op(self.lines, _timestamp(event), consistent,
                     event.get("compare_error") is not None, paths)
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
        thresholds = thresholds or Thresholds()
        ordered = sorted(
            self.entries.values(),
            key=lambda e: (e.migration, e.operation, _STAGE_RANK[e.stage]),
        )
        # The current entry of a migration and operation is the one whose
        # events came last: by time when every event was stamped, else by line.
        latest: dict[tuple[str, str], Entry] = {}
        for entry in ordered:
            pair = (entry.migration, entry.operation)
            seen = latest.get(pair)
            if seen is None or _later(entry, seen):
                latest[pair] = entry
        reports = [
            EntryReport.from_entry(entry, thresholds, latest[(entry.migration,
                                                                entry.operation)] is entry)
            for entry in ordered
        ]
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
            for fields, (count, error) in self.stage_errors.items()
        ]
        return Report(
            entries=reports,
            lines=self.lines,
            events=self.events,
            skipped=dict(self.skipped),
            stage_errors=stage_errors,
            stage_errors_other=self.stage_errors_other,
            shadow_dropped=dict(self.shadow_dropped),
            thresholds=thresholds,
            timelines={entry.key: _timeline(entry) for entry in ordered},
            line_timelines={entry.key: entry.line_timeline.points() for entry in ordered},
        )


def _later(a: Entry, b: Entry) -> bool:
    if a.last_time is not None and b.last_time is not None and not (a.untimed or b.untimed):
        return a.last_time > b.last_time
    return a.last_line > b.last_line


def _timeline(entry: Entry) -> tuple[str, list[dict[str, Any]]]:
    if entry.untimed == 0 and entry.last_time is not None:
        return "time", entry.time_timeline.points()
    return "line", entry.line_timeline.points()


_decode = json.JSONDecoder().decode


def _loads(line: bytes) -> Any:
    start = line.find(b"{")
    if start > 0:
        # A prefix before the JSON (a syslog or container header): read from the brace.
        line = line[start:]
    # A byte that is not UTF-8 (a Latin-1 error message, a cut multi-byte
    # character) costs that character, not the event.
    return _decode(line.decode("utf-8", "replace"))


def _name(value: Any) -> str | None:
    """A migration name as read from a line, or ``None`` when it is none."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        return None
    return _clean(value)


def _latency(value: Any) -> float | None:
    """``latency_ms`` as read from a line, or ``None`` when it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = _finite(value)
    if number is None or not 0.0 <= number <= MAX_LATENCY_MS:
        return None
    return number


def _timestamp(event: dict[str, Any]) -> float | None:
    for key in _TIMESTAMP_KEYS:
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
    text = _clean(text)
    return text if len(text) <= 100 else text[:99] + "…"


# -- the report -------------------------------------------------------------------------


def wilson_interval(bad: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of the proportion *bad* / *total* (95% by default)."""
    if total <= 0:
        return 0.0, 1.0
    p = bad / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def percent(fraction: float) -> str:
    """*fraction* as a short percentage: ``0.8%``, ``0.012%``, ``12%``."""
    value = fraction * 100.0
    if value == 0:
        return "0%"
    if value >= 10:
        return f"{value:.0f}%"
    if value >= 1:
        return f"{value:.1f}%"
    return f"{value:.2g}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.1g}"


@dataclasses.dataclass
class EntryReport:
    """The figures and the verdict of one migration, stage and operation."""

    migration: str
    stage: str
    operation: str
    calls: int
    consistency_checks: int
    inconsistent: int
    compare_errors: int
    results: dict[str, int]
    errors: dict[str, int]
    latency_ms: dict[str, dict[str, float] | None]
    latency_exact: bool
    diff_paths: list[dict[str, Any]]
    mismatches_with_paths: int
    first_timestamp: float | None
    last_timestamp: float | None
    current: bool
    ready: bool
    next_stage: str | None
    verdict: str

    @property
    def inconsistency_rate(self) -> float | None:
        """Inconsistent comparisons over comparisons, or ``None`` without comparisons."""
        if not self.consistency_checks:
            return None
        return self.inconsistent / self.consistency_checks

    @property
    def latency_ratio(self) -> float | None:
        """New p99 over old p99, when both sides ran."""
        old, new = self.latency_ms["old"], self.latency_ms["new"]
        if old is None or new is None or old["p99"] <= 0:
            return None
        return new["p99"] / old["p99"]

    def error_rate(self, origin: str) -> float | None:
        """Failed results of *origin* over its results, or ``None`` when it never ran."""
        results = self.results[origin]
        return self.errors[origin] / results if results else None

    def mismatch_summary(self, top: int = 3) -> str | None:
        """``87% of mismatches differ at last_name, 13% at email``, or ``None``."""
        if not self.diff_paths or not self.inconsistent:
            return None
        parts = [
            f"{percent(item['share'])} {'of mismatches differ at ' if i == 0 else 'at '}"
            f"{item['path']}"
            for i, item in enumerate(self.diff_paths[:top])
        ]
        return ", ".join(parts)

    @classmethod
    def from_entry(cls, entry: Entry, thresholds: Thresholds, current: bool) -> EntryReport:
        """Summarise *entry* and judge it by *thresholds*."""
        latency: dict[str, dict[str, float] | None] = {}
        for origin in _ORIGINS:
            digest = entry.latency[origin]
            if digest.count:
                latency[origin] = {
                    "p50": _round(digest.percentile(50)),
                    "p95": _round(digest.percentile(95)),
                    "p99": _round(digest.percentile(99)),
                }
            else:
                latency[origin] = None
        paths = [
            {
                "path": path,
                "count": count,
                "share": count / entry.inconsistent if entry.inconsistent else 0.0,
            }
            for path, count in sorted(entry.diff_paths.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        if entry.diff_other:
            paths.append(
                {"path": "(other paths)", "count": entry.diff_other,
                 "share": entry.diff_other / max(1, entry.inconsistent)}
            )
        report = cls(
            migration=entry.migration,
            stage=entry.stage,
            operation=entry.operation,
            calls=entry.calls,
            consistency_checks=entry.checks,
            inconsistent=entry.inconsistent,
            compare_errors=entry.compare_errors,
            results=dict(entry.results),
            errors=dict(entry.errors),
            latency_ms=latency,
            latency_exact=entry.latency["old"].exact and entry.latency["new"].exact,
            diff_paths=paths,
            mismatches_with_paths=entry.mismatches_with_paths,
            first_timestamp=entry.first_time,
            last_timestamp=entry.last_time,
            current=current,
            ready=False,
            next_stage=_NEXT_STAGE.get(entry.stage),
            verdict="",
        )
        report.ready, report.verdict = _verdict(report, thresholds)
        return report

    def to_json(self) -> dict[str, Any]:
        """This entry as DESIGN.md's ``--format json`` shape, with extra keys."""
        rate = self.inconsistency_rate
        low, high = wilson_interval(self.inconsistent, self.consistency_checks)
        return {
            "migration": self.migration,
            "stage": self.stage,
            "operation": self.operation,
            "calls": self.calls,
            "consistency_checks": self.consistency_checks,
            "inconsistent": self.inconsistent,
            "errors": dict(self.errors),
            "latency_ms": {k: (dict(v) if v else None) for k, v in self.latency_ms.items()},
            "verdict": self.verdict,
            "ready": self.ready,
            "current": self.current,
            "next_stage": self.next_stage,
            "results": dict(self.results),
            "compare_errors": self.compare_errors,
            "inconsistency_rate": rate,
            "inconsistency_ci95": [low, high] if self.consistency_checks else None,
            "latency_ratio_p99": self.latency_ratio,
            "latency_exact": self.latency_exact,
            "diff_paths": [dict(item) for item in self.diff_paths],
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
        }


def _round(value: float | None) -> float:
    assert value is not None
    return round(value, 4)


def _verdict(entry: EntryReport, th: Thresholds) -> tuple[bool, str]:
    stage, operation = entry.stage, entry.operation
    nxt = entry.next_stage
    if stage == "off":
        return True, "ready for DUALWRITE: only the old side runs in OFF"
    if stage not in _NEW_RUNS[operation]:
        return True, f"ready for {nxt.upper() if nxt else '-'}: the new side is not read in " \
                     f"{stage.upper()}; judge the writes"
    compared = operation == "read" and stage in _COMPARED
    reasons: list[str] = []
    if compared:
        samples, noun = entry.consistency_checks, "comparisons"
    else:
        samples = entry.results["new"]
        noun = f"new-side {operation}s"
    if samples < th.min_samples:
        reasons.append(f"only {samples:,} {noun} (need {th.min_samples:,})")
    rate = entry.inconsistency_rate
    if compared and rate is not None and rate > th.max_inconsistency:
        reasons.append(f"{percent(rate)} inconsistent (limit {percent(th.max_inconsistency)})")
    if compared and entry.compare_errors:
        tried = entry.consistency_checks + entry.compare_errors
        if entry.compare_errors / tried > th.max_inconsistency:
            reasons.append(f"{entry.compare_errors:,} comparisons raised (fix the comparator)")
    new_rate = entry.error_rate("new")
    old_rate = entry.error_rate("old")
    if new_rate is not None:
        if old_rate is None:
            if new_rate > th.max_error_rate:
                reasons.append(
                    f"new side {percent(new_rate)} errors (limit {percent(th.max_error_rate)})"
                )
        elif new_rate - old_rate > th.max_error_rate:
            reasons.append(
                f"new side {percent(new_rate)} errors vs old {percent(old_rate)} "
                f"(limit +{percent(th.max_error_rate)})"
            )
    old_latency, new_latency = entry.latency_ms["old"], entry.latency_ms["new"]
    ratio: float | None = None
    if old_latency is not None and new_latency is not None:
        floor = th.latency_floor_ms
        old_p99 = max(old_latency["p99"], floor)
        new_p99 = max(new_latency["p99"], floor)
        # With a floor of 0, an old side that always took 0 ms leaves no
        # ratio: a new side that did too is as fast, any other is slower.
        if old_p99 > 0:
            ratio = new_p99 / old_p99
        elif new_p99 > 0:
            ratio = math.inf
        if ratio is not None and ratio > th.max_latency_ratio:
            times = f"{ratio:.1f}x old" if math.isfinite(ratio) else "slower than old"
            reasons.append(
                f"new side p99 {times} ({_ms(new_latency['p99'])} ms vs "
                f"{_ms(old_latency['p99'])} ms, limit {th.max_latency_ratio:g}x)"
            )
    if reasons:
        return False, "hold: " + "; ".join(reasons)
    evidence = [f"{samples:,} {noun}"]
    if compared and rate is not None:
        evidence.append(f"{percent(rate)} inconsistent")
    if new_rate is not None:
        evidence.append(f"new side {percent(new_rate)} errors")
    if ratio is not None:
        evidence.append(f"p99 {ratio:.1f}x old")
    if nxt is None:
        return True, "ready: COMPLETE is the last stage; the old side can go (" + \
            ", ".join(evidence) + ")"
    return True, f"ready for {nxt.upper()} (" + ", ".join(evidence) + ")"


@dataclasses.dataclass
class Report:
    """Everything ``migratekit report`` says about the lines it read."""

    entries: list[EntryReport]
    lines: int
    events: int
    skipped: dict[str, int]
    stage_errors: list[dict[str, Any]]
    shadow_dropped: dict[str, int]
    thresholds: Thresholds
    timelines: dict[tuple[str, str, str], tuple[str, list[dict[str, Any]]]]
    sources: list[str] = dataclasses.field(default_factory=list)
    stage_errors_other: int = 0
    """Stage errors beyond the distinct kinds kept in :attr:`stage_errors`."""
    line_timelines: dict[tuple[str, str, str], list[dict[str, Any]]] = dataclasses.field(
        default_factory=dict
    )
    """Every entry's timeline by log line, for charts that mix timed and untimed stages."""

    @property
    def skipped_lines(self) -> int:
        """Lines that were not migratekit events this report reads."""
        return sum(self.skipped.values())

    @property
    def on_hold(self) -> list[EntryReport]:
        """The current entry of each migration and operation that is on hold."""
        return [entry for entry in self.entries if entry.current and not entry.ready]

    def to_json(self) -> dict[str, Any]:
        """DESIGN.md's ``--format json`` document (with extra keys)."""
        return {
            "migrations": [entry.to_json() for entry in self.entries],
            "skipped_lines": self.skipped_lines,
            "lines": self.lines,
            "events": self.events,
            "skipped": dict(sorted(self.skipped.items())),
            "stage_errors": [dict(item) for item in self.stage_errors],
            "stage_errors_other": self.stage_errors_other,
            "shadow_dropped": dict(self.shadow_dropped),
            "thresholds": dataclasses.asdict(self.thresholds),
        }


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


# -- text -------------------------------------------------------------------------------------

_HEADERS = (
    "MIGRATION", "OP", "STAGE", "CALLS", "COMPARED", "INCONSISTENT (95% CI)",
    "ERRORS OLD", "ERRORS NEW", "P50 OLD/NEW", "P99 OLD/NEW ms", "VERDICT",
)  # fmt: skip
_RIGHT = {3, 4, 6, 7}


def _errors_cell(entry: EntryReport, origin: str) -> str:
    if not entry.results[origin]:
        return "-"
    rate = entry.error_rate(origin) or 0.0
    count = entry.errors[origin]
    return f"{count:,}" if count == 0 else f"{count:,} ({percent(rate)})"


def _pair(entry: EntryReport, key: str) -> str:
    old, new = entry.latency_ms["old"], entry.latency_ms["new"]
    return f"{_ms(old[key] if old else None)} / {_ms(new[key] if new else None)}"


def _row(entry: EntryReport) -> list[str]:
    if entry.consistency_checks:
        low, high = wilson_interval(entry.inconsistent, entry.consistency_checks)
        rate = entry.inconsistency_rate or 0.0
        inconsistent = f"{entry.inconsistent:,} = {percent(rate)} ({percent(low)}-{percent(high)})"
    else:
        inconsistent = "-"
    return [
        printable(entry.migration),
        entry.operation,
        entry.stage.upper() + (" *" if entry.current else ""),
        f"{entry.calls:,}",
        f"{entry.consistency_checks:,}" if entry.consistency_checks else "-",
        inconsistent,
        _errors_cell(entry, "old"),
        _errors_cell(entry, "new"),
        _pair(entry, "p50"),
        _pair(entry, "p99"),
        entry.verdict,
    ]


def format_text(report: Report) -> str:
    """
    The report for people: an aligned table, then where the sides differ.
    Strings from the log go through :func:`printable`.
    """
    out: list[str] = []
    sources = ", ".join(report.sources) if report.sources else "standard input"
    out.append(
        f"migratekit report: {report.events:,} events in {report.lines:,} lines from {sources}"
    )
    if report.skipped_lines:
        reasons = ", ".join(f"{count:,} {reason.replace('_', ' ')}"
                            for reason, count in sorted(report.skipped.items()))
        out.append(f"skipped lines: {report.skipped_lines:,} ({reasons})")
    else:
        out.append("skipped lines: 0")
    if not report.entries:
        out.append("")
        out.append("No migration.result or migration.op events found. Is structlog writing "
                   "JSON lines (see the structlog recipe in the README)?")
    else:
        rows = [list(_HEADERS)] + [_row(entry) for entry in report.entries]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS) - 1)]
        out.append("")
        for row in rows:
            cells = [
                cell.rjust(widths[i]) if i in _RIGHT else cell.ljust(widths[i])
                for i, cell in enumerate(row[:-1])
            ]
            out.append("  ".join([*cells, row[-1]]).rstrip())
        out.append("")
        out.append("* the latest stage seen for the migration; --check looks at these")
    differ = [entry for entry in report.entries if entry.inconsistent]
    if differ:
        out.append("")
        out.append("Where the sides differ:")
        for entry in differ:
            summary = entry.mismatch_summary()
            where = f"{entry.migration} {entry.operation} {entry.stage.upper()}"
            if summary is None:
                out.append(f"  {where}: {entry.inconsistent:,} mismatches, no paths "
                           "(the values have no structure to tell where)")
            else:
                out.append(f"  {where}: {summary} ({entry.inconsistent:,} mismatches)")
    if report.stage_errors:
        out.append("")
        out.append("Stage errors (the default stage was used instead):")
        for item in report.stage_errors:
            source = f" {item['source']}={item['value']!r}" if item["source"] else ""
            out.append(
                f"  {item['migration']}: {item['count']:,} x {item['exc_type']} from "
                f"{item['provider']}{source}, used {str(item['stage']).upper()}"
            )
        if report.stage_errors_other:
            out.append(f"  and {report.stage_errors_other:,} more, of kinds not listed "
                       f"(only the first {len(report.stage_errors):,} kinds are kept)")
    if report.shadow_dropped:
        out.append("")
        out.append("Background shadows dropped (queue full):")
        for migration, count in sorted(report.shadow_dropped.items()):
            out.append(f"  {migration}: {count:,}")
    current = [entry for entry in report.entries if entry.current]
    if current:
        out.append("")
        out.append("Readiness:")
        names = [f"{printable(e.migration)} {e.operation}" for e in current]
        width = max(len(name) for name in names)
        for entry, name in zip(current, names, strict=True):
            out.append(f"  {name.ljust(width)}  in {entry.stage.upper()}: {entry.verdict}")
    # Every line, not only the table's cells: migration names, paths, stage
    # errors and file names all come from outside.
    return "\n".join(printable(line) for line in out) + "\n"
