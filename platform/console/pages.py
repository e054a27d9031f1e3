"""Server-rendered pages."""

from __future__ import annotations

from typing import Any

from litestar.enums import MediaType
from litestar.response import Template


class Page(Template):
    """A template response that is always `text/html`.

    Litestar takes a Template's media type from its handler, and a handler that
    may also answer JSON or a redirect defaults to JSON: browsers would then show
    the page's source. Every page is built with this class instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("media_type", MediaType.HTML)
        super().__init__(*args, **kwargs)
