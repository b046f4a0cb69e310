"""Reads on hot paths whose SQL Django compiles once per database.

Django builds a query anew on every call: cloning the queryset, resolving each lookup and
compiling the SQL cost several times what the database spends on a one-row SELECT (a
send's conversation lock and membership took about 1.7 ms each in Python, docs/
performance.md). A `CompiledQuery` lets Django compile the query once, with sentinel
values where the call's values go, then runs that SQL with each call's values. The rows
get Django's converters (SQLite's booleans and datetimes, for instance), and model
instances are made the way Django makes them (`Model.from_db`).

A query may also take one list of ids (`listed=True`: `message_id__in=ids`, say): its SQL
is compiled once for each length of list met, up to `MAX_LISTED` ids.

Should a sentinel not appear exactly once among the compiled parameters (a lookup that
transforms its value, say), the query is evaluated as usual on every call; and so is
every query under a Django other than those this module was written for
(`django_internals_supported`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import django
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable
from django.db.transaction import TransactionManagementError

# The Django versions (lowest included, highest not) whose compiler internals this
# module relies on (as_sql's parameters, select, get_converters, klass_info), and with
# them messaging.events' one-statement insert (Field.pre_save and get_db_prep_save on
# unsaved instances). Under any other, both take Django's ordinary path.
SUPPORTED_DJANGO = ((5, 2), (6, 0))


def django_internals_supported() -> bool:
    lowest, beyond = SUPPORTED_DJANGO
    return lowest <= tuple(django.VERSION[:2]) < beyond


# Values no id takes, each findable among the compiled parameters.
SENTINELS = (-7_700_000_007, -7_700_000_011, -7_700_000_013)
# What PostgreSQL's bigint holds: a larger id matches nothing, as in Django's lookups.
_BIGINT = range(-(2**63), 2**63)
# The longest list of ids a listed query compiles SQL for (one SQL per length).
MAX_LISTED = 128


def _listed_sentinels(count: int) -> tuple[int, ...]:
    return tuple(-7_700_001_000 - n for n in range(count))


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[int, ...]
    converters: list[tuple[int, tuple[list[Any], Any]]]
    field_names: tuple[str, ...] | None  # set when the rows are whole model instances
    locks: bool


class CompiledQuery:
    """`build(*ids)` returns the queryset for those ids (integers; up to three), or, with
    `listed=True`, `build(ids)` for one list of them."""

    def __init__(self, model: type[Model], build: Callable[..., QuerySet[Any]], *,
                 arity: int = 1, write: bool = False, listed: bool = False) -> None:
        if not 1 <= arity <= len(SENTINELS):
            raise ValueError(f"arity must be 1 to {len(SENTINELS)}")
        self.model = model
        self.build = build
        self.arity = arity
        self.write = write  # route as a write (a locking read must see the primary)
        self.listed = listed
        # By database alias; by (alias, length of the list) for a listed query.
        self.compiled: dict[Any, _Compiled | None] = {}

    def rows(self, *ids: int) -> list[Any]:
        """The rows as tuples (lists, where converted), as `values_list()` gives them."""
        alias, compiled = self._prepared(ids)
        if compiled is None:
            return list(self._built(ids).using(alias))
        return self._fetch(alias, compiled, self._values(ids))

    def all(self, *ids: Any) -> list[Any]:
        """Every row as a model instance (or as the queryset gives it)."""
        alias, compiled = self._prepared(ids)
        if compiled is None:
            return list(self._built(ids).using(alias))
        rows = self._fetch(alias, compiled, self._values(ids))
        if compiled.field_names is None:
            return rows
        return [self.model.from_db(alias, compiled.field_names, row) for row in rows]

    def first(self, *ids: int) -> Any:
        """The first row as a model instance (or as the queryset gives it), or None."""
        alias, compiled = self._prepared(ids)
        if compiled is None:
            return next(iter(self._built(ids).using(alias)), None)
        rows = self._fetch(alias, compiled, self._values(ids))
        if not rows:
            return None
        if compiled.field_names is None:
            return rows[0]
        return self.model.from_db(alias, compiled.field_names, rows[0])

    def _built(self, ids: tuple[Any, ...]) -> QuerySet[Any]:
        return self.build(list(ids[0])) if self.listed else self.build(*ids)

    def _values(self, ids: tuple[Any, ...]) -> tuple[int, ...]:
        return tuple(ids[0]) if self.listed else ids

    def _sentinels(self, ids: tuple[Any, ...]) -> tuple[Any, ...]:
        """What the SQL is compiled with: the sentinels in place of these ids."""
        if self.listed:
            return (list(_listed_sentinels(len(ids[0]))),)
        return SENTINELS[:self.arity]

    def _prepared(self, ids: tuple[Any, ...]) -> tuple[str, _Compiled | None]:
        if len(ids) != (1 if self.listed else self.arity):
            raise TypeError(f"expected {1 if self.listed else self.arity} ids, got {len(ids)}")
        alias = router.db_for_write(self.model) if self.write else router.db_for_read(self.model)
        if self.listed and not 0 < len(ids[0]) <= MAX_LISTED:
            return alias, None  # nothing to look up, or too many: Django's own query
        key = (alias, len(ids[0])) if self.listed else alias
        if key not in self.compiled:
            compiled = self._compile(alias, self._sentinels(ids))
            if compiled is None and self._refused_here(alias, ids):
                return alias, None  # compiled on a later call, inside a transaction
            self.compiled[key] = compiled
        compiled = self.compiled[key]
        if compiled is not None and any(type(value) is not int or value not in _BIGINT
                                        for value in self._values(ids)):
            # Django's own lookups decide: an id out of range matches nothing, "7" is 7.
            return alias, None
        return alias, compiled

    def _refused_here(self, alias: str, ids: tuple[Any, ...]) -> bool:
        """A locking query met outside a transaction: Django will refuse it this time."""
        return bool(self.build(*self._sentinels(ids)).query.select_for_update) and \
            connections[alias].get_autocommit()

    def _fetch(self, alias: str, compiled: _Compiled, ids: tuple[int, ...]) -> list[Any]:
        connection = connections[alias]
        if compiled.locks and connection.get_autocommit():
            # As Django refuses it: a lock outside a transaction would be released at once.
            raise TransactionManagementError("select_for_update cannot be used outside of a "
                                             "transaction.")
        params = list(compiled.params)
        for slot, value in zip(compiled.slots, ids, strict=True):
            params[slot] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if not compiled.converters:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for position, (converters, expression) in compiled.converters:
                value = values[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                values[position] = value
            converted.append(values)
        return converted

    def _compile(self, alias: str, sentinels: tuple[Any, ...]) -> _Compiled | None:
        if not django_internals_supported():
            return None
        queryset = self.build(*sentinels).using(alias)
        compiler = queryset.query.get_compiler(alias)
        connection = connections[alias]
        locks = bool(queryset.query.select_for_update) and connection.features.has_select_for_update
        if locks and connection.get_autocommit():
            return None  # Django refuses to compile it here; it will say so on evaluation
        sql, params = compiler.as_sql()
        slots = []
        for sentinel in (sentinels[0] if self.listed else sentinels):
            found = [i for i, param in enumerate(params) if param == sentinel]
            if len(found) != 1:
                return None
            slots.append(found[0])
        columns = [column for column, _, _ in compiler.select]
        converters = compiler.get_converters(columns)
        return _Compiled(sql, tuple(params), tuple(slots), list(converters.items()),
                         self._model_fields(queryset, compiler, columns), locks)

    def _model_fields(self, queryset: QuerySet[Any], compiler: Any,
                      columns: list[Any]) -> tuple[str, ...] | None:
        """The attribute names, when each row is exactly one model instance's fields."""
        if queryset._iterable_class is not ModelIterable:
            return None
        klass_info = compiler.klass_info or {}
        if klass_info.get("related_klass_infos") or compiler.annotation_col_map:
            raise ValueError("CompiledQuery makes plain model instances only")
        targets = [getattr(column, "target", None) for column in columns]
        if targets != list(self.model._meta.concrete_fields):
            raise ValueError("CompiledQuery makes instances from all their fields only")
        return tuple(field.attname for field in targets)
