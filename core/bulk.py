"""Writing many rows at once at the database's own speed.

Django 5.2 inserts a bulk_create on PostgreSQL as one `INSERT ... SELECT * FROM UNNEST(arrays)`: every
column travels as an array literal, which psycopg builds in Python, escaping each element with a
regular expression. For rows carrying JSON documents (an offer's decision record) that escaping costs
more than the database's work (py-spy on the engine: a fifth of a pass). COPY is PostgreSQL's bulk load
path: the rows go out in the copy format, written by psycopg's C code.
"""

from django.db import connection
from django.db.models import Model


def rows_insert(objects: list[Model]) -> None:
    """Insert new model instances, all of one model, whose primary keys are set already (UUIDs made in
    Python): COPY on PostgreSQL, bulk_create elsewhere. Signals are not sent, as with bulk_create;
    database triggers fire."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects)
        return
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                obj._state.adding = False
                obj._state.db = connection.alias
                copy.write_row([f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields])
