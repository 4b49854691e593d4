"""
Checks made before the first call (migratekit._checks): a side named by a
string is looked for when the class is created, a callable side's signature
is bound to the decorated function's arguments when the decorator is applied.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any

import pytest

from migratekit import ConfigurationError, Operation, configure, migration
from migratekit import _checks as checks
from migratekit._options import MigrationOptions
from migratekit.providers import StaticStageProvider
from tests.hostile import HostileError


def creation_error(make: Callable[[], object]) -> ConfigurationError:
    """
    Run *make*, which creates a class, and return the ConfigurationError that
    creating it raised, as this Python delivers it: as it is from 3.12 on, as
    the ``__cause__`` of a RuntimeError before.
    """
    if sys.version_info >= (3, 12):
        with pytest.raises(ConfigurationError) as info:
            make()
        return info.value
    with pytest.raises(RuntimeError, match="Error calling __set_name__") as error:
        make()
    cause = error.value.__cause__
    assert isinstance(cause, ConfigurationError)
    return cause


def live() -> None:
    configure(provider=StaticStageProvider("live"))


# -- sides named by a string, when the class is created ----------------------------------------


def test_a_misspelt_side_fails_when_the_class_is_created() -> None:
    """new='_kv_gett' next to _kv_get: the message names class, method, name and the fix."""

    def make() -> type:
        class UserRepo:
            def _kv_get(self, user_id: int) -> int:
                return user_id

            def uses(self) -> Any:
                return self._kv_gett  # type: ignore[attr-defined]  # a read sets nothing

            @migration(new="_kv_gett")
            def get(self, user_id: int) -> int:
                return user_id

        return UserRepo

    message = str(creation_error(make))
    assert message.startswith("@migration on ")
    assert ("UserRepo.get: new='_kv_gett' is not an attribute of "
            f"{make.__qualname__}.<locals>.UserRepo or its bases") in message
    assert "did you mean '_kv_get'?" in message
    assert "declare it in the class body: _kv_gett: Callable[..., Any]" in message


def test_the_running_python_delivers_the_error_as_documented() -> None:
    """Python 3.12+ raises the ConfigurationError itself; 3.11 and earlier wrap it."""

    def make() -> None:
        class Repo:
            def _new(self) -> int:
                return 1

            @migration(new="_nwe")
            def get(self) -> int:
                return 1

    if sys.version_info >= (3, 12):
        with pytest.raises(ConfigurationError, match="did you mean '_new'"):
            make()
    else:
        with pytest.raises(RuntimeError, match=r"__set_name__.*'get'.*'Repo'") as info:
            make()
        assert isinstance(info.value.__cause__, ConfigurationError)
        assert "did you mean '_new'" in str(info.value.__cause__)


def test_a_misspelt_old_side_fails_too() -> None:
    """old= is checked the same way as new=."""

    def make() -> None:
        class Repo:
            def _sql_get(self) -> int:
                return 1

            def _kv_get(self) -> int:
                return 1

            @migration(old="_sql_gte", new="_kv_get")
            def get(self) -> int:
                return 1

    message = str(creation_error(make))
    assert "old='_sql_gte'" in message
    assert "did you mean '_sql_get'?" in message


def test_a_write_is_checked_too() -> None:
    """@migration.write names its sides the same way."""

    def make() -> None:
        class Repo:
            def _save_kv(self, user: str) -> None:
                pass

            @migration.write(new="_save_vk")
            def save(self, user: str) -> None:
                pass

    assert "did you mean '_save_kv'?" in str(creation_error(make))


def test_a_side_from_a_base_class_is_found() -> None:
    """A name any class in the MRO defines is there: no error, and it is called."""

    class Base:
        def _kv_get(self, key: str) -> str:
            return f"kv:{key}"

    class Repo(Base):
        @migration(new="_kv_get")
        def get(self, key: str) -> str:
            return f"sql:{key}"

    live()
    assert Repo().get("a") == "kv:a"


def test_a_side_set_in_init_is_not_a_typo() -> None:
    """self._kv_gett = ... in __init__ (or setattr) sets it: close to _kv_get, still fine."""

    class Repo:
        def __init__(self) -> None:
            self._kv_gett = lambda key: f"init:{key}"

        def _kv_get(self, key: str) -> str:
            return f"kv:{key}"

        @migration(new="_kv_gett")
        def get(self, key: str) -> str:
            return f"sql:{key}"

    class Other:
        def __init__(self) -> None:
            setattr(self, "_kv_gett", lambda key: f"setattr:{key}")  # noqa: B010

        def _kv_get(self, key: str) -> str:
            return f"kv:{key}"

        @migration(new="_kv_gett")
        def get(self, key: str) -> str:
            return f"sql:{key}"

    class ByProperty:
        @property
        def backend(self) -> None:
            return None

        @backend.setter
        def backend(self, value: Any) -> None:
            self._kv_gett = value.get

        def _kv_get(self, key: str) -> str:
            return f"kv:{key}"

        @migration(new="_kv_gett")
        def get(self, key: str) -> str:
            return f"sql:{key}"

    live()
    assert Repo().get("a") == "init:a"
    assert Other().get("b") == "setattr:b"
    by_property = ByProperty()
    by_property.backend = {"c": "property:c"}
    assert by_property.get("c") == "property:c"


def test_a_side_set_in_a_nested_function_of_a_method_is_found() -> None:
    """A method that sets the side in a closure it defines counts as setting it."""

    class Repo:
        def connect(self) -> None:
            def bind() -> None:
                self._kv_gett = lambda: "bound"

            bind()

        def _kv_get(self) -> str:
            return "kv"

        @migration(new="_kv_gett")
        def get(self) -> str:
            return "sql"

    repo = Repo()
    repo.connect()
    live()
    assert repo.get() == "bound"


def test_a_declared_side_is_not_a_typo() -> None:
    """An annotation in the class body declares a name set later: the documented escape."""

    class Repo:
        _kv_gett: Callable[..., str]

        def _kv_get(self) -> str:
            return "kv"

        @migration(new="_kv_gett")
        def get(self) -> str:
            return "sql"

    repo = Repo()
    repo._kv_gett = lambda: "later"
    live()
    assert repo.get() == "later"


def test_a_name_like_nothing_in_the_class_may_come_later() -> None:
    """A name no attribute is close to passes: a subclass or the instance may bring it."""

    class Base:
        @migration(new="_fetch_from_new_store")
        def get(self) -> str:
            return "old"

    class Child(Base):
        def _fetch_from_new_store(self) -> str:
            return "child"

    live()
    assert Child().get() == "child"
    with pytest.raises(AttributeError, match="_fetch_from_new_store"):
        Base().get()  # the name is still missing where nobody brought it


def test_a_class_with_getattr_may_resolve_anything() -> None:
    """__getattr__ (or __getattribute__) in the class: no verdict, even for a close name."""

    class Delegating:
        def __getattr__(self, name: str) -> Any:
            return lambda: f"delegated {name}"

        def _kv_get(self) -> str:
            return "kv"

        @migration(new="_kv_gett")
        def get(self) -> str:
            return "sql"

    class Intercepting:
        def __getattribute__(self, name: str) -> Any:
            if name == "_kv_gett":
                return lambda: "intercepted"
            return object.__getattribute__(self, name)

        def _kv_get(self) -> str:
            return "kv"

        @migration(new="_kv_gett")
        def get(self) -> str:
            return "sql"

    live()
    assert Delegating().get() == "delegated _kv_gett"
    assert Intercepting().get() == "intercepted"


def test_a_side_naming_the_decorated_method_itself_fails() -> None:
    """new='get' on get would call the migration again at every call, without end."""

    def make() -> None:
        class Repo:
            @migration(new="get")
            def get(self) -> int:
                return 1

    message = str(creation_error(make))
    assert "new='get' names the decorated method itself" in message
    assert "Repo.get" in message


def test_the_attribute_name_is_the_one_the_class_uses() -> None:
    """A proxy assigned under another name is checked under that name."""

    def get(self: Any) -> int:
        return 1

    proxy = migration(new="fetch")(get)

    def make() -> None:
        class Repo:
            fetch = proxy

    assert "new='fetch' names the decorated method itself" in str(creation_error(make))


def test_a_classmethod_side_is_looked_for_on_the_class_and_its_metaclass() -> None:
    """Decorator outside @classmethod: the name may be the metaclass's; a typo still fails."""

    class Meta(type):
        def _from_meta(cls) -> str:
            return "meta"

    class Repo(metaclass=Meta):
        @migration(new="_from_meta")
        @classmethod
        def get(cls) -> str:
            return "old"

    live()
    assert Repo.get() == "meta"

    def make() -> None:
        class Broken:
            @classmethod
            def _count_new(cls) -> int:
                return 1

            @migration(new="_count_nwe")
            @classmethod
            def count(cls) -> int:
                return 1

    message = str(creation_error(make))
    assert "looked up on the class at each call" in message
    assert "did you mean '_count_new'?" in message


