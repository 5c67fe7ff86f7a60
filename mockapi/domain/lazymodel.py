"""The base of mockapi's pydantic models: each is built the first time it is used.

pydantic builds a model (its core schema, validator and serializer) when the class statement
runs, unless the model says ``defer_build``. mockapi has some eighty models, and building them
all was a large share of every start, while the first request (a health check, usually)
needs only a few of them. A model deriving from :class:`DeferredModel` is built on
its first validation, dump or JSON schema instead; the result is the same model, so the
bodies, the 422 lists and the documents are byte for byte what an eager build gives
(``tests/domain/test_lazymodel.py``). The cost moves to the first request that uses a model.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, RootModel

RootT = TypeVar("RootT")


class DeferredModel(BaseModel):
    """A ``BaseModel`` built on first use rather than at import (``defer_build``)."""

    model_config = ConfigDict(defer_build=True)


class DeferredRootModel(RootModel[RootT], Generic[RootT]):
    """A ``RootModel`` built on first use.

    Parametrising pydantic's own ``RootModel[list[X]]`` creates (and builds) a class with
    ``RootModel``'s settings before the subclass can defer anything; parametrising this one
    creates a deferred class.
    """

    model_config = ConfigDict(defer_build=True)
