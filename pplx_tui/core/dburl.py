"""The inventory's PostgreSQL URL, as users write it for libpq (``psql``, ``pg_dump``).

``postgresql://user:password@host:port/db?sslmode=require`` or ``postgres://...``: user,
password, host (or several, comma-separated), port, database and libpq's query parameters.
The text is handed to libpq unchanged (so ``PGPASSWORD``, ``~/.pgpass``, ``PGSSLMODE`` and
friends apply as libpq applies them); here it is only checked and shown. A password is never
shown: :func:`url_without_password` drops it from the user part and from the query.

Pure text work (no I/O): the config layer validates the setting with it, the store connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

SCHEMES = ("postgresql", "postgres")
MAX_URL_LEN = 4000
_SECRET_PARAMS = frozenset({"password", "passfile", "sslpassword"})


class BadDatabaseUrl(ValueError):
    """The text is not a ``postgresql://`` URL; the message never holds a password."""


def _split_auth(netloc: str) -> tuple[str | None, str | None, str]:
    """(user, password, hosts) of a netloc; the hosts part may list several ``host:port``."""
    if "@" not in netloc:
        return None, None, netloc
    auth, hosts = netloc.rsplit("@", 1)
    if ":" in auth:
        user, password = auth.split(":", 1)
        return unquote(user), unquote(password), hosts
    return unquote(auth), None, hosts


def url_without_password(text: str) -> str:
    """``text`` with any password removed (user part and query); other text unchanged. A
    string that is not a URL at all is replaced by a placeholder rather than shown."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<a database URL that does not parse>"
    if parts.scheme.lower() not in SCHEMES:
        return "<a database URL that is not postgresql://>"
    user, _password, hosts = _split_auth(parts.netloc)
    netloc = (quote(user, safe="") + "@" if user else "") + hosts
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if k.lower() not in _SECRET_PARAMS]
        if len(kept) != len(pairs):  # else shown as written
            query = urlencode(kept)
    # Built by hand: urlunsplit drops the empty host of ``postgresql:///db?host=/socket``.
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


@dataclass(frozen=True)
class PgUrl:
    """A checked PostgreSQL URL. ``str()`` and ``repr()`` never show the password."""

    text: str

    @property
    def shown(self) -> str:
        return url_without_password(self.text)

    @property
    def password(self) -> str | None:
        parts = urlsplit(self.text)
        pw = _split_auth(parts.netloc)[1]
        if pw is None:
            for k, v in parse_qsl(parts.query, keep_blank_values=True):
                if k.lower() == "password":
                    pw = v
        return pw or None

    @property
    def identity(self) -> str:
        """Where the inventory is, without the user or the password: ``host:port/db``."""
        parts = urlsplit(self.text)
        hosts = _split_auth(parts.netloc)[2]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if not hosts:
            hosts = query.get("host", "") + (":" + query["port"] if "port" in query else "")
        return f"{hosts}{unquote(parts.path) or '/'}"

    def hide(self, text: str) -> str:
        """``text`` (an error message) with this URL's password, should it appear, masked."""
        pw = self.password
        if pw:
            text = text.replace(pw, "***")
            if quote(pw, safe="") != pw:
                text = text.replace(quote(pw, safe=""), "***")
        return text

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"PgUrl({self.shown!r})"


def parse_pg_url(text: str) -> PgUrl:
    """Check ``text`` is a ``postgresql://`` (or ``postgres://``) URL; :class:`BadDatabaseUrl`
    says why not (without the password)."""
    text = text.strip()
    if not text:
        raise BadDatabaseUrl("it is empty")
    if len(text) > MAX_URL_LEN:
        raise BadDatabaseUrl(f"it is longer than {MAX_URL_LEN} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise BadDatabaseUrl("it holds a control character")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise BadDatabaseUrl("it does not parse as a URL") from None
    if parts.scheme.lower() not in SCHEMES:
        raise BadDatabaseUrl(
            "use a libpq URL such as postgresql://user@host:5432/db (postgresql:// or postgres://)"
        )
    hosts = _split_auth(parts.netloc)[2]
    for host in filter(None, hosts.split(",")):
        port = host.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in host else ""
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise BadDatabaseUrl(f"the port {port[:10]!r} is not a number from 1 to 65535")
    return PgUrl(text)
