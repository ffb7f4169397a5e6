"""Modal dialogs of the TUI. Each returns its answer with ``dismiss``; none calls ``ops/``."""

from __future__ import annotations

from pplx_tui.tui.modals.base import FormModal
from pplx_tui.tui.modals.bulk_confirm import BulkConfirmModal
from pplx_tui.tui.modals.dismiss import DismissModal
from pplx_tui.tui.modals.edit import EditModal
from pplx_tui.tui.modals.error import ErrorModal
from pplx_tui.tui.modals.generate import GenerateModal
from pplx_tui.tui.modals.import_key import ImportModal
from pplx_tui.tui.modals.quit import QuitModal
from pplx_tui.tui.modals.resume import ResumeModal
from pplx_tui.tui.modals.revoke import RevokeModal
from pplx_tui.tui.modals.rotate import RotateModal
from pplx_tui.tui.modals.targets import TargetsModal

ALL_MODALS = (
    FormModal,
    BulkConfirmModal,
    DismissModal,
    EditModal,
    ErrorModal,
    GenerateModal,
    ImportModal,
    QuitModal,
    ResumeModal,
    RevokeModal,
    RotateModal,
    TargetsModal,
)