def test_a_staticmethod_with_a_named_side_is_not_checked_by_name() -> None:
    """A staticmethod has no instance to look a name up on: no class-time verdict on it."""

    class Repo:
        def _kv_get(self) -> int:
            return 1

        @migration(new="_kv_gett")
        @staticmethod
        def get() -> int:
            return 1

    assert Repo.get() == 1


def test_dunder_names_are_not_offered_for_a_plain_name() -> None:
    """'_init__' is not read as a typo of '__init__': the class's dunders are not candidates."""

    class Repo:
        def __init__(self) -> None:
            pass

        @migration(new="_init__")
        def get(self) -> int:
            return 1

    assert Repo().get() == 1


def test_the_wrapped_objects_own_set_name_still_runs() -> None:
    """A decorated callable with __set_name__ of its own still hears of its class."""
    seen: list[tuple[str, str]] = []

    class Named:
        def __set_name__(self, owner: type, name: str) -> None:
            seen.append((owner.__name__, name))

        def __call__(self) -> int:
            return 1

    class Repo:
        get = migration(new=lambda: 2, name="named")(Named())

    assert seen == [("Repo", "get")]
    assert Repo.get() == 1


def test_a_proxy_shared_by_two_classes_is_checked_in_each() -> None:
    """__set_name__ runs per class: the one without the name fails, the other does not."""

    def get(self: Any) -> int:
        return 1

    proxy = migration(new="_kv_get")(get)

    class Good:
        def _kv_get(self) -> int:
            return 2

        read = proxy

    def make() -> None:
        class Bad:
            def _kv_gte(self) -> int:
                return 2

            read = proxy

    assert Good().read() == 1
    assert "did you mean '_kv_gte'?" in str(creation_error(make))


