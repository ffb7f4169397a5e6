"""Domain model, policies, fingerprints, masking and validation. No I/O here."""
