"""Queries the ORM compiles once per process and database vendor, then runs with new values.

Compiling a query (Django's ``SQLCompiler``: joins, subqueries, annotations, ``values()``)
can cost more CPU than running it: the inbox socket's check of who is there (``access_of``, a
join and two ``EXISTS`` subqueries) took 1.7 ms of CPU a call through the ORM and 0.1 ms as
plain SQL, on every frame of every inbox socket. A ``Compiled`` query is built once, with a
``Marker`` in the place of each value that changes, and compiled on first use for the
connection's vendor; ``sql(**values)`` gives the SQL and its parameters with each marker's
place filled in, prepared as the compiler prepares that value (``Marker.field``).

A marker value must be one no other parameter of the query can equal (a negative id, a date
in another century): its places are found by comparing the compiled parameters with it.

The writes the same way: ``CompiledUpdate`` (a queryset's ``update()``, markers in its filter
and its changes), ``CompiledSave`` (``save(update_fields=...)`` of one row) and
``CompiledInsert`` (``create`` and ``bulk_create``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import AutoField, Field, Model
from django.db.models.signals import post_save, pre_save
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.subqueries import UpdateQuery

_Places = dict[str, list[tuple[int, type]]]  # a marker's places: index, the parameter's type


def _same(param: Any, wanted: Any) -> bool:
    """``param`` is the marker's value (of its type or a subclass: psycopg's ``Int4`` is an
    int; never a bool for an int)."""
    return (
        isinstance(param, type(wanted))
        and isinstance(param, bool) == isinstance(wanted, bool)
        and param == wanted
    )


# marker values: for ids, a UUID and an integer no row has; for times, one in another century
UUID_MARK = "00000000-0000-4000-8000-00000000feed"
INT_MARK = -424242
DATETIME_MARK = dt.datetime(1901, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


def _places(markers: dict[str, Marker], params: list[Any] | tuple[Any, ...]) -> _Places:
    """Where each marker's value is among the compiled parameters; refused: a marker that is
    not there, and two markers with one value (their places could not be told apart)."""
    places: _Places = {}
    for name, marker in markers.items():
        wanted = marker.prepared(marker.value)
        places[name] = [(i, type(p)) for i, p in enumerate(params) if _same(p, wanted)]
        if not places[name]:
            raise ValueError(f"the marker {name!r} is not among the query's parameters")
    taken = [i for spots in places.values() for i, _ in spots]
    if len(taken) != len(set(taken)):
        raise ValueError("two markers have the same value: give each its own")
    return places


def _filled(
    markers: dict[str, Marker], params: tuple[Any, ...], places: _Places, values: dict[str, Any]
) -> list[Any]:
    """The compiled parameters with each marker's places holding ``values[name]``, prepared
    by the marker's field (its errors, e.g. ValidationError for a malformed UUID, raise)."""
    filled = list(params)
    for name, value in values.items():
        prepared = markers[name].prepared(value)
        for i, kind in places[name]:  # as compiled (psycopg's Int4 for an int)
            filled[i] = prepared if type(prepared) is kind else kind(prepared)
    return filled


@dataclass(frozen=True)
class Marker:
    """A value that changes from run to run: ``value`` stands in for it when the query is
    compiled; ``field`` (if any) prepares each value as the compiler prepares it for that
    field (a UUID, a date on SQLite)."""

    value: Any
    field: Field | None = None

    def prepared(self, value: Any) -> Any:
        return value if self.field is None else self.field.get_db_prep_value(value, connection)


@dataclass(frozen=True)
class _Done:
    """A query compiled for one vendor: its SQL and parameters, where each marker goes, and
    what turns its rows into model instances as the ORM does."""

    sql: str
    params: tuple[Any, ...]
    places: _Places
    compiler: SQLCompiler
    converters: dict[int, Any]
    model: type[Model]
    init_list: list[str]  # the model's columns, by attribute name
    fields: slice  # where they are in a row
    annotations: dict[str, int]  # annotation name: its place in a row


