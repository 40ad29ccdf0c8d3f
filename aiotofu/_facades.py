"""``client.runs.list``, ``.watch``...: methods derived from the classes an endpoint module
declares, so that no keyword of an endpoint is written outside ``aiotofu/endpoints/``.

An endpoint module joins its filters class with the options of a listing or a watch
(``class RunList(RunFilters, SortedListOptions[Run])``, see ``_options``). ``listing(RunList)``
is ``Runs.list``: typed through ``ParamSpec``, a type checker sees exactly the parameters of
``RunList``'s constructor (the attrs plugin of mypy and pyright's dataclass transform both
synthesise it), so a misspelt keyword, an enum typo or a missing required filter is an error,
and the record type comes from ``ListOptions[Run]``. At run time the method has the same
parameters as its ``__signature__`` (what ``help()``, ``inspect.signature()`` and Jupyter
show) and a docstring composed from each field's help.

A call splits its keywords in two: the filters build the endpoint's filters class (which checks
and normalises them), the options go to the engine with the declared defaults. The joined class
is never built: it is the declaration of the signature.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import attrs

from ._endpoint import Endpoint
from ._filters import Filters
from ._options import ListOptions, PlanOptions, WatchOptions, help_of
from ._paginate import Paginator
from ._planning import ShardSearch
from ._shards import Plan
from ._watch import Watcher
from .errors import InvalidParameterError

__all__ = ["Parameters", "listing", "planning", "sharding", "watching"]

T = TypeVar("T")
P = ParamSpec("P")

_EMPTY = inspect.Parameter.empty


@attrs.frozen
class Parameters:
    """What a facade takes, read once from an endpoint's declaring class: its filters class,
    the filters it takes (those the class declares again are the ones it leaves out: a watch's
    creation window), the options with their defaults, and the signature and docstring."""

    filters: type[Filters]
    filter_names: tuple[str, ...]
    # Declared again as None (a watch's creation window): a type checker lets None through.
    left_out: frozenset[str]
    options: dict[str, Any]
    names: frozenset[str]
    signature: inspect.Signature
    doc: str
    annotations: dict[str, Any]

    @classmethod
    def of(cls, declaring: type[Any], returns: Any) -> Parameters:
        """The parameters that ``declaring`` (filters joined with options) declares."""
        bases = [base for base in declaring.__bases__ if issubclass(base, Filters)]
        if len(bases) != 1:
            raise TypeError(f"{declaring.__name__} must derive from exactly one filters class")
        filters: type[Filters] = bases[0]
        fields = attrs.fields_dict(declaring)
        left_out = {f.name for f in attrs.fields(declaring) if not f.inherited} & {
            name for name, _ in filters.declared()
        }
        declared = [(name, info) for name, info in filters.declared() if name not in left_out]
        options = _options_in_order(declaring, {name for name, _ in filters.declared()})
        hints = typing.get_type_hints(declaring)

        def parameter(name: str) -> inspect.Parameter:
            default = fields[name].default
            return inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=_EMPTY if default is attrs.NOTHING else default,
                annotation=hints[name],
            )

        names = [name for name, _ in declared] + [field.name for field in options]
        self_ = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        signature = inspect.Signature([self_, *map(parameter, names)], return_annotation=returns)
        lines = [inspect.cleandoc(declaring.__doc__ or ""), "", "Filters (the API's):"]
        for name, info in declared:
            lines.append(f"    {name}: {info.help}{' (required)' if info.required else ''}")
        lines += ["", "Options:"]
        for field in options:
            help = help_of(field) or _sort_help(hints[field.name])
            given = "required" if field.default is attrs.NOTHING else f"default {field.default!r}"
            lines.append(f"    {field.name}: {help} ({given})")
        return cls(
            filters=filters,
            filter_names=tuple(name for name, _ in declared),
            left_out=frozenset(left_out),
            options={field.name: field.default for field in options},
            names=frozenset(names),
            signature=signature,
            doc="\n".join(lines),
            annotations={**{name: hints[name] for name in names}, "return": returns},
        )

    def arguments(
        self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Filters, dict[str, Any]]:
        """The filters (checked) and the options (with their defaults) of one call. What
        Python refuses for these parameters (a positional argument, an unknown or a missing
        keyword) raises its TypeError, naming ``function``. A filter left out (a watch's own
        window) is taken as None, which the declaring class types it as, and refused otherwise."""
        for name in self.left_out & kwargs.keys():
            if kwargs[name] is not None:
                raise InvalidParameterError(
                    name, f"{function}() sets its own window: give since= (or lookback=) instead"
                )
            kwargs = {key: value for key, value in kwargs.items() if key != name}
        required = {name for name, default in self.options.items() if default is attrs.NOTHING}
        if args or not kwargs.keys() <= self.names or not required <= kwargs.keys():
            self._bind(function, args, kwargs)
        try:
            filters = self.filters(**{k: v for k, v in kwargs.items() if k in self.filter_names})
        except TypeError:  # a required filter missing
            self._bind(function, args, kwargs)
            raise
        options = {name: kwargs.get(name, default) for name, default in self.options.items()}
        return filters, options

    def _bind(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self.signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{function}() {exc}") from None

    def install(self, method: Callable[..., Any], name: str) -> None:
        """Give ``method`` the declared name, signature, docstring and annotations."""
        method.__name__ = method.__qualname__ = name
        method.__doc__ = self.doc
        method.__annotations__ = self.annotations
        method.__signature__ = self.signature  # type: ignore[attr-defined]
        method.parameters = self  # type: ignore[attr-defined]

    def check(self, endpoint: Endpoint[Any, Any], watch: bool) -> None:
        """Refuse, when a resource is defined, a facade declared for another endpoint, or a
        watch that takes its own window (its creation window, ``time_bounds``) as filters."""
        if self.filters is not endpoint.filters:
            raise TypeError(f"{endpoint.name}: declared with {self.filters.__name__}")
        left_out = {name for name, _ in endpoint.filters.declared()} - set(self.filter_names)
        bounds = set(endpoint.time_bounds or ()) if watch else set()
        if left_out != bounds:
            raise TypeError(f"{endpoint.name}: a watch leaves out exactly {sorted(bounds)}")


def _options_in_order(declaring: type[Any], filter_names: set[str]) -> list[attrs.Attribute[Any]]:
    """The options of ``declaring``: its own (``sort_by``) first, then each options class's
    from the most derived to the base (``sort_order``, then ``page_size``...)."""
    seen: set[str] = set()
    options = []
    for base in declaring.__mro__:
        if not attrs.has(base) or (base is not declaring and issubclass(base, Filters)):
            continue
        for field in attrs.fields(base):
            if field.inherited or field.name in filter_names or field.name in seen:
                continue
            seen.add(field.name)
            options.append(field)
    return options


def _sort_help(hint: Any) -> str:
    """The help of ``sort_by``: its values (a Literal)."""
    return "order by " + ", ".join(repr(value) for value in typing.get_args(hint))


def _record_of(declaring: type[Any], generic: type[Any]) -> Any:
    """The record type ``T`` of ``generic[T]`` among the declaring class's bases."""
    for base in getattr(declaring, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, generic):
            return typing.get_args(base)[0]
    return Any


