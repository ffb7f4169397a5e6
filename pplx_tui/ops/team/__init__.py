"""Team stores: ``team init`` checks Vault and the database and makes the schema;
``team migrate`` copies a solo inventory (SQLite + OS keyring) into them.

- ``setup``: what ``team init`` checks and finds;
- ``migrate``: the copy, resumable and never duplicating.
"""

from pplx_tui.ops.team.migrate import (
    MIGRATE_ACTION,
    MigrationProgress,
    MigrationRefused,
    MigrationReport,
    MissingSecret,
    Side,
    TableCount,
    migrate_inventory,
)
from pplx_tui.ops.team.setup import DatabaseFound, VaultFound, check_vault, count_database

__all__ = [
    "MIGRATE_ACTION",
    "DatabaseFound",
    "MigrationProgress",
    "MigrationRefused",
    "MigrationReport",
    "MissingSecret",
    "Side",
    "TableCount",
    "VaultFound",
    "check_vault",
    "count_database",
    "migrate_inventory",
]
