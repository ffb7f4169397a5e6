"""Workflows used by both the command line and the TUI. No Textual, no printing."""
