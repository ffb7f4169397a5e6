"""Exposure scan: find Perplexity keys in files and git history, matched to the inventory.

- ``finds``: what a find is (a fingerprint and last 4, never the secret);
- ``walker``: folders and files; ``git``: the history of repositories; ``tree``: both
  together. None of these needs the inventory;
- ``match``: the finds matched to the inventory by fingerprint; ``report``: its JSON.
"""

from pplx_tui.ops.scan.finds import RawFind, find_keys
from pplx_tui.ops.scan.git import COMMIT_MESSAGE
from pplx_tui.ops.scan.match import Find, ScanReport, scan_paths
from pplx_tui.ops.scan.report import report_json
from pplx_tui.ops.scan.tree import scan_tree, scan_tree_detailed
from pplx_tui.ops.scan.walker import BINARY_PROBE, MAX_FILE_SIZE

__all__ = [
    "BINARY_PROBE",
    "COMMIT_MESSAGE",
    "MAX_FILE_SIZE",
    "Find",
    "RawFind",
    "ScanReport",
    "find_keys",
    "report_json",
    "scan_paths",
    "scan_tree",
    "scan_tree_detailed",
]
