"""
Stages kept in Redis, so that every process of a fleet sees the same stage.

Needs the ``redis`` package: ``pip install 'migratekit[redis]'``.
"""

from __future__ import annotations

import re
import threading
from time import monotonic
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from migratekit._resolve import forget_stage_problems, parse_stage, report_stage_problem
from migratekit._settings import settings
from migratekit._text import plain_str, shown_repr, shown_value
from migratekit._types import Stage
from migratekit.exceptions import ConfigurationError, ConfigurationTypeError, StageError
from migratekit.providers._audit import (
    ANY,
    HISTORY_LIMIT,
    StageChange,
    StageStore,
    change_from_record,
    kept,
)
from migratekit.providers._base import (
    BoundedCache,
    Description,
    fit_message,
    require_stage,
    reset_after_fork,
)

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStageProvider"]

INSTALL_HINT = "pip install 'migratekit[redis]'"

DEFAULT_PREFIX = "migratekit:stage:"
DEFAULT_KEY = "*"

_SCHEMES = ("redis", "rediss", "unix")
_NOTHING: Any = object()

# Migrations whose stage and last known stage are kept; get_stage may be
# asked about any number of names.
_NAMES_LIMIT = 4096
# A Redis value longer than this (blanks around it taken off) is no stage:
# it is not decoded, and shown by its fingerprint.
_DECODED_LIMIT = 1024
_REASON_LIMIT = 200


def _import_redis() -> Any:
    try:
        # Imported on first use: redis is an optional dependency.
        import redis  # noqa: PLC0415
        import redis.backoff  # noqa: PLC0415
        import redis.retry  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            "RedisStageProvider needs the 'redis' package, which is not installed; "
            f"run `{INSTALL_HINT}`"
        ) from None
    return redis


# -- where a provider reads, without its password -----------------------------------------------
#
# A password may hold any character, and when '/', '?', '#' or '@' in it are
# not percent-encoded, parsers disagree about where it ends: urlsplit may see
# no password at all where redis-py sees one, or the other way round, and a
# "redacted" URL would show the password whole. So no text of a URL given by
# the user is ever shown. The provider shows the scheme, host, port and
# database that redis-py parsed out of it (see _client_where), and refuses a
# URL whose '@' is not where a password can end.

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}")
_QUERY_CREDENTIALS = ("password", "username")


def _scheme(url: str) -> str:
    """The scheme of *url*, lower-cased, or '' when it has none that looks like one."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep and _SCHEME_RE.fullmatch(head) else ""


def _at_after_host(url: str) -> bool:
    """
    Whether *url* has an ``@`` after its host part, other than in a
    ``password=`` or ``username=`` query value: a password with an unescaped
    ``/``, ``?`` or ``#``, which parsers split at different places.
    """
    rest = url.partition("://")[2]
    ends = [index for index in (rest.find(c) for c in "/?#") if index >= 0]
    tail = rest[min(ends) :] if ends else ""
    before_fragment, _, fragment = tail.partition("#")
    path, _, query = before_fragment.partition("?")
    if "@" in fragment or "@" in path:
        return True
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if "@" in key or ("@" in value and unquote(key).lower() not in _QUERY_CREDENTIALS):
            return True
    return False


def _client_where(client: Any) -> str:
    """
    A password-free ``redis://host:port/db`` naming the server *client*
    talks to, built from what its connection pool parsed; ``***`` stands
    for a user name and a password when there are some.
    """
    try:
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        db = int(kwargs.get("db") or 0)
        auth = ("***" if kwargs.get("username") else "") + (
            ":***" if kwargs.get("password") else ""
        )
        if auth:
            auth += "@"
        if "path" in kwargs:
            return f"unix://{auth}{_part(kwargs['path'])}?db={db}"
        scheme = "rediss" if "SSL" in pool.connection_class.__name__ else "redis"
        host = _part(kwargs.get("host") or "localhost")
        if ":" in host:
            host = f"[{host}]"
        port = int(kwargs.get("port") or 6379)
        return f"{scheme}://{auth}{host}:{port}/{db}"
    except Exception:
        return f"<{type(client).__name__}>"


def _part(value: object) -> str:
    shown = shown_value(str(value), 255)
    return shown if isinstance(shown, str) else str(shown)


# -- the store: stages written on the record -----------------------------------------------------
#
# A change is one script, run by Redis at once: it reads the key, compares it
# when asked (advance's compare-and-set), writes or deletes it, and appends
# the change to the audit stream, bounded with MAXLEN ~. No other client can
# come in between, so the "old" it records is the value it replaced. On a
# Redis Cluster both keys must be in one slot: give the prefix a hash tag,
# e.g. prefix="{migratekit}:stage:" (the stream is then "{migratekit}:audit").

_CHANGE_SCRIPT = r"""
local old = redis.call('GET', KEYS[1])
if old and #old > tonumber(ARGV[6]) then
  old = string.sub(old, 1, tonumber(ARGV[6])) .. '\226\128\166'
