"""postgate-hello: the example plugin of docs/writing_plugins.md."""

import dataclasses

from pydantic import BaseModel, ConfigDict
from quart import Blueprint, jsonify

from postgate import hookimpl


class HelloSettings(BaseModel):
    """The ``[plugins.hello]`` table."""

    model_config = ConfigDict(extra="forbid")
    greeting: str = "hello"


@hookimpl
def register_settings(register):
    register("hello", HelloSettings)


@hookimpl
def register_routes(gateway):
    blueprint = Blueprint("hello", __name__)

    @blueprint.get("/hello")
    async def hello():
        return jsonify({"greeting": gateway.plugin_settings("hello").greeting})

    return [blueprint]


@hookimpl
def prepare_message(gateway, rendered):
    greeting = gateway.plugin_settings("hello").greeting
    return dataclasses.replace(rendered, headers=[*rendered.headers, ("X-Hello", greeting)])
