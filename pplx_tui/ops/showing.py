"""``keys show`` read with plain sqlite3, or psycopg on PostgreSQL (``store/records.py``): no
SQLAlchemy loaded.

The key's view is built by ``ops.views.key_view`` from plain records, as
``ops.inventory.key_detail`` builds it from ORM rows, so the JSON is the same (a test
compares the two on one inventory). ``--reveal`` reads the secret and audits it: that path
stays with ``ops.reveal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pplx_tui.core.errors import NotFound
from pplx_tui.core.text import validate_lookup
from pplx_tui.ops.views import KeyView, key_view
from pplx_tui.store.records import (
    TargetRec,
    find_key_rec,
    key_detail_rows,
    mark_for,
    reading,
)

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services


@dataclass(frozen=True)
class ShownKey:
    key: KeyView
    targets: list[TargetRec]  # in the table's order, as ``KeyDetail.targets``


def shown_key(svc: Services, name: str) -> ShownKey:
    """The key named ``name`` (as ``ops.inventory.find_key`` finds it) with its versions
    and targets; :class:`NotFound` if there is none."""
    lookup = validate_lookup(name)
    source = svc.db.source
    mark = mark_for(source)
    with reading(source) as con:
        key = find_key_rec(con, lookup, mark)
        if key is None:
            raise NotFound(
                f"No key named {lookup!r} in the inventory.", hint="See `pplx-tui keys list`."
            )
        rows = key_detail_rows(con, key, mark)
    return ShownKey(key_view(svc, key, rows.versions, len(rows.targets)), rows.targets)
