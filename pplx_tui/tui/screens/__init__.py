"""The TUI's screens. The main screen is on the first paint; the others are imported when
first opened (and by :mod:`pplx_tui.tui.screens.all` for their binding ids)."""