def test_a_class_made_by_type_is_checked() -> None:
    """type(name, bases, namespace) calls __set_name__ too."""

    def get(self: Any) -> int:
        return 1

    def make() -> None:
        type("Made", (), {"_kv_get": get, "read": migration(new="_kv_gte")(get)})

    assert "Made.read" in str(creation_error(make))


# -- hostile classes ----------------------------------------------------------------------------


class _QualnameRaises(type):
    """A metaclass whose classes' __qualname__ and __name__ cannot be read."""

    def __getattribute__(cls, name: str) -> Any:
        if name in ("__qualname__", "__name__"):
            raise HostileError(name)
        return super().__getattribute__(name)


class _ClassRaises:
    """An attribute whose __class__ raises (isinstance() asks it) and whose attributes raise."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise HostileError("no class")

    def __getattr__(self, name: str) -> Any:
        raise HostileError(name)


def test_a_typo_is_found_in_a_hostile_class() -> None:
    """A metaclass whose __qualname__ raises, attributes that raise when looked at: still said."""

    def make() -> None:
        class Repo(metaclass=_QualnameRaises):
            odd = _ClassRaises()
            __annotations__ = 5  # type: ignore[assignment]  # not a dict: the class's annotations cannot be read

            def _kv_get(self) -> int:
                return 1

            @migration(new="_kv_gett")
            def get(self) -> int:
                return 1

    message = str(creation_error(make))
    assert "did you mean '_kv_get'?" in message
    assert ".<locals>.Repo.get: new='_kv_gett'" in message


def test_a_staticmethod_side_of_star_args_passes() -> None:
    """get(*args) in a class: `self` arrives in *args, so there is none to leave out."""

    class Repo:
        @staticmethod
        def _new(key: str) -> str:
            return f"static:{key}"

        @migration(new=_new)
        def get(*args: Any) -> str:
            return "old"

    live()
    assert Repo().get("a") == "static:a"


def test_a_staticmethod_side_of_a_callable_object_is_read_either_way() -> None:
    """A decorated callable object does not bind: no class-time reading, either one passes."""

    class Lookup:
        def __call__(self, key: str) -> str:
            return key

    @staticmethod  # type: ignore[misc]
    def new(key: str) -> str:
        return f"new:{key}"

    proxy = migration(new=new, name="lookup")(Lookup())
    assert proxy._self_on_class is None  # type: ignore[attr-defined]

    class Repo:
        lookup = proxy

    live()
    assert Repo.lookup("a") == "new:a"


def test_a_class_that_cannot_be_looked_at_is_let_through() -> None:
    """When the class itself cannot be read (its MRO raises), no verdict rather than a crash."""

    class Meta(type):
        def __getattribute__(cls, name: str) -> Any:
            if name == "__mro__":
                raise HostileError("no mro")
            return super().__getattribute__(name)

    class Repo(metaclass=Meta):
        def _kv_get(self) -> int:
            return 2

        @migration(new="_kv_gett")
        def get(self) -> int:
            return 1

    assert Repo().get() == 1


def test_many_attributes_are_checked_quickly() -> None:
    """A class of 20,000 attributes: the typo is still found among them."""
    namespace: dict[str, Any] = {f"attribute_{index}": index for index in range(20_000)}

    def get(self: Any) -> int:
        return 1

    namespace["_kv_get"] = get
    namespace["read"] = migration(new="_kv_gett")(get)

    def make() -> None:
        type("Big", (), namespace)

    assert "did you mean '_kv_get'?" in str(creation_error(make))


# -- callable sides, when the decorator is applied ---------------------------------------------


def test_a_side_without_self_fails_when_decorating_a_method() -> None:
    """new=lambda i: ... on get(self, user_id): both signatures and the fix are in the message."""
    with pytest.raises(ConfigurationError) as info:

        class Repo:
            @migration(new=lambda i: i)
            def get(self, user_id: int) -> int:
                return user_id

    message = str(info.value)
    assert "'new' (" in message
    assert "<lambda> that is a function) has the signature (i)" in message
    assert "Repo.get(self, user_id)" in message
    assert "called as new(self, user_id), too many positional arguments" in message
    assert "give 'new' the signature (self, user_id)" in message


def test_a_side_with_the_decorated_signature_passes() -> None:
    """The same arguments, self included: accepted, and called with them."""

    class Repo:
        @migration(new=lambda self, user_id: user_id * 10)
        def get(self, user_id: int) -> int:
            return user_id

    live()
    assert Repo().get(2) == 20
    assert Repo.get(Repo(), 3) == 30


def test_a_plain_function_side_needs_its_arguments() -> None:
    """A plain function: the side takes the function's arguments, no more, no fewer."""
    with pytest.raises(ConfigurationError, match=r"missing a required argument: 'extra'"):

        @migration(new=lambda key, extra: key)
        def lookup(key: str) -> str:
            return key

    with pytest.raises(ConfigurationError, match="too many positional arguments"):

        @migration(new=lambda: "x")
        def lookup2(key: str) -> str:
            return key

    @migration(new=lambda key: key.upper())
    def lookup3(key: str) -> str:
        return key

    live()
    assert lookup3("a") == "A"


