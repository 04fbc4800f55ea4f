"""``postgate backup``: an online copy of the SQLite storage, taken while a gateway holds it open,
that a gateway started on it reads back (the restore of docs/operations.md)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from postgate import Message
from postgate.cli import cli


def config_for(folder: Path, data_dir: Path, extra: str = "") -> Path:
    path = folder / "postgate.toml"
    path.write_text(f'data_dir = "{data_dir}"\n{extra}')
    return path


async def test_backup_of_a_running_gateway_restores(gateway_factory, tmp_path, monkeypatch):
    monkeypatch.delenv("POSTGATE_CONFIG", raising=False)
    live = gateway_factory()
    await live.start()
    await live.accept(Message(domain="mg.example.com", sender="a@mg.example.com",
                                         to=["b@example.com", "c@example.com"], subject="s", text="t"))
    config = config_for(tmp_path, live.settings.data_dir)
    copy = tmp_path / "copies" / "postgate-backup.sqlite3"
    copy.parent.mkdir()

    result = CliRunner().invoke(cli, ["backup", "--config", str(config), str(copy)])

    assert result.exit_code == 0, result.output
    assert f"to {copy}" in result.output
    assert not copy.with_name(copy.name + ".partial").exists()
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM recipients").fetchone() == (2,)
        [(batch_id,)] = db.execute("SELECT id FROM batches").fetchall()

    # restore: the copy as the database of a fresh data folder, read by a new gateway
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    shutil.copy(copy, restored_dir / "postgate.sqlite3")
    restored = gateway_factory(plugin_settings={"sqlite": {"path": str(restored_dir / "postgate.sqlite3")}})
    await restored.start()
    original = await live.storage.get_batch(batch_id)
    copied = await restored.storage.get_batch(batch_id)
    assert copied is not None and copied.message_id == original.message_id


def test_backup_refuses_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTGATE_CONFIG", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    sqlite3.connect(data / "postgate.sqlite3").execute("CREATE TABLE t (x)").connection.close()
    target = tmp_path / "exists.sqlite3"
    target.write_text("keep me")
    result = CliRunner().invoke(cli, ["backup", "--config", str(config_for(tmp_path, data)), str(target)])
    assert result.exit_code == 1
    assert "exists already" in result.output
    assert target.read_text() == "keep me"


def test_backup_without_a_database_says_to_migrate(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTGATE_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["backup", "--config", str(config_for(tmp_path, tmp_path / "none")),
                                      str(tmp_path / "b.sqlite3")])
    assert result.exit_code == 1
    assert "no SQLite database at" in result.output and "postgate migrate" in result.output


def test_backup_of_another_storage_points_at_its_tool(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTGATE_CONFIG", raising=False)
    config = config_for(tmp_path, tmp_path / "data", 'load_plugins = ["mysql"]\n[backends]\nstorage = "mysql"\n')
    result = CliRunner().invoke(cli, ["backup", "--config", str(config), str(tmp_path / "b.sqlite3")])
    assert result.exit_code == 1
    assert "mysqldump --single-transaction" in result.output
    assert not (tmp_path / "b.sqlite3").exists()
