"""Posting the dashboard's and surveys' HTML forms as a browser does: with the CSRF token
the page carries (server/csrf.py). Tests of other features use `FormClient`; the CSRF
tests themselves (tests/test_security.py) post without it."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def form_token(client: TestClient, page: str = "/login") -> str:
    """The token a form on `page` carries for this client's cookies."""
    html = client.get(page, follow_redirects=True).text
    found = TOKEN_FIELD.search(html)
    assert found, f"no csrf_token field on {page}"
    return found.group(1)


class FormClient(TestClient):
    """A TestClient whose form posts to pages carry the page's CSRF token."""

    def post(self, url: Any, *args: Any, data: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        path = str(url)
        if isinstance(data, dict) and not path.startswith(("/v1/", "/webhooks/")):
            # The token is bound to the browser's cookie, not to a page: any page's will do.
            data = {"csrf_token": form_token(self), **data}
        return super().post(url, *args, data=data, **kwargs)