def test_a_write_side_is_checked_too() -> None:
    """@migration.write: the same check."""
    with pytest.raises(ConfigurationError, match=r"save\(self, user\)"):

        class Repo:
            @migration.write(new=lambda user: None)
            def save(self, user: str) -> None:
                pass


@pytest.mark.parametrize(
    ("side", "fails"),
    [
        (lambda self, user_id: 0, "too many positional arguments"),
        (lambda self, user_id, detail: 0, "missing a required argument: 'detail'"),
        (lambda self, user_id, detail=False: 0, None),
        (lambda self, user_id, **options: 0, None),
        (lambda self, *args: 0, None),
        (lambda *args, **kwargs: 0, None),
    ],
    ids=["no-detail", "detail-required", "same", "detail-by-keyword", "star-args", "anything"],
)
def test_optional_arguments_must_reach_the_side(side: Any, fails: str | None) -> None:
    """With detail=False the side is called with and without detail, by position or keyword."""

    def decorate() -> Any:
        @migration(new=side)
        def get(self: Any, user_id: int, detail: bool = False) -> int:
            return user_id

        return get

    if fails is None:
        assert callable(decorate())
    else:
        with pytest.raises(ConfigurationError, match=fails):
            decorate()


def test_keyword_only_arguments_are_passed_as_keywords() -> None:
    """get(self, key, *, fresh): a side without fresh cannot take the call; with it, it can."""
    with pytest.raises(ConfigurationError, match="unexpected keyword argument 'fresh'"):

        @migration(new=lambda self, key: key)
        def get(self: Any, key: str, *, fresh: bool) -> str:
            return key

    @migration(new=lambda self, key, *, fresh: key)
    def get2(self: Any, key: str, *, fresh: bool) -> str:
        return key

    @migration(new=lambda self, key, **options: key)
    def get3(self: Any, key: str, *, fresh: bool = True) -> str:
        return key

    assert callable(get2)
    assert callable(get3)