class Compiled:
    """``build(**markers)`` (a QuerySet) compiled once per vendor; ``sql(**values)`` is its SQL
    and parameters for these values, ``fetchone`` its first row as the database gives it,
    ``instances`` its rows as model instances. Run on the vendor's ``connection``."""

    def __init__(self, build: Callable[..., Any], **markers: Marker):
        self._build = build
        self._markers = markers
        self._by_vendor: dict[str, _Done] = {}

    def _compile(self) -> _Done:
        query = self._build(**{name: m.value for name, m in self._markers.items()}).query
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()  # fills the compiler's select, klass_info, annotations
        places = _places(self._markers, params)
        klass = compiler.klass_info or {}
        selected = klass.get("select_fields") or [0]
        if klass.get("related_klass_infos"):
            raise ValueError("select_related is not supported: read the related row on its own")
        return _Done(
            sql=sql,
            params=tuple(params),
            places=places,
            compiler=compiler,
            converters=compiler.get_converters([column for column, _, _ in compiler.select]),
            model=query.model,
            init_list=[
                column.target.attname
                for column, _, _ in compiler.select[selected[0] : selected[-1] + 1]
            ]
            if klass
            else [],
            fields=slice(selected[0], selected[-1] + 1),
            annotations=dict(compiler.annotation_col_map or {}),
        )

    def _done(self) -> _Done:
        done = self._by_vendor.get(connection.vendor)
        if done is None:  # two threads may both compile it once: the same result
            done = self._by_vendor[connection.vendor] = self._compile()
        return done

    def sql(self, **values: Any) -> tuple[str, list[Any]]:
        """The SQL and its parameters, each marker's places holding ``values[name]`` (prepared
        by the marker's field; its errors, e.g. ValidationError for a malformed UUID, raise)."""
        done = self._done()
        return done.sql, _filled(self._markers, done.params, done.places, values)

    def fetchone(self, **values: Any) -> tuple[Any, ...] | None:
        """Run it and return its first row (a tuple, as the database gives it), or None."""
        sql, params = self.sql(**values)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()

    def rows(self, **values: Any) -> list[Any]:
        """Run it and return its rows, each column through the ORM's converters (as a
        ``values_list`` of it would give them)."""
        sql, params = self.sql(**values)
        done = self._done()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if done.converters:
            rows = list(done.compiler.apply_converters(rows, done.converters))
        return rows

    def first(self, **values: Any) -> Any:
        """Its first row as a model instance (``instances``), or None."""
        found = self.instances(**values)
        return found[0] if found else None

    def instances(self, **values: Any) -> list[Any]:
        """Run it and return its rows as the model's instances, as a QuerySet of it would
        (each column through the ORM's converters, annotations as attributes)."""
        done = self._done()
        found = []
        for row in self.rows(**values):
            instance = done.model.from_db(connection.alias, done.init_list, row[done.fields])
            for name, at in done.annotations.items():
                setattr(instance, name, row[at])
            found.append(instance)
        return found


class CompiledUpdate:
    """``queryset.update(**changes)`` compiled once per vendor: ``build(**markers)`` gives the
    QuerySet and the changes, a ``Marker`` in the place of each value that changes (in the
    filter or among the changes); ``run(**values)`` runs it and returns the rows it changed.
    As ``update()``: no signals, no ``auto_now``. Refused when compiled: a state field among
    the changes (only its transition writes it) and a change to a parent model's field."""

    def __init__(self, build: Callable[..., Any], **markers: Marker):
        self._build = build
        self._markers = markers
        self._by_vendor: dict[str, tuple[str, tuple[Any, ...], _Places]] = {}

    def _compile(self) -> tuple[str, tuple[Any, ...], _Places]:
        queryset, changes = self._build(**{name: m.value for name, m in self._markers.items()})
        state_field = getattr(queryset.model, "state_field", None)
        if state_field in changes:
            raise ValueError(f"{state_field} is written only by its state table's transition()")
        if queryset.query.is_sliced:
            raise TypeError("Cannot update a query once a slice has been taken.")
        query = queryset.query.chain(UpdateQuery)  # as QuerySet.update() builds it
        query.add_update_values(changes)
        if query.related_updates:
            raise ValueError("a parent model's field: update it through Django")
        query.clear_select_clause()
        sql, params = query.get_compiler(connection=connection).as_sql()
        return sql, tuple(params), _places(self._markers, params)

    def run(self, **values: Any) -> int:
        done = self._by_vendor.get(connection.vendor)
        if done is None:
            done = self._by_vendor[connection.vendor] = self._compile()
        sql, params, places = done
        with connection.cursor() as cursor:
            cursor.execute(sql, _filled(self._markers, params, places, values))
            return cursor.rowcount


def _plain(fields: list[Field]) -> list[Field]:
    """``fields``, each written as ``%s``; a field that writes its own SQL for a value
    (BinaryField's ``get_placeholder``) is refused: write that model through Django."""
    odd = [field.name for field in fields if hasattr(field, "get_placeholder")]
    if odd:
        raise ValueError(f"{odd} have their own placeholders: write them through Django")
    return fields