end
if ARGV[2] == '1' and ((ARGV[3] == '1' and old) or (ARGV[3] ~= '1' and old ~= ARGV[4])) then
  return {0, old}
end
if ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
local record = {}
for i = 7, #ARGV do
  record[#record + 1] = ARGV[i]
end
if old then
  record[#record + 1] = 'old'
  record[#record + 1] = old
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(record))
return {1, old}
"""
# KEYS: the stage key, the audit stream. ARGV: the new value ('' deletes the
# key); '1' to compare first; '1' when the value expected is "unset"; the value
# expected; MAXLEN; the longest old value kept (cut with "…"); then the
# record's fields and values, ``old`` added by the script.

AUDIT_MAXLEN = 10_000
"""About how many changes the audit stream keeps (``XADD ... MAXLEN ~``)."""

_KEPT_BYTES = 200
_HISTORY_PAGE = 500


def _audit_key(prefix: str) -> str:
    """The audit stream beside the stage keys: ``migratekit:audit`` for ``migratekit:stage:``."""
    if prefix.endswith("stage:"):
        return prefix[: -len("stage:")] + "audit"
    return prefix + "audit"


class _RedisStore(StageStore):
    """What a RedisStageProvider offers as a store: read, list, change and history of stages."""

    client: Any
    prefix: str
    where: str
    audit_key: str

    def key_for(self, name: str) -> str:
        """The Redis key holding migration *name*'s stage."""
        return self.prefix + name

    def source_of(self, name: str) -> str:
        """The server (without its password) and the key of migration *name*'s stage."""
        return f"{self.where} {shown_value(self.key_for(name), 255)}"

    def set_stage(self, name: str, stage: Stage | str) -> Stage:
        """
        Store *stage* for migration *name* (``"*"`` for all the others), on
        the record (see :meth:`change_stage`), and return it; raises
        ConfigurationError for a value that is not a stage and
        ``redis.RedisError`` when Redis cannot be reached.

        Every process sees it within its *ttl*; this one at its next call.
        """
        value = require_stage("stage", stage)
        self.change_stage(name, value)
        return value

    def delete_stage(self, name: str) -> bool:
        """
        Remove migration *name*'s key, on the record, so that it follows
        ``*`` again; whether it existed.
        """
        return self.change_stage(name, None).old is not None

    def raw_stage(self, name: str) -> str | None:
        """What Redis holds at *name*'s key right now, unparsed; ``None`` when unset."""
        return _text(self.client.get(self.prefix + name))

    def stages(self, limit: int = 10_000) -> dict[str, str]:
        """
        Every migration name with a key under the prefix, and its raw value,
        sorted by name; at most *limit* of them.
        """
        pattern = _glob_escape(self.prefix) + "*"
        keys: list[str] = []
        for key in self.client.scan_iter(match=pattern, count=500):
            keys.append(_text(key) or "")
            if len(keys) >= limit:
                break
        keys.sort()
        values = self.client.mget(keys) if keys else []
        found: dict[str, str] = {}
        for key, value in zip(keys, values, strict=True):
            text = _text(value)
            if text is not None:
                found[key[len(self.prefix) :]] = text
        return found

    def stage_history(
        self, name: str | None = None, limit: int | None = HISTORY_LIMIT
    ) -> list[StageChange]:
        """
        The changes the audit stream records for migration *name* (``None``:
        every migration), the newest last; at most the *limit* newest
        (``None``: all the stream holds, about the last 10,000 changes).
        """
        found: list[StageChange] = []
        high = "+"
        while limit is None or len(found) < limit:
            entries = self.client.xrevrange(self.audit_key, high, "-", count=_HISTORY_PAGE)
            for _, fields in entries:
                change = change_from_record({_text(k): _text(v) for k, v in fields.items()})
                if change is not None and name in (None, change.migration):
                    found.append(change)
            if len(entries) < _HISTORY_PAGE:
                break
            high = _before(_text(entries[-1][0]) or "0-0")
        if limit is not None:
            del found[limit:]
        found.reverse()
        return found

    def _commit(self, change: StageChange, expect: Any) -> tuple[bool, str | None]:
        key = self.key_for(change.migration)
        if key == self.audit_key:
            raise ConfigurationError(
                f"RedisStageProvider: the key {shown_repr(key)} of migration "
                f"{shown_repr(change.migration)} is the audit stream's; give the provider a "
                "prefix ending in 'stage:', e.g. prefix='myapp:stage:'"
            )
        record = [
            item
            for field, value in change.as_dict().items()
            if value is not None and field != "old"
            for item in (field, value)
        ]
        compare = expect is not ANY
        script = self.client.register_script(_CHANGE_SCRIPT)
        try:
            done, old = script(
                keys=[key, self.audit_key],
                args=[
                    change.new or "",
                    "1" if compare else "0",
                    "1" if compare and expect is None else "0",
                    expect if compare and expect is not None else "",
                    AUDIT_MAXLEN,
                    _KEPT_BYTES,
                    *record,
                ],
            )
        finally:
            self._forget(change.migration)
        return bool(done), kept(_text(old))

    def _forget(self, name: str) -> None:
        raise NotImplementedError  # pragma: no cover - the provider's


def _before(entry_id: str) -> str:
    """The stream id just before *entry_id* (``XREVRANGE``'s exclusive bound, before Redis 6.2)."""
    ms, _, seq = entry_id.partition("-")
    if int(seq or 0) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-18446744073709551615"


class RedisStageProvider(_RedisStore):
    """
    Reads stages from Redis: the string at ``<prefix><name>`` sets migration
    *name*'s stage, and ``<prefix>*`` the stage of the others.

    ``RedisStageProvider("redis://:secret@redis.internal:6379/0")``, or pass a
    ``redis.Redis`` client of your own. Set stages with
    ``migratekit stage set users.get shadow --redis URL`` or
    :meth:`change_stage`: every change is recorded in the stream
    ``migratekit:audit`` (the prefix's, with ``audit`` for ``stage:``),
    read back by :meth:`stage_history`.

    Each migration's stage is read at most once every *ttl* seconds (one
    ``MGET`` of its key and the ``*`` key); in between, a call costs a clock
    read and a dictionary lookup. A client made from a URL has *timeout*
    seconds to connect and to answer, and does not retry, so an unreachable
    Redis costs one call at most *timeout* seconds once every *ttl* seconds.

    Failures never reach the caller, and each is reported once as a
    ``migration.stage_error`` event, without the password:

    - Redis unreachable (down, timing out, refusing the password): each
      migration keeps the stage last read from Redis, or gets the default
      stage when it never had one; Redis is tried again every *ttl* seconds
      and the stages it holds are used as soon as it answers;
    - a key holding something that is not a stage: the default stage, as for
      an environment variable.

    ``rediss://`` URLs use TLS; a password may be given in the URL, with
    ``/``, ``?``, ``#`` and ``@`` in it percent-encoded (``%2F``, ``%3F``,
    ``%23``, ``%40``): a URL with an ``@`` after its host is refused. No text
    of the URL is ever shown: :attr:`where` (used in ``repr``, events and the
    command line) is made of the scheme, host, port and database that
    redis-py parsed, with ``***`` for a user name and password.

    It has no ``aget_stage``: async migrations call ``get_stage``, which
    blocks only on a refresh (once per *ttl*, at most *timeout* seconds).
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis | redis.RedisCluster,
        /,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: float = 1.0,
        timeout: float = 0.25,
    ) -> None:
        if not isinstance(prefix, str):
            raise ConfigurationTypeError(
                f"RedisStageProvider: 'prefix' must be a str (got {prefix!r} that is a "
                f"{type(prefix).__name__}); e.g. prefix={DEFAULT_PREFIX!r}"
            )
        for what, number in (("ttl", ttl), ("timeout", timeout)):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not number > 0:
                raise ConfigurationError(
                    f"RedisStageProvider: {what!r} must be a number of seconds above 0 "
                    f"(got {number!r}); e.g. ttl=1.0, timeout=0.25"
                )
        module = _import_redis()
        if isinstance(url_or_client, str):
            self.client = _client_from_url(module, url_or_client, timeout)
            self.where = _client_where(self.client)
        elif callable(getattr(url_or_client, "mget", None)):
            self.client = url_or_client
            self.where = _client_where(url_or_client)
        else:
            # Not repr(): a URL given as bytes would show its password.
            raise ConfigurationTypeError(
                "RedisStageProvider: expected a Redis URL or a redis.Redis client (got a "
                f"{type(url_or_client).__name__}); pass the URL as a str, e.g. "
                "RedisStageProvider('redis://localhost:6379/0')"
            )
        self.prefix = prefix
        self.audit_key = _audit_key(prefix)
        self.ttl = float(ttl)
        self._default_key = prefix + DEFAULT_KEY
        # name -> (expiry on the monotonic clock, Stage | None | StageError);
        # bounded, since get_stage may be asked about any number of names
        self._cache: BoundedCache[str, tuple[float, Any]] = BoundedCache(_NAMES_LIMIT)
        # name -> the last answer Redis gave (Stage or None), served while it is down
        self._known: BoundedCache[str, Stage | None] = BoundedCache(_NAMES_LIMIT)
        self._down_until = 0.0
        self._down_kind = ""
        self._down_reason = ""
        # Held by the one thread refreshing a stale entry; the others serve
        # the stale stage meanwhile. Renewed in a forked child (_after_fork).
        self._fetching = threading.Lock()
        reset_after_fork(self)

    def _after_fork(self) -> None:
        # The child inherits the lock as it was: held, when another thread
        # was refreshing at the fork, by a thread the child does not have.
        # Kept, it would make every later refresh look in flight, and the
        # child would serve the stale stage forever.
        self._fetching = threading.Lock()

    def get_stage(self, name: str, context: Any = None) -> Stage | None:
        """The stage Redis holds for *name* (or ``*``), at most *ttl* seconds old."""
        entry = self._cache.get(name)
        if entry is not None:
            if monotonic() < entry[0]:
                answer = entry[1]
            elif not self._fetching.acquire(blocking=False):
                # Another thread is asking Redis: serve what we had meanwhile.
                answer = entry[1]
            else:
                try:
                    answer = self._fetch(name)
                finally:
                    self._fetching.release()
        else:
            answer = self._fetch(name)
        if answer is None or answer.__class__ is Stage:
            return answer
        raise answer.with_traceback(None)

    def _fetch(self, name: str) -> Stage | StageError | None:
        now = monotonic()
        key = self.prefix + name
        answer: Stage | StageError | None
        if now < self._down_until:
            answer = self._unreachable(name, key)
        else:
            try:
                raw, raw_default = self.client.mget([key, self._default_key])
            except Exception as exc:
                # One failed attempt per ttl, whichever migrations are asking:
                # a dead Redis must not cost every call a timeout.
                self._down_until = now + self.ttl
                self._down_kind = type(exc).__name__
                self._down_reason = f"{self._down_kind}: {_first_line(exc)}"[:_REASON_LIMIT]
                answer = self._unreachable(name, key)
            else:
                self._down_until = 0.0
                if self._down_kind:
                    # Back up: the next outage is news again.
                    self._down_kind = ""
                    forget_stage_problems(self.where)
                answer = self._parse(name, key, raw, raw_default)
        self._cache[name] = (now + self.ttl, answer)
        return answer

    def _unreachable(self, name: str, key: str) -> Stage | StageError | None:
        down = StageError(
            fit_message(
                "Redis is unreachable ({reason}); the migration keeps the stage last read "
                f"from it, or the default stage; retrying every {self.ttl:g}s",
                reason=self._down_reason,
            ),
            source=f"{self.where} {key}",
            # The kind of failure: a refused password and a dead server are
            # two events, a flapping connection one.
            value=self._down_kind,
        )
        known = self._known.get(name, _NOTHING)
        if known is _NOTHING:
            # Nothing to serve: raise, so that whoever asked (the migration,
            # or a fallback chain) reports it with the stage it ends up using.
            return down
        used = settings.default_stage if known is None else known
        report_stage_problem(self, name, down, used)
        return known

    def _parse(self, name: str, key: str, raw: Any, raw_default: Any) -> Stage | StageError | None:
        value = _stage_text(raw)
        if value is None or not value.strip():
            key = self._default_key
            value = _stage_text(raw_default)
            if value is None or not value.strip():
                self._known[name] = None
                return None
        stage = parse_stage(value) if isinstance(value, str) else None
        if stage is None:
            # Kept in the cache for a ttl: only a bounded form of the value.
            return StageError(
                fit_message(
                    "Redis key {key} holds {value}, which is not a stage "
                    f"({', '.join(s.value for s in Stage)}; any case); fix: "
                    "migratekit stage set {name} STAGE --redis URL",
                    name=name if key != self._default_key else "'*'",
                    key=shown_repr(key),
                    value=shown_repr(value),
                ),
                source=f"{self.where} {shown_value(key, 255)}",
                value=shown_value(value),
            )
        self._known[name] = stage
        return stage

    def describe(self, name: str, context: Any = None) -> Description:
        """The stage for *name*, and the server with the key that set it (*name*'s or ``*``)."""
        stage = self.get_stage(name, context)
        key = self.key_for(name)
        try:
            raw = self.raw_stage(name)
        except Exception:
            raw = None
        if raw is None or not raw.strip():
            key = self.prefix + "*"
        return Description(stage, self, f"{self.where} {shown_value(key, 255)}")

    def _forget(self, name: str) -> None:
        if name == DEFAULT_KEY:
            self._cache.clear()
        else:
            self._cache.pop(name)

    def close(self) -> None:
        """Close the client's connections (only needed for a client made from a URL)."""
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisStageProvider({self.where!r}, prefix={self.prefix!r})"


def _client_from_url(module: Any, url: str, timeout: float) -> Any:
    """A redis.Redis client for *url*; a ConfigurationError that never repeats the URL."""
    scheme = _scheme(url)
    if scheme not in _SCHEMES:
        got = f"a URL starting with {scheme}://" if scheme else "a str without a scheme"
        raise ConfigurationError(
            f"RedisStageProvider: the URL must start with redis://, rediss:// or unix:// "
            f"(got {got}; the rest is not shown, it may hold a password); e.g. "
            "'redis://localhost:6379/0' or 'rediss://:password@host:6380/0'"
        )
    if _at_after_host(url):
        raise ConfigurationError(
            f"RedisStageProvider: the URL {scheme}://<not shown> has an '@' after its host "
            "part, as when a password holds '/', '?' or '#' (parsers disagree on where "
            "such a password ends); percent-encode those characters and '@' in a user name "
            "or password (%2F, %3F, %23, %40), e.g. redis://:pa%2Fss@host:6379/0"
        )
    try:
        return module.Redis.from_url(
            # redis-py accepts the scheme in lower case only.
            scheme + url[url.index("://") :],
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=module.retry.Retry(module.backoff.NoBackoff(), 0),
        )
    except Exception as exc:
        # The parser's message may quote the URL (a port that is not a number
        # is often a piece of the password): only its class is shown.
        raise ConfigurationError(
            f"RedisStageProvider: cannot use the URL {scheme}://<unparseable URL> "
            f"({type(exc).__name__}); write it as {scheme}://[[user]:password@]host[:port][/db], "
            "with '/', '?', '#' and '@' in the password percent-encoded (%2F, %3F, %23, %40)"
        ) from None


def _text(raw: Any) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw)


def _stage_text(raw: Any) -> str | bytes | None:
    """
    A value Redis answered, as text when it may be a stage; a value too long
    to be one stays bytes, so that megabytes are not decoded per refresh.
    """
    if raw is None:
        return None
    if issubclass(type(raw), str):
        return plain_str(raw)
    if isinstance(raw, bytes):
        data: bytes = raw
        if len(data) > _DECODED_LIMIT:
            data = data.strip()
            if len(data) > _DECODED_LIMIT:
                return raw
        return data.decode("utf-8", errors="replace")
    # A client of your own may answer anything: its text, bounded.
    try:
        text = str(raw)
    except Exception:
        return f"<{type(raw).__name__} whose str() raised>"
    return text if isinstance(text, str) else f"<{type(raw).__name__}>"


def _first_line(exc: BaseException) -> str:
    # The exception comes from the client, which may be anyone's.
    try:
        text = str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() raised>"
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def _glob_escape(text: str) -> str:
    # Redis SCAN MATCH patterns are globs: a prefix with *, ?, [ or \ must be
    # escaped to be matched literally.
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
