"""What a transaction's own round trips cost the tool, and what a statement guard costs.

    .venv/bin/python bench/transaction_overhead.py \
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--rounds 3000]

It needs no tables: any database the server holds will do. On PostgreSQL (psycopg 3, as
the tool uses it) a request's session sends BEGIN before its first statement and COMMIT
at its end, each a round trip of its own. A page that only
reads (``db.reads_only``) runs its statements in autocommit instead. Each variant below is
a session running two ``SELECT 1`` and committing, ``--rounds`` times after 200 not counted,
in 3 batches; printed is the mean ``time.process_time`` (this process's CPU) and wall
time per session of the fastest batch, in µs:

- ``in a transaction``: BEGIN, two statements, COMMIT;
- ``autocommit``: the two statements alone (``db.read_outside_transaction``);
- ``with an engine event``: in a transaction, with a ``before_cursor_execute`` listener
  on the engine (what a guard against writes there would cost every statement);
- ``with a session event``: in a transaction, with a ``do_orm_execute`` listener on the
  session (where ``lti_tool.db`` checks that a session that only reads does not write).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

QUERY = text("SELECT 1")


class _EventSession(Session):
    """A session class of its own: the listener below must not reach other sessions."""


@event.listens_for(_EventSession, "do_orm_execute")
def _session_guard(state: Any) -> None:
    if state.session.info.get("reading_only") and not state.is_select:
        raise RuntimeError("a write")


def _engine(url: str, *, engine_event: bool = False) -> Engine:
    engine = create_engine(url, pool_size=2)
    if engine_event:

        @event.listens_for(engine, "before_cursor_execute")
        def _guard(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if conn.get_execution_options().get("reading_only") and statement[:6] != "SELECT":
                raise RuntimeError("a write")

    return engine


def _session(engine: Engine, kind: type[Session] = Session, autocommit: bool = False) -> None:
    with kind(engine) as session:
        if autocommit:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        session.execute(QUERY)
        session.execute(QUERY)
        session.commit()


def _measure(unit: Callable[[], None], rounds: int) -> tuple[float, float]:
    for _ in range(200):
        unit()
    best = (float("inf"), float("inf"))
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            unit()
        spent = ((time.process_time() - cpu) / rounds, (time.perf_counter() - wall) / rounds)
        best = min(best, spent)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    plain, guarded = _engine(url), _engine(url, engine_event=True)
    variants: dict[str, Callable[[], None]] = {
        "in a transaction": lambda: _session(plain),
        "autocommit": lambda: _session(plain, autocommit=True),
        "with an engine event": lambda: _session(guarded),
        "with a session event": lambda: _session(plain, _EventSession),
    }
    for name, unit in variants.items():
        cpu, wall = _measure(unit, args.rounds)
        print(f"{name:<24} {cpu * 1e6:6.0f} µs CPU  {wall * 1e6:6.0f} µs wall")
    plain.dispose()
    guarded.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
