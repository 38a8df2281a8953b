"""The migration that moves the certification trail into the audit log keeps every event
(who, when, what, why, whom), and its downgrade gives them back, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from tests.functional.test_migrations import _config, _roundtrip_database

REVISION, BEFORE = "6bb3de8722bd", "876152d7b456"
AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _filler(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.DateTime):
        return AT
    if isinstance(kind, sa.Date):
        return AT.date()
    if isinstance(kind, sa.JSON):
        return {}
    return "x"


def _ensure(conn: sa.Connection, meta: sa.MetaData, name: str, **values: Any) -> None:
    """Row ``id`` 1 of ``name`` (or ``values``), its required parents first, every other
    required column filled with something of its type."""
    table = meta.tables[name]
    row: dict[str, Any] = {"id": 1}
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        for fk in column.foreign_keys:
            parent = fk.column.table.name
            if parent != name:
                _ensure(conn, meta, parent)
        row[column.name] = _filler(column)
    row.update(values)
    if conn.execute(sa.select(table.c.id).where(table.c.id == row["id"])).first() is None:
        conn.execute(table.insert().values(**row))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_certification_trail_moves_into_the_audit_log_and_back(kind, tmp_path):
    url = _roundtrip_database(kind, tmp_path)
    config = _config(url)
    command.upgrade(config, BEFORE)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.begin() as conn:
            _ensure(conn, meta, "person", id=7)
            _ensure(conn, meta, "certificate", person_id=7)
            trail = meta.tables["certificate_event"]
            conn.execute(
                trail.insert(),
                [
                    dict(organisation_id=1, certificate_id=1, action="issued", actor_id=None,
                         actor_label="", reason="", detail={"method": "automatic"}, at=AT),
                    dict(organisation_id=1, certificate_id=1, action="revoked", actor_id=7,
                         actor_label="Kari", reason="Feil person", detail={},
                         at=AT + dt.timedelta(days=1)),
                ],
            )  # fmt: skip
        command.upgrade(config, REVISION)
        with engine.connect() as conn:
            assert "certificate_event" not in sa.inspect(conn).get_table_names()
            events = conn.execute(
                sa.text(
                    "SELECT action, object_type, object_id, actor_person_id, actor_label, "
                    "detail, occurred_at FROM audit_event ORDER BY id"
                )
            ).all()
            people = conn.execute(sa.text("SELECT person_id FROM audit_event_person")).all()
        import json

        def loaded(detail: Any) -> Any:
            return json.loads(detail) if isinstance(detail, str) else detail

        assert [(e[0], e[1], e[2], e[3], e[4], loaded(e[5])) for e in events] == [
            ("issue", "certificate", "1", None, "system",
             {"certification_id": 1, "method": "automatic"}),
            ("revoke", "certificate", "1", 7, None,
             {"certification_id": 1, "reason": "Feil person"}),
        ]  # fmt: skip
        assert [p[0] for p in people] == [7, 7]

        command.downgrade(config, BEFORE)
        with engine.connect() as conn:
            back = conn.execute(
                sa.text(
                    "SELECT action, certificate_id, actor_id, reason FROM certificate_event "
                    "ORDER BY id"
                )
            ).all()
            left = conn.execute(sa.text("SELECT count(*) FROM audit_event")).scalar()
        assert [tuple(b) for b in back] == [
            ("issued", 1, None, ""),
            ("revoked", 1, 7, "Feil person"),
        ]
        assert left == 0
    finally:
        engine.dispose()
