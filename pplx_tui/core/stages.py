"""The stage of a key version and where its secret is: plain names, no database.

``store.tables`` re-exports them; code that must not load SQLModel (the fast read paths of
``check`` and ``keys show``) imports them from here.
"""

from __future__ import annotations


class Stage:
    PENDING = "pending"
    CURRENT = "current"
    PREVIOUS = "previous"
    REVOKED = "revoked"
    ALL = (PENDING, CURRENT, PREVIOUS, REVOKED)


class SecretState:
    STORED = "stored"  # in the keyring
    NOT_STORED = "not_stored"  # the keyring write failed; the user was shown the token once
    DELETED = "deleted"  # removed from the keyring after the API confirmed revocation