def test_positional_only_arguments_are_passed_by_position() -> None:
    """get(self, key, /, limit=1): limit may come by keyword, key only by position."""

    @migration(new=lambda a, b, c=0: a)
    def get(self: Any, key: str, /, limit: int = 1) -> str:
        return key

    with pytest.raises(ConfigurationError, match="too many positional arguments"):

        @migration(new=lambda self, key: key)
        def get2(self: Any, key: str, limit: int = 1, /) -> str:
            return key

    assert callable(get)


def test_a_decorated_function_with_star_args_is_read_leniently() -> None:
    """*args or **kwargs in the decorated function: only what can never bind fails."""

    @migration(new=lambda self, key: key)
    def get(self: Any, *keys: str) -> str:
        return keys[0]

    @migration(new=lambda self, key, fresh: key)
    def get2(self: Any, key: str, **options: Any) -> str:
        return key

    with pytest.raises(ConfigurationError, match="too many positional arguments"):

        @migration(new=lambda key: key)
        def get3(self: Any, key: str, **options: Any) -> str:
            return key

    assert callable(get)
    assert callable(get2)


@pytest.mark.parametrize("order", ["inside", "outside"])
def test_a_staticmethod_passes_its_own_arguments(order: str) -> None:
    """Decorated staticmethod, inside or outside: the side takes the function's arguments."""

    def function(user_id: int) -> int:
        return user_id

    def decorate(side: Any) -> Any:
        if order == "inside":
            return staticmethod(migration(new=side)(function))
        return migration(new=side)(staticmethod(function))

    with pytest.raises(ConfigurationError, match="give 'new' the signature \\(user_id\\)"):
        decorate(lambda self, user_id: 0)

    class Repo:
        get = decorate(lambda user_id: user_id * 10)

    live()
    assert Repo.get(2) == 20
    assert Repo().get(3) == 30


