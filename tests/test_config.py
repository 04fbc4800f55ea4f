"""Configuration and startup validation: loud, clear failures before anything starts."""

import re

import pytest
from click.testing import CliRunner
from quart import Blueprint

from postgate import Gateway, hookimpl
from postgate.cli import cli
from postgate.settings import ConfigError, ensure_api_key, load_settings
from postgate.testing.fixtures import make_settings
from postgate.web import create_app


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("POSTGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path, text):
    path = tmp_path / "postgate.toml"
    path.write_text(text)
    return path


def test_quick_start_needs_only_key_and_domain(monkeypatch):
    monkeypatch.setenv("POSTGATE_API_KEY", "key-abc")
    monkeypatch.setenv("POSTGATE_DOMAIN", "News.Example.com")
    settings = load_settings()
    assert settings.domain_keys() == {"news.example.com": "key-abc"}
    assert settings.backends.storage == "sqlite" and settings.backends.queue == "local"


def test_environment_overrides_file_and_nests(tmp_path, monkeypatch):
    path = write(tmp_path, '[gateway]\nport = 4000\nchunk_size = 10\n[backends]\nqueue = "local"\n')
    monkeypatch.setenv("POSTGATE_GATEWAY__PORT", "5000")
    settings = load_settings(path)
    assert settings.gateway.port == 5000
    assert settings.gateway.chunk_size == 10


def test_config_path_from_environment(tmp_path, monkeypatch):
    path = write(tmp_path, 'domain = "a.example"\n')
    monkeypatch.setenv("POSTGATE_CONFIG", str(path))
    assert load_settings().domain == "a.example"


def test_domains_with_keys_from_environment(tmp_path, monkeypatch):
    path = write(tmp_path, '[domains."news.example.com"]\napi_key_env = "NEWS_KEY"\n')
    monkeypatch.setenv("NEWS_KEY", "key-news")
    assert load_settings(path).domain_keys() == {"news.example.com": "key-news"}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("gatway = 1\n", "gatway: unknown setting"),
        ("[gateway]\nport = 'x'\n", "gateway.port"),
        ("[backends]\nqueue = 3\n", "backends.queue"),
        ("[gateway\n", "cannot read config file"),
    ],
)
def test_invalid_file_names_the_problem(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert fragment in str(err.value)


def test_unknown_environment_variable_is_an_error(monkeypatch):
    monkeypatch.setenv("POSTGATE_APIKEY", "x")
    with pytest.raises(ConfigError, match="POSTGATE_APIKEY"):
        load_settings()


def test_variables_the_configuration_reads_by_name_are_not_unknown_settings(tmp_path, monkeypatch):
    # the tracking plugin's default keys_env, as docs/tracking.md tells operators to export it
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", "k1:" + "s" * 32)
    path = write(tmp_path, 'load_plugins = ["tracking"]\n'
                           '[domains."news.example.com"]\napi_key_env = "POSTGATE_NEWS_KEY"\n'
                           '[plugins.tracking]\nkeys_env = "POSTGATE_OTHER_KEYS"\n')
    monkeypatch.setenv("POSTGATE_NEWS_KEY", "key-news")
    monkeypatch.setenv("POSTGATE_OTHER_KEYS", "k1:" + "t" * 32)
    settings = load_settings(path)
    assert settings.domain_keys() == {"news.example.com": "key-news"}
    monkeypatch.setenv("POSTGATE_NEWS_KEYS", "x")  # a name no *_env setting gives is still refused
    with pytest.raises(ConfigError, match="unknown setting in the environment: POSTGATE_NEWS_KEYS"):
        load_settings(path)


def test_a_plugin_default_variable_is_read_by_name_only_while_the_plugin_is_loaded(tmp_path, monkeypatch):
    """The core names no plugin's variable: ``POSTGATE_TRACKING_KEYS`` is the default of the
    tracking plugin's ``keys_env``, so it is known once the plugin is loaded, and a typo otherwise."""
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", "k1:" + "s" * 32)
    with pytest.raises(ConfigError, match="unknown setting in the environment: POSTGATE_TRACKING_KEYS") as err:
        load_settings()
    assert "\n  POSTGATE_TRACKING_KEYS is read by the tracking plugin (postgate-tracking), which is not loaded" in str(
        err.value)  # tracking is installed: the error says how to load it
    monkeypatch.setenv("POSTGATE_LOAD_PLUGINS", '["tracking"]')
    assert load_settings().load_plugins == ["tracking"]
    monkeypatch.setenv("POSTGATE_FOO", "x")
    with pytest.raises(ConfigError, match="unknown setting in the environment: POSTGATE_FOO \\("):
        load_settings()


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def gateway(tmp_path, plugins=(), load_entrypoints=False, **overrides):
    return Gateway(make_settings(tmp_path, **overrides), plugins=plugins, load_entrypoints=load_entrypoints)


def test_unknown_backend_lists_the_available_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        gateway(tmp_path, backends={"storage": "postgres"})
    assert "unknown storage backend 'postgres'" in str(err.value)
    assert "sqlite" in str(err.value)


def test_missing_plugin_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no installed package provides"):
        gateway(tmp_path, load_plugins=["nonexistent"], load_entrypoints=True)


def test_unknown_plugin_table_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\[plugins.nothere\]"):
        gateway(tmp_path, plugin_settings={"nothere": {"x": 1}})


def test_invalid_plugin_setting_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\[plugins.sqlite\]"):
        gateway(tmp_path, plugin_settings={"sqlite": {"no_such_key": 1}})


def test_essential_plugin_cannot_be_disabled(tmp_path):
    with pytest.raises(ConfigError, match="essential"):
        gateway(tmp_path, disable_plugins=["mailgun"])


def test_unknown_hook_in_a_plugin_is_an_error(tmp_path):
    class Typo:
        @hookimpl
        def register_queue(self, register):  # misspelt hook
            pass

    with pytest.raises(ConfigError, match="register_queue"):
        gateway(tmp_path, plugins=[Typo()])


def test_duplicate_backend_name_is_an_error(tmp_path):
    class Dup:
        @hookimpl
        def register_storages(self, register):
            register("sqlite", object)

    with pytest.raises(ConfigError, match="two plugins register a storage backend named 'sqlite'"):
        gateway(tmp_path, plugins=[Dup()])


def test_plugin_routes_cannot_claim_the_mailgun_api(tmp_path):
    bp = Blueprint("evil", __name__)

    @bp.get("/v3/<domain>/messages2")
    async def steal(domain):
        return "x"

    class Evil:
        @hookimpl
        def register_routes(self, gateway):
            return [bp]

    with pytest.raises(ConfigError, match="belong to the Mailgun API"):
        create_app(gateway(tmp_path, plugins=[Evil()]))


def test_generated_key_is_kept(tmp_path):
    settings = make_settings(tmp_path / "data", api_key=None, domain=None)
    domain, key, generated = ensure_api_key(settings)
    assert generated and key.startswith("key-") and domain == "localhost"
    again = make_settings(tmp_path / "data", api_key=None, domain=None)
    assert ensure_api_key(again) == (domain, key, False)
    assert (tmp_path / "data" / "api_key").stat().st_mode & 0o077 == 0


def test_check_config_command(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["check-config", "-c", str(write(tmp_path, 'domain = "a.example"\napi_key = "k"\n'))])
    assert ok.exit_code == 0, ok.output
    assert "configuration is valid" in ok.output and "a.example: key set" in ok.output
    bad = runner.invoke(cli, ["check-config", "-c", str(write(tmp_path, '[backends]\ndelivery = "ses"\n'))])
    assert bad.exit_code != 0
    assert "unknown delivery backend 'ses'" in bad.output


def test_config_problems_gathers_every_plugin_check_config_answer(tmp_path):
    class Several:
        @hookimpl
        def check_config(self, gateway):
            return [f"first of {gateway.settings.domain}", "second"]

    class One:
        @hookimpl
        def check_config(self):
            return "one"

    class Nothing:
        @hookimpl
        def check_config(self, gateway):
            return None

    assert gateway(tmp_path, plugins=[Nothing()]).config_problems() == []
    found = gateway(tmp_path, plugins=[Several(), One(), Nothing()], domain="a.example").config_problems()
    assert sorted(found) == ["first of a.example", "one", "second"]


def test_plugins_command_lists_builtins_with_all():
    runner = CliRunner()
    result = runner.invoke(cli, ["plugins", "--all", "--json"])
    assert result.exit_code == 0, result.output
    names = {row["name"] for row in __import__("json").loads(result.output)}
    assert {"mailgun", "sqlite", "local_queue", "outbox"} <= names
    plain = runner.invoke(cli, ["plugins"])
    assert not re.search(r"^\s*mailgun\b(?!_)", plain.output, re.M)  # built-ins only with --all


async def test_a_backend_that_fails_to_start_closes_what_opened(tmp_path):
    from postgate import Queue

    class Broken(Queue):
        async def start(self):
            raise ConfigError("queue unreachable")

        async def put(self, jobs): ...
        async def receive(self, max_jobs, wait): return []
        async def extend(self, job): ...
        async def ack(self, jobs): ...
        async def nack(self, job, delay): ...

    class BrokenPlugin:
        @hookimpl
        def register_queues(self, register):
            register("broken", Broken)

    gw = gateway(tmp_path, plugins=[BrokenPlugin()], backends={"queue": "broken"})
    with pytest.raises(ConfigError, match="queue unreachable"):
        await gw.start()
    assert not gw.started
    with pytest.raises(Exception):
        await gw.storage.check()  # storage was closed again


def test_error_from_environment_names_the_variable_not_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, '[gateway]\nport = 4000\n')
    monkeypatch.setenv("POSTGATE_GATEWAY__PORT", "not-a-port")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "POSTGATE_GATEWAY__PORT" in message and "gateway.port" in message
    assert str(path) not in message


