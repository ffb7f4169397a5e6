"""A footer that fits its width: the keys that fit, in the screen's order, then "? Keys".

Textual's footer lays every shown binding in a grid however narrow the terminal: at 80
columns the last ones are cut mid-word and their remains show beside the palette key
(``! Comp▏^p paletteA``). This one keeps whole keys only, as many as fit before the palette
key, and when some were left out ends with the help key (the help screen lists them all).
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: Cells around a key's label in the compact footer (a space between keys).
_GAP = 1


def _width(key: FooterKey) -> int:
    text = key.key_display + (" " + key.description if key.description else "")
    return len(text) + _GAP


class FittingFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)
        self._fitted_width = 0

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        palette = [
            w for w in widgets if isinstance(w, FooterKey) and w.has_class("-command-palette")
        ]
        keys = [w for w in widgets if isinstance(w, FooterKey) and w not in palette]
        others = [w for w in widgets if not isinstance(w, FooterKey)]
        width = self.size.width or self.app.size.width
        room = width - sum(_width(p) + 2 for p in palette)
        if others or sum(_width(k) for k in keys) <= room:
            yield from widgets  # groups (rare here) or everything fits: Textual's layout
            return
        more = self._help_key()
        room -= _width(more) if more is not None else 0
        kept: list[FooterKey] = []
        used = 0
        for k in keys:
            if used + _width(k) > room:
                break
            kept.append(k)
            used += _width(k)
        shown = [*kept, *([more] if more is not None else [])]
        self.styles.grid_size_columns = max(1, len(shown))
        yield from shown
        yield from palette

    def _help_key(self) -> FooterKey | None:
        found = next(
            (
                v
                for v in self.screen.active_bindings.values()
                if v[1].action in ("help", "app.help")
            ),
            None,
        )
        if found is None:
            return None
        _node, binding, enabled, _tooltip = found
        return FooterKey(
            binding.key,
            self.app.get_key_display(binding),
            "Keys",
            binding.action,
            disabled=not enabled,
            tooltip="every key of this screen",
        ).data_bind(compact=Footer.compact)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._fitted_width:
            self._fitted_width = event.size.width
            self.call_after_refresh(self.recompose)
