"""Team stores: ``team init`` checks Vault and the database and makes the schema;
``team migrate`` copies a solo inventory (SQLite + OS keyring) into them;
``team migrate --remove-local`` removes that solo copy once the team stores hold all of it.

- ``setup``: what ``team init`` checks and finds;
- ``migrate``: the copy, resumable and never duplicating;
- ``remove_local``: the removal of the local copy, checked first, rerunnable.
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
from pplx_tui.ops.team.remove_local import (
    REMOVE_LOCAL_ACTION,
    LocalCopy,
    RemovalRefused,
    RemovalReport,
    check_local_copy,
    finish_interrupted_move,
    moved_aside,
    remove_local_copy,
)
from pplx_tui.ops.team.setup import DatabaseFound, VaultFound, check_vault, count_database

__all__ = [
    "MIGRATE_ACTION",
    "REMOVE_LOCAL_ACTION",
    "DatabaseFound",
    "LocalCopy",
    "MigrationProgress",
    "MigrationRefused",
    "MigrationReport",
    "MissingSecret",
    "RemovalRefused",
    "RemovalReport",
    "Side",
    "TableCount",
    "VaultFound",
    "check_local_copy",
    "check_vault",
    "count_database",
    "finish_interrupted_move",
    "migrate_inventory",
    "moved_aside",
    "remove_local_copy",
]
