"""Filters for the texts of sync failures on a page.

``{{ text|said_on:"info_tab" }}``: an explanation as read on the account's own pages (``said_on``).
``{{ text|spacing_shown }}``: names that differ only in spacing look alike in HTML, which collapses runs of
spaces; this shows each run of more than one space, and any tab or other unusual space, as visible marks.
"""

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from qbsync.sync.engine import explanations

register = template.Library()

# A run of two or more whitespace characters, or a single one that is not a plain space.
_ODD_SPACING = re.compile(r"\s{2,}|[^\S ]")
VISIBLE_SPACE = "\u2423"  # ␣


def _spacing_mark(run: str) -> str:
    count = len(run)
    words = f"{count} spaces" if set(run) == {" "} else f"{count} space character{'s' if count > 1 else ''}"
    return format_html(
        '<span class="qb-spacing" title="{}" aria-label="{}">{}</span>', words, words, VISIBLE_SPACE * count
    )


@register.filter
def said_on(text: str, place: str) -> str:
    """Unchanged without a ``place`` (a list's cell)."""
    return explanations.said_on(str(text or ""), place) if place else str(text or "")


@register.filter
def spacing_shown(text: str) -> SafeString:
    text = str(text or "")
    parts, last = [], 0
    for match in _ODD_SPACING.finditer(text):
        parts += [escape(text[last : match.start()]), _spacing_mark(match.group())]
        last = match.end()
    parts.append(escape(text[last:]))
    # Every part is escaped or built by format_html.
    return mark_safe("".join(parts))