class CompiledSave:
    """``instance.save(update_fields=fields)`` as one ``UPDATE ... WHERE pk`` whose SQL is
    written once per vendor: each save prepares its values as Django's does (each field's
    ``pre_save``, so ``auto_now`` moves, then ``get_db_prep_save``) and runs it; compiling
    Django's UPDATE cost more CPU than running it. A model with save signals listened to
    saves through Django (its receivers run); a save that finds no row raises
    ``DatabaseError``, as Django's does."""

    def __init__(self, model: type[Model], fields: list[str]):
        state_field = getattr(model, "state_field", None)
        if state_field in fields:
            raise ValueError(f"{state_field} is written only by its state table's transition()")
        self.model = model
        self.names = list(fields)
        self._by_vendor: dict[str, str] = {}

    @cached_property
    def _fields(self) -> list[Field]:
        return _plain([self.model._meta.get_field(name) for name in self.names])  # type: ignore[misc]

    def _sql(self) -> str:
        sql = self._by_vendor.get(connection.vendor)
        if sql is None:
            meta, quote = self.model._meta, connection.ops.quote_name
            columns = ", ".join(f"{quote(field.column)} = %s" for field in self._fields)
            sql = self._by_vendor[connection.vendor] = (
                f"UPDATE {quote(meta.db_table)} SET {columns} "  # noqa: S608 (names, not values)
                f"WHERE {quote(meta.pk.column)} = %s"
            )
        return sql

    def save(self, instance: Model) -> None:
        if pre_save.has_listeners(self.model) or post_save.has_listeners(self.model):
            instance.save(update_fields=self.names)
            return
        sql = self._sql()
        params = [
            field.get_db_prep_save(field.pre_save(instance, False), connection)
            for field in self._fields
        ]
        params.append(self.model._meta.pk.get_db_prep_value(instance.pk, connection))
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.rowcount == 0:
                raise DatabaseError("Save with update_fields did not affect any rows.")


class CompiledInsert:
    """``bulk_create(objs)`` (and ``create``'s one row) as one ``INSERT ... VALUES ...
    RETURNING`` written once per vendor and row count: each row's values prepared as Django's
    are (each field's ``pre_save``, so ``auto_now_add`` stamps, then ``get_db_prep_save``), the
    new ids set on the objects. What Django's INSERT would do differently goes through Django:
    an object with its id set, a value that is an expression (a ``db_default``), more rows than
    ``MAX_ROWS``, and, for ``create``, a model whose save signals are listened to."""

    MAX_ROWS = 50  # 50 rows of a model's parameters stay under SQLite's oldest limit (999)

    def __init__(self, model: type[Model]):
        self.model = model
        self._by_vendor: dict[tuple[str, int], str] = {}

    @cached_property
    def _fields(self) -> list[Field]:
        return _plain(
            [
                field
                for field in self.model._meta.concrete_fields
                if not field.generated and not (field.primary_key and isinstance(field, AutoField))
            ]
        )

    def _sql(self, rows: int) -> str:
        key = (connection.vendor, rows)
        sql = self._by_vendor.get(key)
        if sql is None:
            quote = connection.ops.quote_name
            columns = ", ".join(quote(field.column) for field in self._fields)
            row = "(" + ", ".join(["%s"] * len(self._fields)) + ")"
            returning = ""
            if connection.features.can_return_rows_from_bulk_insert:
                returning, _ = connection.ops.return_insert_columns(
                    self.model._meta.db_returning_fields
                )
            sql = self._by_vendor[key] = (
                f"INSERT INTO {quote(self.model._meta.db_table)} ({columns}) "  # noqa: S608
                f"VALUES {', '.join([row] * rows)} {returning}"
            ).strip()
        return sql

    def create(self, **values: Any) -> Any:
        """``Model.objects.create(**values)``."""
        instance = self.model(**values)
        if pre_save.has_listeners(self.model) or post_save.has_listeners(self.model):
            instance.save(force_insert=True)
        else:
            self.insert([instance])
        return instance

    def insert(self, objs: list[Any]) -> None:
        """``Model.objects.bulk_create(objs)``."""
        if not objs:
            return
        if len(objs) > self.MAX_ROWS or any(obj.pk is not None for obj in objs):
            self.model._default_manager.bulk_create(objs)
            return
        params: list[Any] = []
        for obj in objs:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
            for field in self._fields:
                value = field.pre_save(obj, True)
                if hasattr(value, "resolve_expression"):  # a db_default, an F(): Django's way
                    self.model._default_manager.bulk_create(objs)
                    return
                params.append(field.get_db_prep_save(value, connection))
        returned = self.model._meta.db_returning_fields
        with connection.cursor() as cursor:
            cursor.execute(self._sql(len(objs)), params)
            rows = cursor.fetchall() if connection.features.can_return_rows_from_bulk_insert else []
        for obj, row in zip(objs, rows, strict=False):
            for field, value in zip(returned, row, strict=True):
                setattr(obj, field.attname, value)
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias
