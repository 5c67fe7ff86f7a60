"""Static files of the tool's own pages (docs, dashboard), served from the installed packages.

Each page has a fixed whitelist of files: a name not on it is 404, so no path from a request
ever reaches the file system.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, create_model

from mockapi.domain.lazymodel import DeferredModel
from mockapi.pages.headers import ASSET_HEADERS

#: A file of a page: where it is, and its media type.
Asset = tuple[Traversable, str]

#: How the document describes each media type's body, in the order it lists them.
_BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "text/javascript": {"type": "string"},
    "text/css": {"type": "string"},
    "application/json": {"type": "object"},
    "image/png": {},
}


def static_file(*parts: str) -> Traversable:
    """A file of the package's ``static/`` folder, wherever the package is installed."""
    return resources.files("mockapi.pages").joinpath("static", *parts)


class AssetSet:
    """One page's whitelist of files, read once and kept in memory."""

    def __init__(self, files: dict[str, Asset]) -> None:
        self.files = files
        self._bytes: dict[str, bytes] = {}
        self._versions: dict[str, str] = {}

    @property
    def media(self) -> dict[str, dict[str, Any]]:
        """The body schema of every media type the set serves (for the OpenAPI document)."""
        used = {media for _, media in self.files.values()}
        return {media: schema for media, schema in _BODY_SCHEMAS.items() if media in used}

    def path_model(self, page: str, example: str, module: str) -> type[BaseModel]:
        """The ``{filename}`` path parameter's model: one of the set's names, documented as an enum.

        ``module`` is the page's module, so the model is reported (and tested) as its own.
        """
        model: type[BaseModel] = create_model(
            "AssetPath",
            __base__=DeferredModel,
            __doc__=f"A file of the {page}; any other name is 404.",
            __module__=module,
            filename=(str, Field(json_schema_extra={"enum": list(self.files)}, examples=[example])),
        )
        return model

    def read(self, name: str) -> bytes:
        if name not in self._bytes:
            self._bytes[name] = self.files[name][0].read_bytes()
        return self._bytes[name]

    def version(self, name: str) -> str:
        """A content hash for the file's URL, so a browser never runs a stale copy."""
        if name not in self._versions:
            self._versions[name] = hashlib.sha256(self.read(name)).hexdigest()[:12]
        return self._versions[name]

    def response(self, request: web.Request) -> web.Response:
        """The file named by the ``filename`` path parameter; 404 if it is not in the set."""
        name = request.match_info["filename"]
        if name not in self.files:
            raise web.HTTPNotFound()
        return web.Response(
            body=self.read(name), content_type=self.files[name][1], headers=ASSET_HEADERS
        )
