"""SQLAlchemy tables. Schema changes go through Alembic (case_store/migrations)."""
from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    insured: Mapped[str | None] = mapped_column(Text)
    policy_path: Mapped[str | None] = mapped_column(Text)  # copy under the case's inputs/
    policy_sha256: Mapped[str | None] = mapped_column(String(64))
    financials_path: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(100))


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("case_id", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str] = mapped_column(Text)
    evidence_type: Mapped[str] = mapped_column(String(30))
    source: Mapped[str | None] = mapped_column(Text)
    acquired_by: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[str] = mapped_column(String(40))
    added_by: Mapped[str] = mapped_column(String(100))
    parent_sha256: Mapped[str | None] = mapped_column(String(64))  # set for derived evidence
    derivation: Mapped[str | None] = mapped_column(Text)  # e.g. "carved from pcap packet 17"
    clock_offset_s: Mapped[float | None] = mapped_column()  # correction added to evidence times
    timezone: Mapped[str | None] = mapped_column(String(64))  # zone of naive times in the evidence


class CustodyEntry(Base):
    __tablename__ = "custody"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    tool_version: Mapped[str] = mapped_column(String(40))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class IngestResult(Base):
    """One (evidence sha256, ingestor@version) parse; its events live in Parquet."""

    __tablename__ = "ingest_results"
    __table_args__ = (UniqueConstraint("evidence_sha256", "parser", "config_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_sha256: Mapped[str] = mapped_column(String(64), index=True)
    parser: Mapped[str] = mapped_column(String(80))
    config_hash: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(20))  # ok | partial | failed
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of IngestError dicts
    parquet_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))
    seconds: Mapped[float] = mapped_column(default=0.0)
    # JSON list of the unit's carved files ({sha256, size, name, locator, note, occurrences}): a case that
    # reuses this result registers them as its own derived evidence. NULL (rows from before 0003): unknown.
    carved: Mapped[str | None] = mapped_column(Text, nullable=True)


class User(Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))  # analyst | adjuster | lawyer | admin
    created_at: Mapped[str] = mapped_column(String(40))


class CaseAccess(Base):
    __tablename__ = "case_access"
    case_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), primary_key=True)


class Annotation(Base):
    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # star | tag | comment
    value: Mapped[str] = mapped_column(Text)
    at: Mapped[str] = mapped_column(String(40))


class SavedView(Base):
    __tablename__ = "saved_views"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text)  # JSON of the filter


class Run(Base):
    """One processing run of a case (ingest → storyline → adjust), with its result and diff."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    started_at: Mapped[str] = mapped_column(String(40))
    finished_at: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # running | done | failed
    versions: Mapped[str] = mapped_column(Text, default="{}")  # JSON: tool, ingestors, rules, policy sha
    result: Mapped[str | None] = mapped_column(Text)  # canonical JSON of adjust output
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    diff: Mapped[str | None] = mapped_column(Text)  # JSON diff against the previous run
    error: Mapped[str | None] = mapped_column(Text)
    driver: Mapped[str | None] = mapped_column(String(200))  # host:pid:start of the process running it (0002)
    input_key: Mapped[str | None] = mapped_column(String(64))  # hash of everything the result depends on (0002)


class Report(Base):
    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    number: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(10))
    lang: Mapped[str] = mapped_column(String(5))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))
