"""Deferred models: built at first use, not at start-up, and the same models once built."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from mockapi.apidocs import handlers as docs
from mockapi.dashboard import feed as dashboard
from mockapi.dashboard import handlers as dashboard_handlers
from mockapi.domain import faultspec, scenario
from mockapi.domain.lazymodel import DeferredModel, DeferredRootModel
from mockapi.web import bodies as schemas
from mockapi.web import control
from tests.helpers import fresh_python


def _subclasses(cls: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def _models(*modules: Any) -> list[type[BaseModel]]:
    names = {module.__name__ for module in modules}
    return sorted(
        {
            model
            for model in _subclasses(BaseModel)
            if model.__module__ in names and "[" not in model.__name__
        },
        key=lambda model: (model.__module__, model.__qualname__),
    )


ANSWER_MODELS = _models(schemas)
OWN_MODELS = _models(schemas, faultspec, control, dashboard, dashboard_handlers, docs, scenario)


def test_every_answer_model_is_deferred() -> None:
    for model in ANSWER_MODELS:
        assert issubclass(model, DeferredModel | DeferredRootModel), model.__name__
        assert model.model_config.get("defer_build") is True, model.__name__


def test_starting_the_server_builds_no_answer_model() -> None:
    # A fresh interpreter: this one has built them all already.
    script = (
        "import json\n"
        "from mockapi.web import bodies as schemas\n"
        "from mockapi.app import create_app\n"
        "from mockapi.settings import Settings\n"
        "create_app(Settings(jwt_secret='x' * 32))\n"
        "built = [name for name, value in vars(schemas).items()\n"
        "         if isinstance(value, type) and value.__module__ == schemas.__name__\n"
        "         and getattr(value, '__pydantic_complete__', False)]\n"
        "print(json.dumps(built))\n"
    )
    output = fresh_python(script)
    assert json.loads(output) == []


def _eager(model: type[BaseModel]) -> type[BaseModel]:
    """The same model built at once: a subclass with the same name and docstring."""
    namespace = {
        "model_config": ConfigDict(defer_build=False),
        "__module__": model.__module__,
        "__qualname__": model.__qualname__,
        "__doc__": model.__doc__,
    }
    return type(model.__name__, (model,), namespace)


@pytest.mark.parametrize("model", OWN_MODELS, ids=lambda model: model.__qualname__)
def test_a_deferred_model_documents_what_an_eagerly_built_one_does(
    model: type[BaseModel],
) -> None:
    eager = _eager(model)
    for mode in ("validation", "serialization"):
        assert model.model_json_schema(mode=mode) == eager.model_json_schema(mode=mode)


@pytest.mark.parametrize("model", OWN_MODELS, ids=lambda model: model.__qualname__)
def test_a_deferred_model_refuses_input_as_an_eagerly_built_one_does(
    model: type[BaseModel],
) -> None:
    eager = _eager(model)
    inputs: list[Any] = [{}, {"unknown": 1}, [], "text", {"id": "not-a-uuid", "status": 5}]
    for given in inputs:
        errors = []
        for candidate in (model, eager):
            try:
                candidate.model_validate(given)
            except ValidationError as exc:
                errors.append(json.loads(exc.json(include_url=False)))
            else:
                errors.append([])
        assert errors[0] == errors[1]


def test_a_deferred_answer_dumps_what_an_eagerly_built_one_does() -> None:
    body = {"data": {"code": 200, "response_data": {"ok": True, "hostname": "vm", "detail": ""}}}
    body["data"]["response_data"]["timestamp"] = 1795607150.8821962  # type: ignore[index]
    deferred = schemas.HealthBody.model_validate(body)
    eager = _eager(schemas.HealthBody).model_validate(body)
    assert deferred.model_dump_json() == eager.model_dump_json()
