"""The keyring-backed secret store: the only place a secret is kept."""
