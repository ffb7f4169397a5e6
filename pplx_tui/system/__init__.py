"""What differs between Linux, macOS and Windows, behind one interface: private atomic file
writes, reading without following links, locks between processes, the platform's shell.

Nothing here knows about keys or the inventory; every layer above may use it.
"""