def listing(
    declaring: Callable[P, ListOptions[T]],
) -> Callable[Concatenate[Any, P], Paginator[T]]:
    """``list()`` of a resource, with the parameters of ``declaring`` (an endpoint's filters
    joined with ``ListOptions``): returns the resource's Paginator of the records."""
    cls = typing.cast(type[Any], declaring)
    parameters = Parameters.of(cls, Paginator[_record_of(cls, ListOptions)])  # type: ignore[misc]

    def list(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> Paginator[T]:
        filters, options = parameters.arguments(list.__qualname__, args, kwargs)
        result: Paginator[T] = self._list(filters, **options)
        return result

    parameters.install(list, "list")
    return list


def watching(
    declaring: Callable[P, WatchOptions[T]],
) -> Callable[Concatenate[Any, P], Watcher[T]]:
    """``watch()`` of a resource, with the parameters of ``declaring`` (an endpoint's filters
    joined with ``WatchOptions``, its creation window declared again as None: left out)."""
    cls = typing.cast(type[Any], declaring)
    parameters = Parameters.of(cls, Watcher[_record_of(cls, WatchOptions)])  # type: ignore[misc]

    def watch(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> Watcher[T]:
        filters, options = parameters.arguments(watch.__qualname__, args, kwargs)
        result: Watcher[T] = self._watch(filters, **options)
        return result

    parameters.install(watch, "watch")
    return watch


def planning(
    declaring: Callable[P, PlanOptions],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, Plan]]:
    """``plan()`` of a resource, with the parameters of ``declaring`` (an endpoint's filters
    joined with ``PlanOptions``): checks them at once, and returns the coroutine that plans."""
    cls = typing.cast(type[Any], declaring)
    parameters = Parameters.of(cls, Plan)

    def plan(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, Plan]:
        filters, options = parameters.arguments(plan.__qualname__, args, kwargs)
        search: ShardSearch = self._shards(filters, **options)
        return search.plan()

    parameters.install(plan, "plan")
    return plan


def sharding(
    declaring: Callable[P, PlanOptions],
) -> Callable[Concatenate[Any, P], ShardSearch]:
    """``shards()`` of a resource, with the parameters of ``declaring`` (as ``plan()``): the
    shards as they are found."""
    cls = typing.cast(type[Any], declaring)
    parameters = Parameters.of(cls, ShardSearch)

    def shards(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> ShardSearch:
        filters, options = parameters.arguments(shards.__qualname__, args, kwargs)
        search: ShardSearch = self._shards(filters, **options)
        return search

    parameters.install(shards, "shards")
    return shards