def test_a_classmethod_passes_cls_first() -> None:
    """Decorator outside @classmethod: a plain side takes cls, a staticmethod side does not."""
    with pytest.raises(ConfigurationError, match=r"give 'new' the signature \(cls, key\)"):

        class Repo:
            @migration(new=lambda key: key)
            @classmethod
            def get(cls, key: str) -> str:
                return key

    with pytest.raises(ConfigurationError, match=r"without self: give 'new' the signature "
                                                 r"\(key\)"):

        class Repo2:
            @staticmethod
            def _new(owner: Any, key: str) -> str:
                return key

            @migration(new=_new)
            @classmethod
            def get(cls, key: str) -> str:
                return key

    class Repo3:
        @staticmethod
        def _static(key: str) -> str:
            return f"static:{key}"

        @classmethod
        def _class(cls, key: str) -> str:
            return f"{cls.__name__}:{key}"

        @migration(new=_static)
        @classmethod
        def get(cls, key: str) -> str:
            return key

        @migration(new=_class)
        @classmethod
        def get2(cls, key: str) -> str:
            return key

        @migration(new=lambda cls, key: f"plain:{key}")
        @classmethod
        def get3(cls, key: str) -> str:
            return key

    live()
    assert (Repo3.get("a"), Repo3.get2("b"), Repo3.get3("c")) == ("static:a", "Repo3:b",
                                                                  "plain:c")


def test_a_classmethod_side_of_a_method_takes_the_class_first() -> None:
    """A classmethod object as the side of an instance method: called with the class first."""
    with pytest.raises(ConfigurationError, match="missing a required argument: 'key'"):

        class Repo:
            @classmethod
            def _new(cls, owner: Any, key: str) -> str:
                return key

            @migration(new=_new)
            def get(self, key: str) -> str:
                return key

    class Repo2:
        @classmethod
        def _new(cls, key: str) -> str:
            return f"{cls.__name__}:{key}"

        @migration(new=_new)
        def get(self, key: str) -> str:
            return key

    live()
    assert Repo2().get("k") == "Repo2:k"


def test_a_staticmethod_side_of_a_method_is_called_without_self() -> None:
    """Either reading passes when decorating; the class then fixes it as a method's side."""

    class Repo:
        @staticmethod
        def _new(key: str) -> str:
            return f"static:{key}"

        @migration(new=_new)
        def get(self, key: str) -> str:
            return key

    live()
    assert Repo().get("a") == "static:a"

    def make() -> None:
        class Broken:
            @staticmethod
            def _new(instance: Any, key: str) -> str:
                return key

            @migration(new=_new)
            def get(self, key: str) -> str:
                return key

    message = str(creation_error(make))
    assert "Broken.get" in message
    assert "a staticmethod side of a method is called without self" in message
    assert "give 'new' the signature (key)" in message

    with pytest.raises(ConfigurationError, match=r"\(self, key\), or \(key\) if it is a "
                                                 "staticmethod"):

        class Neither:
            @staticmethod
            def _new(a: Any, b: Any, c: Any) -> str:
                return "x"

            @migration(new=_new)
            def get(self, key: str) -> str:
                return key


