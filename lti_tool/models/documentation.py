"""A unit's competence documentation as exported (PDF) for an inspection: what its
verification code stands for on the public ``/verify`` page.

A row keeps what the document said when it was made (the organisation's and unit's names,
the figures), so the page still tells what was printed after a unit is renamed or people
move. It holds no one's name: the exporter is a person id, never shown on the public page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import Base, UTCDateTime, intpk, str255

#: The expiring window of every document made before ``filters`` kept it.
EARLIER_EXPIRING_DAYS = 30


class DocumentationExport(Base):
    __tablename__ = "documentation_export"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(20), unique=True)
    """The verification code printed on the document (as a certificate's: K7QM-2XD9-PH4T)."""
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"))
    """The documented unit (with the units under it); None: the whole organisation."""
    organisation_name: Mapped[str255]
    unit_name: Mapped[str | None] = mapped_column(String(255))
    """As printed; None: the whole organisation."""
    scope_unit_ids: Mapped[list[int] | None] = mapped_column(JSON)
    """The units the document covered (the unit and those under it); None: all."""
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The filters the document was made with (job roles, competences, statuses, mandatory)
    and its expiring window (``expiring_days``)."""
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    exported_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    people: Mapped[int]
    """People in the document."""
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    """Cells per status (``CellStatus`` values)."""
    coverage: Mapped[float | None] = mapped_column(Float)
    """Per cent of the cells met or expiring; None: no cells."""

    @property
    def expiring_days(self) -> int:
        """The expiring window the statuses were decided with; a document made before the
        window was kept with it was made with the 30 days every export used then."""
        days: int = self.filters.get("expiring_days", EARLIER_EXPIRING_DAYS)
        return days
