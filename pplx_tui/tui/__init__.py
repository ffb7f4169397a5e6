"""The Textual terminal UI: the only layer that imports Textual. It holds no business logic:
every action goes through ``ops/``, the same code the command line uses."""