async def test_async_sides_are_checked_and_awaited() -> None:
    """async def and an async side: the same check; a matching side runs and is awaited."""
    async def wrong(key: str) -> str:
        return key

    with pytest.raises(ConfigurationError, match="too many positional arguments"):

        class Repo:
            @migration(new=wrong)
            async def get(self, key: str) -> str:
                return key

    async def right(self: Any, key: str) -> str:
        await asyncio.sleep(0)
        return f"new:{key}"

    class Repo2:
        @migration(new=right)
        async def get(self, key: str) -> str:
            return key

    live()
    assert await Repo2().get("a") == "new:a"


def test_callable_objects_are_read_by_their_call() -> None:
    """A callable object, decorated (with name=, which it needs) or as a side: read as its
    __call__, without its self."""

    class Lookup:
        def __call__(self, key: str) -> str:
            return f"old:{key}"

    class NewLookup:
        def __call__(self, key: str) -> str:
            return f"new:{key}"

    class TooMany:
        def __call__(self, key: str, other: str) -> str:
            return key

    lookup = migration(new=NewLookup(), name="lookup")(Lookup())
    with pytest.raises(ConfigurationError, match=r"'new' \(an object of class TooMany\)"):
        migration(new=TooMany(), name="lookup")(Lookup())

    live()
    assert lookup("a") == "new:a"


def test_a_bound_method_side_takes_the_instance_as_its_first_argument() -> None:
    """new=client.fetch: a bound method is called with the decorated function's arguments."""

    class Client:
        def fetch(self, repo: Any, key: str) -> str:
            return f"client:{key}"

        def fetch_key(self, key: str) -> str:
            return key

    client = Client()

    class Repo:
        @migration(new=client.fetch)
        def get(self, key: str) -> str:
            return key

    with pytest.raises(ConfigurationError, match=r"Client\.fetch_key that is a method"):

        class Repo2:
            @migration(new=client.fetch_key)
            def get(self, key: str) -> str:
                return key

    live()
    assert Repo().get("a") == "client:a"


class _BadSignature:
    """A callable whose __signature__ is not a Signature: inspect cannot read it."""

    __signature__ = "not a signature"

    def __call__(self, *args: Any) -> str:
        return "bad"


class _SignatureRaises:
    """A callable whose __signature__ raises."""

    @property
    def __signature__(self) -> Any:
        raise HostileError("no signature")

    def __call__(self) -> str:
        return "raises"


@pytest.mark.parametrize(
    "side",
    [max, functools.partial(max, 0), getattr, _BadSignature(), _SignatureRaises()],
    ids=["builtin", "partial-of-builtin", "getattr", "bad-signature", "signature-raises"],
)
def test_a_side_whose_signature_cannot_be_read_passes(side: Any) -> None:
    """Builtins, partials of them and objects whose signature cannot be read are let through."""

    class Repo:
        @migration(new=side)
        def get(self, key: str) -> str:
            return key

    assert Repo().get("a") == "a"


def test_a_decorated_function_whose_signature_cannot_be_read_passes() -> None:
    """Nothing to bind against: every side passes."""
    proxy = migration(new=lambda: 0, name="bad")(_BadSignature())
    assert proxy() == "bad"


def test_a_wraps_wrapper_is_read_as_what_it_takes() -> None:
    """A functools.wraps wrapper taking (*args, **kwargs) takes anything: __wrapped__ is not
    followed, so a decorator that adds an argument of its own does not fail the check."""

    def with_session(function: Callable[..., str]) -> Callable[..., str]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> str:
            return function(args[0], "session", *args[1:], **kwargs)

        return wrapper

    class Repo:
        @with_session
        def _new(self, session: str, key: str) -> str:
            return f"{session}:{key}"

        @migration(new=_new)
        def get(self, key: str) -> str:
            return key

    live()
    assert Repo().get("a") == "session:a"


def test_a_hostile_side_still_gets_a_message() -> None:
    """A side whose repr and str raise: the message names its class and runs neither."""

    class Hostile:
        def __call__(self) -> int:
            return 1

        def __repr__(self) -> str:
            raise HostileError("repr")

        __str__ = __repr__

    with pytest.raises(ConfigurationError) as info:

        @migration(new=Hostile())
        def get(key: str) -> str:
            return key

    assert "'new' (an object of class Hostile) has the signature ()" in str(info.value)