def test_errors_from_both_sources_are_each_blamed_on_their_own(tmp_path, monkeypatch):
    path = write(tmp_path, '[backends]\nqueue = 3\n')
    monkeypatch.setenv("POSTGATE_GATEWAY__CHUNK_SIZE", "0")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    lines = str(err.value).splitlines()
    assert any("gateway.chunk_size (from environment variable POSTGATE_GATEWAY__CHUNK_SIZE)" in line for line in lines)
    assert any(f"backends.queue (in {path})" in line for line in lines)


def test_api_key_env_naming_an_unset_variable_stops_check_config(tmp_path, monkeypatch):
    write(tmp_path, '[domains."news.example.com"]\napi_key_env = "NEWS_KEY_UNSET_IN_TEST"\n')
    monkeypatch.delenv("NEWS_KEY_UNSET_IN_TEST", raising=False)
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code != 0
    assert "valid" not in result.output and "NO KEY" not in result.output
    assert 'domain "news.example.com": api_key_env NEWS_KEY_UNSET_IN_TEST is not set' in result.output


def test_api_key_env_naming_an_unset_variable_stops_serve(tmp_path, monkeypatch):
    write(tmp_path, '[domains."news.example.com"]\napi_key_env = "NEWS_KEY_UNSET_IN_TEST"\n')
    result = CliRunner().invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code != 0
    assert "api_key_env NEWS_KEY_UNSET_IN_TEST is not set" in result.output


def test_configured_domains_say_the_quick_start_domain_is_off(tmp_path, monkeypatch):
    write(tmp_path, '[domains."news.example.com"]\napi_key = "key-news"\n')
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code == 0, result.output
    assert "quick-start domain 'localhost' is off because [domains] is configured" in result.output
    monkeypatch.setenv("POSTGATE_DOMAIN", "localhost")
    kept = CliRunner().invoke(cli, ["check-config"])
    assert kept.exit_code == 0, kept.output
    assert "is off" not in kept.output
