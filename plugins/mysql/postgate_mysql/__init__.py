"""Postgate plugin: storage on MySQL/MariaDB (tortoise-orm + asyncmy, aerich migrations)."""

from __future__ import annotations

from postgate.hookspecs import Register, hookimpl


@hookimpl
def register_storages(register: Register) -> None:
    from .storage import factory

    register("mysql", factory)


@hookimpl
def register_settings(register: Register) -> None:
    from .settings import MysqlSettings

    register("mysql", MysqlSettings)
