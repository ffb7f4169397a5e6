"""The checklists a person works through after containment: the access review in the web
console, then the measures against the next leak. The incident's step advances when every
item of the current checklist is ticked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pplx_tui.core.errors import BadInput
from pplx_tui.ops.incident.record import IncidentView, advance, get_incident, update

if TYPE_CHECKING:
    from pplx_tui.ops.context import Services

#: The access review ("review access logs"): there is no usage API, so this is a checklist
#: for the web console.
REVIEW_CHECKLIST: tuple[tuple[str, str], ...] = (
    (
        "usage",
        "Open the API group's usage dashboard in the Perplexity web console and look at the "
        "compromised key's requests since it leaked: volume, models, times of day.",
    ),
    (
        "billing",
        "Check invoices and credit balance for unexpected spend; invoices name keys by their "
        "last 4 characters.",
    ),
    (
        "unknown_keys",
        "Compare the web console's key list for this API group with the names below and "
        "revoke there every key nobody recognises: any key can mint keys and the API cannot "
        "list them, so a leaked key may have made keys this inventory never saw, whose secrets "
        "were shown once, to whoever made them; only the console can revoke those.",
    ),
    (
        "where",
        "Find where the key leaked (repository, log, ticket, chat) and remove it there too; "
        "purge it from git history if it was committed.",
    ),
)
#: Further measures against the next leak (after OWASP's secrets management advice).
MEASURES_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("allowlist", "Enable IP allowlisting or other restrictions on the API group if available."),
    (
        "scanning",
        "Add secret scanning to the repositories involved (pre-commit and CI: gitleaks, "
        "trufflehog or GitHub secret scanning).",
    ),
    (
        "delivery",
        "Deliver the key through a secret manager or deployment target rather than files in "
        "the working tree.",
    ),
    (
        "other_keys",
        "Rotate any other key exposed in the same place (run `pplx-tui scan` over it).",
    ),
)


def complete_checklist(
    svc: Services, incident_id: int, which: str, done: dict[str, bool]
) -> IncidentView:
    """Tick the review or measures checklist; the step advances when every item is ticked."""
    items = {"review": REVIEW_CHECKLIST, "measures": MEASURES_CHECKLIST}.get(which)
    if items is None:
        raise BadInput(f"Unknown checklist {which!r}.")
    inc = get_incident(svc, incident_id)
    if inc.step != which:
        raise BadInput(f"Incident #{incident_id} is at step {inc.step}, not {which}.")
    state = dict(inc.checklist)
    for item_id, _ in items:
        if done.get(item_id):
            state[f"{which}.{item_id}"] = True
    complete = all(state.get(f"{which}.{i}") for i, _ in items)
    ticked = sum(1 for i, _ in items if state.get(f"{which}.{i}"))
    update(
        svc,
        incident_id,
        checklist=json.dumps(state),
        note=f"{which} checklist: {ticked}/{len(items)} done",
        step_label=which,
    )
    if complete:
        advance(svc, incident_id, inc.mode, which)
    return get_incident(svc, incident_id)
