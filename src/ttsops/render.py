"""Rendering the files ttsops writes for other tools, from ``ttsops/templates/``.

One Jinja environment for every template (nginx config, Dockerfile, and whatever comes
next): undefined names are errors (``StrictUndefined``), never empty strings, and nothing is
HTML-escaped but HTML pages (``*.html.j2``). Rendering is pure: callers write the text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

__all__ = ["render_template"]


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_source),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=_is_html,  # noqa: S701 - escaped for HTML pages, not for configs
    )


def _is_html(name: str | None) -> bool:
    """HTML pages (``*.html.j2``, the dashboard's) are escaped; configs never are."""
    return bool(name and name.endswith((".html.j2", ".html")))


def _source(name: str) -> str:
    return resources.files("ttsops").joinpath("templates", name).read_text(encoding="utf-8")


def render_template(name: str, **context: Any) -> str:
    """The text of template ``name`` (a path under ``templates/``) with ``context``."""
    return str(_environment().get_template(name).render(**context))
