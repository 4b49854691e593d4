"""
Stages kept in Redis, so that every process of a fleet sees the same stage.

Needs the ``redis`` package: ``pip install 'migratekit[redis]'``.
"""

from __future__ import annotations

import threading
from time import monotonic
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from migratekit._config import forget_stage_problems, report_stage_problem, settings
from migratekit._errors import ConfigurationError, ConfigurationTypeError, StageError
from migratekit._providers import parse_stage, require_stage
from migratekit._types import Stage

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStageProvider", "redact_url"]

INSTALL_HINT = "pip install 'migratekit[redis]'"

DEFAULT_PREFIX = "migratekit:stage:"
DEFAULT_KEY = "*"

_SCHEMES = ("redis", "rediss", "unix")
_NOTHING: Any = object()


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


def redact_url(url: str) -> str:
    """*url* with its password, if any, replaced by ``***``: safe to log."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable Redis URL>"
    netloc = parts.netloc
    if password is not None:
        host = netloc.rpartition("@")[2]
        netloc = f"{parts.username or ''}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() == "password" for key, _ in pairs):
            query = urlencode(
                [(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*"
            )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _client_where(client: Any) -> str:
    """A password-free ``redis://host:port/db`` naming the server *client* talks to."""
    try:
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        db = kwargs.get("db", 0)
        if "path" in kwargs:
            return f"unix://{kwargs['path']}?db={db}"
        scheme = "rediss" if "SSL" in pool.connection_class.__name__ else "redis"
        return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"
    except Exception:
        return f"<{type(client).__name__}>"


class RedisStageProvider:
    """
    Reads stages from Redis: the string at ``<prefix><name>`` sets migration
    *name*'s stage, and ``<prefix>*`` the stage of the others.

    ``RedisStageProvider("redis://:secret@redis.internal:6379/0")``, or pass a
    ``redis.Redis`` client of your own. Set stages with
    ``migratekit stage set users.get shadow --redis URL`` or
    :meth:`set_stage`.

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

    ``rediss://`` URLs use TLS; a password may be given in the URL.

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
            scheme = url_or_client.partition("://")[0].lower()
            if scheme not in _SCHEMES:
                raise ConfigurationError(
                    "RedisStageProvider: the URL must start with redis://, rediss:// or "
                    f"unix:// (got {redact_url(url_or_client)!r}); e.g. "
                    "'redis://localhost:6379/0' or 'rediss://:password@host:6380/0'"
                )
            self.where = redact_url(url_or_client)
            try:
                self.client = module.Redis.from_url(
                    url_or_client,
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                    retry=module.retry.Retry(module.backoff.NoBackoff(), 0),
                )
            except ValueError as exc:
                raise ConfigurationError(
                    f"RedisStageProvider: cannot use the URL {self.where!r} ({exc}); "
                    "write it as redis://[:password@]host[:port][/db]"
                ) from None
        elif callable(getattr(url_or_client, "mget", None)):
            self.client = url_or_client
            self.where = _client_where(url_or_client)
        else:
            raise ConfigurationTypeError(
                "RedisStageProvider: expected a Redis URL or a redis.Redis client (got "
                f"{url_or_client!r} that is a {type(url_or_client).__name__}); e.g. "
                "RedisStageProvider('redis://localhost:6379/0')"
            )
        self.prefix = prefix
        self.ttl = float(ttl)
        self._default_key = prefix + DEFAULT_KEY
        # name -> (expiry on the monotonic clock, Stage | None | StageError)
        self._cache: dict[str, tuple[float, Any]] = {}
        # name -> the last answer Redis gave (Stage or None), served while it is down
        self._known: dict[str, Stage | None] = {}
        self._down_until = 0.0
        self._down_kind = ""
        self._down_reason = ""
        self._fetching = threading.Lock()

    def key_for(self, name: str) -> str:
        """The Redis key holding migration *name*'s stage."""
        return self.prefix + name

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
                self._down_reason = f"{self._down_kind}: {_first_line(exc)}"
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
            f"Redis is unreachable ({self._down_reason}); the migration keeps the stage "
            f"last read from it, or the default stage; retrying every {self.ttl:g}s",
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
        report_stage_problem(self, name, down, settings.default_stage if known is None else known)
        return known  # type: ignore[no-any-return]

    def _parse(self, name: str, key: str, raw: Any, raw_default: Any) -> Stage | StageError | None:
        text = _text(raw)
        if text is None or not text.strip():
            key = self._default_key
            text = _text(raw_default)
            if text is None or not text.strip():
                self._known[name] = None
                return None
        stage = parse_stage(text)
        if stage is None:
            return StageError(
                f"Redis key {key!r} at {self.where} holds {text!r}, which is not a stage; "
                f"expected one of {', '.join(s.value for s in Stage)} (any case); set it with "
                f"`migratekit stage set {name if key != self._default_key else '*'} STAGE "
                "--redis URL`",
                source=f"{self.where} {key}",
                value=text,
            )
        self._known[name] = stage
        return stage

    def set_stage(self, name: str, stage: Stage | str) -> Stage:
        """
        Store *stage* for migration *name* (``"*"`` for all the others) and
        return it; raises ConfigurationError for a value that is not a stage
        and ``redis.RedisError`` when Redis cannot be reached.

        Every process sees it within its *ttl*; this one at its next call.
        """
        value = require_stage("stage", stage)
        self.client.set(self.prefix + name, value.value)
        self._forget(name)
        return value

    def delete_stage(self, name: str) -> bool:
        """Remove migration *name*'s key, so it follows ``*`` again; whether it existed."""
        removed = bool(self.client.delete(self.prefix + name))
        self._forget(name)
        return removed

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

    def _forget(self, name: str) -> None:
        if name == DEFAULT_KEY:
            self._cache.clear()
        else:
            self._cache.pop(name, None)

    def close(self) -> None:
        """Close the client's connections (only needed for a client made from a URL)."""
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisStageProvider({self.where!r}, prefix={self.prefix!r})"


def _text(raw: Any) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _glob_escape(text: str) -> str:
    # Redis SCAN MATCH patterns are globs: a prefix with *, ?, [ or \ must be
    # escaped to be matched literally.
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
