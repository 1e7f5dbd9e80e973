"""Statements for the hottest request paths (every API call's token, every webhook delivery,
every agent report), where the ORM's work around a one-row statement costs more than the
statement itself.

- ``CompiledQuery``: a queryset compiled once per thread and database, then run with new
  parameters; it hands back model instances exactly as the ORM would (the same converters, the
  same ``select_related`` populators).
- ``insert_once``: ``INSERT … ON CONFLICT (…) DO NOTHING RETURNING id`` for a model instance — one
  statement, where a refused plain insert needs a savepoint around it to keep a transaction
  usable (PostgreSQL, SQLite ≥ 3.35; an older SQLite gets the savepoint).

Both are built from the models' metadata: a new field is read and written without a change here.

- ``reuse_plans``: inside one transaction of such statements, let PostgreSQL keep one plan for
  each (a connection plans a statement with parameters on every run; see the settings)."""

import threading
from collections.abc import Callable
from functools import cache

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators


class CompiledQuery:
    """``CompiledQuery(Model, lambda p: Model.objects.filter(x=p))``: ``query.all("value")``
    returns what ``list(Model.objects.filter(x="value"))`` would, ``query.first(…)`` the first or
    None. The factory takes placeholder arguments and must use each as a query parameter, in
    order; it runs once per thread and database. No ``prefetch_related``, no annotations."""

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], probes=None):
        self.model = model
        self.build = build
        # Placeholder values to compile with, one per parameter, each of its field's type (a text
        # by default; an id needs a number). They must come back unchanged as the parameters.
        self.probes = probes
        self.local = threading.local()

    def all(self, *params) -> list[Model]:
        db, (compiler, sql, init_list, start, end, populators) = self._compiled(len(params))
        with connections[db].cursor() as cursor:
            cursor.execute(sql, list(params))
            rows = cursor.fetchall()
        if not rows:
            return []
        model = compiler.klass_info["model"]
        found = []
        for row in compiler.results_iter([rows]):
            instance = model.from_db(db, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            found.append(instance)
        return found

    def first(self, *params) -> Model | None:
        found = self.all(*params)
        return found[0] if found else None

    def _compiled(self, arity: int):
        db = router.db_for_read(self.model)
        compiled = getattr(self.local, db, None)
        if compiled is None:
            probes = list(self.probes or (f"compiled-query-parameter-{n}" for n in range(arity)))
            compiler = self.build(*probes).query.get_compiler(using=db)
            sql, params = compiler.as_sql()
            if list(params) != probes:  # a parameter was transformed or a constant added
                raise ValueError(f"the query's parameters are {params!r}, not its placeholders")
            select_fields = compiler.klass_info["select_fields"]
            start, end = select_fields[0], select_fields[-1] + 1
            init_list = [column[0].target.attname for column in compiler.select[start:end]]
            populators = get_related_populators(compiler.klass_info, compiler.select, db)
            compiled = (compiler, sql, init_list, start, end, populators)
            setattr(self.local, db, compiled)
        return db, compiled


def insert_once(instance: Model, constraint: str) -> bool:
    """Store ``instance`` and return True, or return False when a row with the same values of
    the unique constraint named ``constraint`` exists already (nothing written, the transaction
    still usable). Field defaults and ``pre_save`` (``auto_now_add``) apply as in ``save()``."""
    model = type(instance)
    db = router.db_for_write(model)
    connection = connections[db]
    if not connection.features.can_return_columns_from_insert:  # an older SQLite
        try:
            with transaction.atomic(using=db):  # a savepoint: the transaction goes on
                instance.save(force_insert=True, using=db)
        except IntegrityError:
            return False
        return True
    with connection.cursor() as cursor:
        cursor.execute(*insert_once_statement(instance, constraint, db))
        row = cursor.fetchone()
    if row is None:
        return False
    inserted(instance, row[0], db)
    return True


def insert_once_statement(instance: Model, constraint: str, db: str) -> tuple[str, list]:
    """``insert_once``'s statement and its parameters, to run as part of a larger one (a
    ``WITH`` clause on PostgreSQL): it returns the new row's id, or no row for a repeat. Once the
    id is known, ``inserted`` marks the instance stored."""
    model, connection = type(instance), connections[db]
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    values = [
        field.get_db_prep_save(field.pre_save(instance, add=True), connection) for field in fields
    ]
    return _insert_statement(model, constraint, db), values


def inserted(instance: Model, pk, db: str) -> None:
    """Mark ``instance`` as the stored row ``pk`` (what ``save()`` does after its INSERT)."""
    instance.pk = pk
    instance._state.adding, instance._state.db = False, db


@cache
def _insert_statement(model, constraint: str, db: str) -> str:
    quote = connections[db].ops.quote_name
    opts = model._meta
    fields = [field for field in opts.concrete_fields if not field.primary_key]
    (unique,) = (c for c in opts.constraints if c.name == constraint)
    columns = ", ".join(quote(field.column) for field in fields)
    conflict = ", ".join(quote(opts.get_field(name).column) for name in unique.fields)
    # only quoted names from the model are formatted in; the values are parameters
    return (
        f"INSERT INTO {quote(opts.db_table)} ({columns})"  # noqa: S608
        f" VALUES ({', '.join(['%s'] * len(fields))})"
        f" ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote(opts.pk.column)}"
    )


def reuse_plans(using: str = "default") -> None:
    """In the current transaction, let PostgreSQL reuse a prepared statement's plan
    (``plan_cache_mode = auto`` until the transaction ends). For transactions of fixed key
    lookups and writes (an agent's report), where one plan fits every value; the connection
    otherwise plans a statement with parameters for its values each time, which a search
    needs. Nothing on SQLite or without prepared statements."""
    connection = connections[using]
    prepared = connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is not None
    if connection.vendor != "postgresql" or not prepared:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("reuse_plans() applies to a transaction: call it inside atomic()")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = auto")
