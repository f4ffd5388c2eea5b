"""Engine and sessions. The schema is brought to the Alembic head on first use."""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from case_store import CyberclaimError
from case_store.home import db_url

MIGRATIONS = Path(__file__).parent / "migrations"


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    kwargs: dict = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _rec):  # WAL: readers never block the one writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()
    try:
        _upgrade(engine)
    except (DatabaseError, OperationalError) as e:
        shown = url.split("@")[-1] if "@" in url else url.removeprefix("sqlite:///")
        raise CyberclaimError(f"cannot open case database {shown}: {e.orig if hasattr(e, 'orig') else e}") from None
    return engine


def engine() -> Engine:
    return _engine(db_url())


@lru_cache(maxsize=4)
def _sessions(url: str) -> sessionmaker:
    # one factory per database: a new sessionmaker per transaction re-runs SQLAlchemy's event set-up
    # (about a quarter of a millisecond each, which a batch of hundreds of transactions notices)
    return sessionmaker(bind=_engine(url), expire_on_commit=False)


@contextmanager
def session() -> Iterator[Session]:
    """A transaction: committed on success, rolled back on any error."""
    s = _sessions(db_url())()
    try:
        yield s
        s.commit()
    except DatabaseError as e:
        s.rollback()
        raise CyberclaimError(f"case database error: {getattr(e, 'orig', e)}") from None
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()


def table_names() -> list[str]:
    return inspect(engine()).get_table_names()
