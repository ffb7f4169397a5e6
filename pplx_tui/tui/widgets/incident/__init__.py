"""The compromise wizard's parts: one widget per phase, the step list and the event log.

Each phase widget shows what its step needs and tells the wizard screen what the user chose
with a message (:mod:`pplx_tui.tui.messages`); the screen only sequences them.
"""