def test_a_side_whose_qualname_is_not_a_str_is_named_by_its_class() -> None:
    """A __qualname__ that is not a str is not trusted for the message."""

    class Odd:
        def __init__(self) -> None:
            self.__qualname__ = 5

        def __call__(self) -> int:
            return 1

    with pytest.raises(ConfigurationError, match=r"'new' \(an object of class Odd\)"):
        migration(new=Odd())(lambda key: key)


def test_hostile_defaults_are_not_shown() -> None:
    """Defaults are shown as … in the message: a default whose repr raises cannot break it."""

    class Default:
        def __repr__(self) -> str:
            raise HostileError("repr")

    with pytest.raises(ConfigurationError) as info:

        @migration(new=lambda key: key)
        def get(key: str, option: Any = Default()) -> str:  # noqa: B008
            return key

    assert "get(key, option=…)" in str(info.value)


def test_a_huge_signature_is_checked() -> None:
    """A function of 500 parameters: checked, and the message names the missing one."""
    names = [f"p{index}" for index in range(500)]
    namespace: dict[str, Any] = {}
    exec(f"def wide({', '.join(names)}): return p0", namespace)
    exec(f"def side({', '.join(names[:-1])}): return p0", namespace)
    with pytest.raises(ConfigurationError, match="too many positional arguments"):
        migration(new=namespace["side"])(namespace["wide"])


@pytest.mark.skipif("pass_result" not in MigrationOptions.__annotations__,
                    reason="pass_result= is not an option yet")
def test_with_pass_result_each_side_must_take_result() -> None:
    """pass_result=True: either side may run second and get result=: each must take it."""
    options: dict[str, Any] = {"pass_result": True}
    with pytest.raises(ConfigurationError, match="pass_result"):

        class Repo:
            @migration.write(new=lambda self, user: None, **options)
            def save(self, user: str, result: Any = None) -> None:
                pass

    class Repo2:
        @migration.write(new=lambda self, user, result=None: None, **options)
        def save(self, user: str, result: Any = None) -> None:
            pass

    assert callable(Repo2().save)


def test_operation_option_does_not_change_the_check() -> None:
    """@migration(operation=WRITE): checked like @migration.write."""
    with pytest.raises(ConfigurationError, match="too many positional arguments"):
        migration(new=lambda: None, operation=Operation.WRITE)(lambda key: None)


# -- nothing per call --------------------------------------------------------------------------


def test_no_check_runs_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """After decoration and class creation, the checks are never asked again."""

    class Repo:
        def _kv_get(self, key: str) -> str:
            return f"kv:{key}"

        @staticmethod
        def _static(key: str) -> str:
            return f"static:{key}"

        @migration(new="_kv_get")
        def get(self, key: str) -> str:
            return key

        @migration(new=_static)
        def get2(self, key: str) -> str:
            return key

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a check ran during a call")

    for name in ("_signature", "_check_name", "_typo_of", "_cannot_bind"):
        monkeypatch.setattr(checks, name, refuse)
    for stage in ("off", "shadow", "live", "complete"):
        configure(provider=StaticStageProvider(stage))
        assert Repo().get("a") in ("a", "kv:a")
        assert Repo().get2("b") in ("b", "static:b")


def test_a_proxy_with_nothing_to_check_later_holds_no_check() -> None:
    """Callable sides only, on a plain function: nothing is left for __set_name__."""

    @migration(new=lambda key: key)
    def get(key: str) -> str:
        return key

    @migration(new="_kv_get")
    def get2(self: Any) -> str:
        return "x"

    assert get._self_on_class is None  # type: ignore[attr-defined]
    assert get2._self_on_class is not None  # type: ignore[attr-defined]
