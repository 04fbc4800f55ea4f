"""Every fenced code block in the docs runs in a test, by the strongest check that fits it.

Blocks are read from ``README.md``, ``docs/**/*.md``, ``plugins/*/README.md`` and ``deploy/**/*.md``.
HTML comments on the lines right above a fence steer the check:

- ``<!-- no-check: reason -->``: the block cannot be checked (a diagram, output, commands of other
  tools); the reason is required. In a shell block it excuses only the commands of other tools:
  its ``postgate`` and ``make`` commands are still checked.
- ``<!-- run -->``: a complete Python example, executed in a fresh interpreter (exit 0).
- ``<!-- from: path/in/repo -->``: an excerpt; its non-blank lines appear in that file, in order.
- ``<!-- file: name -->``: the block is the file ``name`` of the document's example project; every
  such block of one document is written into one folder and, if it holds ``test_*.py``, pytest
  runs there (with ``docs/examples/*`` importable).

What each language gets:

- ``toml``: parsed. A Postgate configuration (every top-level key is a setting) is loaded with
  ``load_settings`` and a ``Gateway`` built from it, as ``postgate check-config`` does: unknown
  keys, bad values and bad plugin tables fail. The example plugins of ``docs/examples`` are
  installed for it.
- ``python``: compiled (and run, tested or compared, per the marks above).
- ``sh``/``bash``/``shell``/``console`` (``$ `` lines): each command of a ``postgate`` path
  (``postgate``, ``.venv/bin/postgate``, ``python -m postgate``) must resolve to a real command,
  ``--help`` must exit 0 for it, and each ``--option`` must exist; ``make X`` needs the target in
  the Makefile; ``POSTGATE_…`` assignments must name a setting (or a variable an installed plugin's
  settings read by default, such as ``POSTGATE_TRACKING_KEYS``). Any other command needs the mark.
- ``json``, ``yaml``: parsed.
- ``ini``, ``systemd``: parsed by configparser (duplicate keys allowed, as systemd allows them).
- ``nginx``: braces balance and each simple directive ends with ``;``.
- ``caddy``/``caddyfile``: braces balance and the site block is not empty.
- Anything else, and blocks without a language, must be marked ``no-check``.

Commands quoted inline in the prose (```postgate …``` in backticks) must exist as well, with their
options.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "docs" / "examples").glob("*") if (p / "pyproject.toml").is_file())
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
MARK = re.compile(r"^\s*<!--\s*(?P<kind>no-check|run|from|file)\s*(?::\s*(?P<arg>.*?))?\s*-->\s*$")
SHELL = {"sh", "bash", "shell", "console", "zsh"}
POSTGATE = {"postgate", ".venv/bin/postgate"}
OPERATORS = {"&&", "||", ";", "|", "&"}


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marks: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} [{self.lang or 'no language'}]"


def doc_files() -> list[Path]:
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")),
             *sorted(ROOT.glob("plugins/*/README.md")), *sorted(ROOT.glob("deploy/**/*.md"))]
    return [path for path in found if path.is_file()]


def dedent_line(line: str, indent: int) -> str:
    """``line`` without the fence's indentation (a block inside a list item is indented)."""
    return line[indent:] if line[:indent].isspace() or not indent else line.lstrip()


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text().split("\n")
    out: list[Block] = []
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if not opened:
            index += 1
            continue
        fence, indent = opened["fence"], len(opened["indent"])
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = "\n".join(dedent_line(line, indent) for line in lines[index + 1:end])
        marks: dict[str, str] = {}
        above = index - 1
        while above >= 0 and (mark := MARK.match(lines[above])):
            marks[mark["kind"]] = (mark["arg"] or "").strip()
            above -= 1
        out.append(Block(path, index + 1, opened["info"].lower(), body + "\n", marks))
        index = end + 1
    return out


ALL_BLOCKS = [block for path in doc_files() for block in blocks_of(path)]


def block_id(block: Block) -> str:
    return f"{block.path.relative_to(ROOT)}:{block.line}"


def fail(block: Block, why: str) -> None:
    pytest.fail(f"{block.where}: {why}", pytrace=False)


# -- excerpts ----------------------------------------------------------------------------------


def check_excerpt(block: Block) -> None:
    source = ROOT / block.marks["from"]
    if not source.is_file():
        fail(block, f"<!-- from: {block.marks['from']} --> names no file")
    have = [line.rstrip() for line in source.read_text().splitlines()]
    position = 0
    for wanted in (line.rstrip() for line in block.text.splitlines() if line.strip()):
        try:
            position = have.index(wanted, position) + 1
        except ValueError:
            fail(block, f"this line is not in {block.marks['from']} (in this order): {wanted!r}")


# -- toml --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """The example plugins of docs/examples installed into a folder (their entry points included)."""
    target = tmp_path_factory.mktemp("doc-examples")
    uv = ROOT / ".tools" / "bin" / "uv"
    installer = [str(uv), "pip", "install", "--python", sys.executable] if uv.exists() else [
        sys.executable, "-m", "pip", "install"]
    for example in EXAMPLES:
        subprocess.run([*installer, "--quiet", "--no-deps", "--target", str(target), str(example)],
                       check=True, cwd=ROOT, timeout=300)
    return target


def is_postgate_config(data: dict) -> bool:
    from postgate.settings import Settings

    return bool(data) and set(data) <= set(Settings.model_fields)


def check_toml(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Path) -> None:
    try:
        data = tomllib.loads(block.text)
    except tomllib.TOMLDecodeError as exc:
        fail(block, f"TOML does not parse: {exc}")
    if not is_postgate_config(data):
        return
    from postgate.app import Gateway
    from postgate.settings import ConfigError, load_settings

    for name in list(os.environ):
        if name.startswith("POSTGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "postgate.toml"
    config.write_text(block.text)
    try:
        Gateway(load_settings(config))
    except ConfigError as exc:
        fail(block, f"this Postgate configuration does not load:\n{exc}")


# -- python ------------------------------------------------------------------------------------


def check_python(block: Block, tmp_path: Path) -> None:
    try:
        compile(block.text, block.where, "exec")
    except SyntaxError as exc:
        fail(block, f"Python does not compile: {exc}")
    if "run" in block.marks:
        done = subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env=clean_env())
        if done.returncode != 0:
            fail(block, f"the example (marked run) exited {done.returncode}:\n{done.stdout}{done.stderr}")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(extra)
    return env


# -- shell -------------------------------------------------------------------------------------


def shell_commands(block: Block) -> list[tuple[int, str]]:
    """``(line, command text)`` of every command: ``$`` lines of a console block, every line of a
    script (continuations joined, comments dropped)."""
    console = block.lang == "console" or any(line.startswith("$ ") for line in block.text.splitlines())
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, line in enumerate(block.text.splitlines(), block.line + 1):
        if console and not pending:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text and not text.startswith("#"):
            out.append((start, text))
    return out


def split_commands(text: str) -> list[list[str]]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@pytest.fixture(scope="module")
def cli_with_plugins() -> click.Group:
    """``postgate`` with the commands of every installed plugin (as if all were loaded)."""
    from postgate.cli import cli
    from postgate.plugins import build_plugin_manager

    group = click.Group("postgate", commands=dict(cli.commands), params=list(cli.params))
    build_plugin_manager(["*"]).hook.register_commands(cli=group)
    return group


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def check_postgate(group: click.Group, args: list[str]) -> str | None:
    """Why ``postgate args`` is not a real command line, or ``None``."""
    command: click.Command = group
    path: list[str] = []
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        if sub is None:
            return f"`postgate {' '.join(path + [rest[0]])}`: no such command"
        path.append(rest.pop(0))
        command = sub
    helped = CliRunner().invoke(group, [*path, "--help"])
    if helped.exit_code != 0:
        return f"`postgate {' '.join(path)} --help` exited {helped.exit_code}: {helped.output}"
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
    if command is group:
        known.add("--version")
    for token in rest:
        if token.startswith("--") and token.split("=", 1)[0] not in known:
            return f"`postgate {' '.join(path)}` has no option {token.split('=', 1)[0]} (it has {', '.join(sorted(known))})"
    return None


def plugins_env_defaults() -> set[str]:
    """The variables every installed plugin reads by default (its settings' ``*_env`` defaults):
    a shell line may set them, as it would with that plugin loaded."""
    from postgate.plugins import build_plugin_manager, plugin_env_defaults

    return plugin_env_defaults(build_plugin_manager(["*"]))


def check_shell(block: Block, group: click.Group) -> None:
    from postgate.settings import unknown_env_vars

    read_by_name = plugins_env_defaults()
    targets = make_targets()
    problems: list[str] = []
    unverified: list[str] = []
    for line, text in shell_commands(block):
        try:
            commands = split_commands(text)
        except ValueError as exc:
            problems.append(f"line {line}: does not parse as shell: {exc}")
            continue
        for words in commands:
            while words and words[0] in {"sudo", "env", "exec"}:
                words = words[1:]
            assignments = []
            while words and ASSIGNMENT.match(words[0]):
                assignments.append(words.pop(0).split("=", 1)[0])
            for name in unknown_env_vars({name: "" for name in assignments}, allowed=read_by_name):
                problems.append(f"line {line}: {name} is not a Postgate setting")
            if not words:
                continue
            program = words[0]
            if program in POSTGATE or (program.endswith("python") and words[1:3] == ["-m", "postgate"]):
                args = words[1:] if program in POSTGATE else words[3:]
                if why := check_postgate(group, args):
                    problems.append(f"line {line}: {why}")
            elif program == "make":
                for target in (w for w in words[1:] if not w.startswith("-") and "=" not in w):
                    if target not in targets:
                        problems.append(f"line {line}: `make {target}`: no such target in the Makefile")
            else:
                unverified.append(f"line {line}: {program}")
    if problems:
        fail(block, "\n  ".join(["shell commands that do not exist:", *problems]))
    if unverified and "no-check" not in block.marks:
        fail(block, "commands this test cannot check: " + ", ".join(unverified)
             + "; mark the block with <!-- no-check: reason --> if they are right")


# -- other languages ---------------------------------------------------------------------------


def braces_balance(text: str) -> bool:
    depth = 0
    for char in re.sub(r"#.*", "", text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def check_nginx(block: Block) -> None:
    if not braces_balance(block.text):
        fail(block, "nginx braces do not balance")
    for number, line in enumerate(block.text.splitlines(), block.line + 1):
        code = line.split("#", 1)[0].strip()
        if code and not code.endswith(("{", "}", ";")):
            fail(block, f"line {number}: an nginx directive must end with ';': {code!r}")


def check_caddy(block: Block) -> None:
    if not braces_balance(block.text):
        fail(block, "Caddyfile braces do not balance")
    if not re.search(r"\{[^{}]*\S[^{}]*\}", re.sub(r"#.*", "", block.text), re.DOTALL):
        fail(block, "the Caddyfile has no non-empty block")


def check_ini(block: Block) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(block.text)
    except configparser.Error as exc:
        fail(block, f"does not parse as INI/systemd: {exc}")
    if not parser.sections():
        fail(block, "no [section] in the INI/systemd block")


# -- the tests ---------------------------------------------------------------------------------


def test_the_docs_have_code_blocks():
    assert len(ALL_BLOCKS) >= 30, [block.where for block in ALL_BLOCKS]


def test_no_check_marks_give_a_reason():
    marked = [block for block in ALL_BLOCKS if "no-check" in block.marks]
    missing = [block.where for block in marked if not block.marks["no-check"]]
    assert not missing, f"<!-- no-check: reason --> needs its reason: {missing}"
    # the marks are counted: most blocks are checked, a minority excused
    assert len(marked) * 2 <= len(ALL_BLOCKS), (
        f"{len(marked)} of {len(ALL_BLOCKS)} blocks are marked no-check: check more of them "
        f"({', '.join(block.where for block in marked)})")


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=block_id)
def test_doc_block(block: Block, tmp_path, monkeypatch, example_site, cli_with_plugins):
    if not block.text.strip():
        fail(block, "empty code block")
    if "from" in block.marks:
        check_excerpt(block)
    lang = block.lang
    if lang == "toml":
        check_toml(block, tmp_path, monkeypatch, example_site)
    elif lang in {"python", "py"}:
        check_python(block, tmp_path)
    elif lang in SHELL:
        check_shell(block, cli_with_plugins)
    elif lang == "json":
        try:
            json.loads(block.text)
        except json.JSONDecodeError as exc:
            fail(block, f"JSON does not parse: {exc}")
    elif lang in {"yaml", "yml"}:
        try:
            yaml.safe_load(block.text)
        except yaml.YAMLError as exc:
            fail(block, f"YAML does not parse: {exc}")
    elif lang in {"ini", "systemd"}:
        check_ini(block)
    elif lang == "nginx":
        check_nginx(block)
    elif lang in {"caddy", "caddyfile"}:
        check_caddy(block)
    elif "no-check" not in block.marks and "from" not in block.marks and "file" not in block.marks:
        fail(block, f"no check for language {lang or '(none)'!r}: give the block a checked language, or "
             "mark it <!-- no-check: reason -->")


def example_projects() -> dict[Path, list[Block]]:
    projects: dict[Path, list[Block]] = {}
    for block in ALL_BLOCKS:
        if "file" in block.marks:
            projects.setdefault(block.path, []).append(block)
    return projects


@pytest.mark.parametrize("doc", list(example_projects()), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_example_project(doc: Path, tmp_path):
    blocks = example_projects()[doc]
    for block in blocks:
        name = block.marks["file"]
        if not name or name.startswith("/") or ".." in Path(name).parts:
            fail(block, f"<!-- file: {name} --> must name a relative file")
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(block.text)
    tests = sorted(tmp_path.rglob("test_*.py"))
    assert tests, f"{doc.relative_to(ROOT)}: the blocks marked <!-- file: … --> hold no test_*.py to run"
    path = os.pathsep.join(str(p) for p in EXAMPLES)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHONPATH=path))
    assert done.returncode == 0, (f"{doc.relative_to(ROOT)}: the example project "
                                  f"({', '.join(b.marks['file'] for b in blocks)}) fails its tests:\n"
                                  f"{done.stdout[-4000:]}{done.stderr[-2000:]}")
    assert re.search(r"\b\d+ passed\b", done.stdout) and " failed" not in done.stdout, done.stdout


# -- commands named in the prose ---------------------------------------------------------------

INLINE_POSTGATE = re.compile(r"`((?:\.venv/bin/)?postgate [^`]+)`")


def inline_postgate_commands(text: str) -> list[str]:
    """The ``postgate …`` command lines quoted inline (in backticks) in ``text``'s prose."""
    return [found[1] for found in INLINE_POSTGATE.finditer(text.replace("\n", " "))]


def inline_command_problems(commands: list[str], group: click.Group) -> list[str]:
    problems = []
    for command in commands:
        try:
            words = shlex.split(command.replace("\u2026", "X"))
        except ValueError:
            continue  # an excerpt with an open quote: nothing to check
        if why := check_postgate(group, words[1:]):
            problems.append(f"`{command}`: {why}")
    return problems


def test_commands_in_the_prose_exist(cli_with_plugins):
    problems = [f"{path.relative_to(ROOT)}: {problem}" for path in doc_files()
                for problem in inline_command_problems(inline_postgate_commands(path.read_text()), cli_with_plugins)]
    assert not problems, "\n".join(problems)


def test_the_prose_check_bites(cli_with_plugins):
    found = inline_postgate_commands("run `postgate aws doctor` or\n`postgate jobs retry ID`, "
                                     "and `postgate serve --nope`")
    assert found == ["postgate aws doctor", "postgate jobs retry ID", "postgate serve --nope"]
    problems = inline_command_problems(found, cli_with_plugins)
    assert len(problems) == 2 and "no such command" in problems[0] and "no option --nope" in problems[1]


# -- the checks themselves fail on wrong blocks -------------------------------------------------


def synthetic(lang: str, text: str, **marks: str) -> Block:
    return Block(ROOT / "docs" / "synthetic.md", 1, lang, text, dict(marks))


@pytest.mark.parametrize("text, why", [
    ("postgate serve --no-such-option\n", "has no option --no-such-option"),
    ("postgate frobnicate\n", "no such command"),
    (".venv/bin/postgate jobs frob ID\n", "no such command"),
    ("make no-such-target\n", "no such target"),
    ("POSTGATE_NO_SUCH=1 postgate serve\n", "POSTGATE_NO_SUCH is not a Postgate setting"),
    ("curl http://127.0.0.1:3000/healthcheck\n", "cannot check: line 2: curl"),
])
def test_shell_check_refuses(text, why, cli_with_plugins):
    with pytest.raises(pytest.fail.Exception, match=re.escape(why)):
        check_shell(synthetic("sh", text), cli_with_plugins)


def test_shell_check_accepts_real_commands_and_marked_tools(cli_with_plugins):
    check_shell(synthetic("console", "$ postgate aws bootstrap --dry-run\nout\n$ make test PYTEST_ARGS=-x\n"),
                cli_with_plugins)
    check_shell(synthetic("sh", "POSTGATE_TRACKING_KEYS=k1:0123456789abcdef postgate check-config\n"),
                cli_with_plugins)  # read by name: the default of the tracking plugin's keys_env
    check_shell(synthetic("sh", "sqlite3 a.db '.backup b.db' && postgate migrate --config x.toml\n",
                          **{"no-check": "sqlite3"}), cli_with_plugins)
    with pytest.raises(pytest.fail.Exception, match="has no option --nope"):
        check_shell(synthetic("sh", "sqlite3 a.db && postgate migrate --nope\n", **{"no-check": "x"}),
                    cli_with_plugins)


def test_toml_check_loads_postgate_configs(tmp_path, monkeypatch, example_site):
    check_toml(synthetic("toml", '[gateway]\npublic_url = "https://x.example"\n'), tmp_path, monkeypatch, example_site)
    with pytest.raises(pytest.fail.Exception, match="gateway.publik_url"):
        check_toml(synthetic("toml", '[gateway]\npublik_url = "x"\n'), tmp_path, monkeypatch, example_site)
    with pytest.raises(pytest.fail.Exception, match="no_such"):
        check_toml(synthetic("toml", 'load_plugins = ["ses"]\n[plugins.ses]\nno_such = 1\n'),
                   tmp_path, monkeypatch, example_site)


def test_other_checks_refuse():
    with pytest.raises(pytest.fail.Exception, match="must end with ';'"):
        check_nginx(synthetic("nginx", "server {\n  listen 443 ssl\n}\n"))
    with pytest.raises(pytest.fail.Exception, match="braces do not balance"):
        check_caddy(synthetic("caddyfile", "mail.example.com {\n reverse_proxy 127.0.0.1:3000\n"))
    with pytest.raises(pytest.fail.Exception, match="does not parse"):
        check_ini(synthetic("systemd", "ExecStart=/x\n"))
    with pytest.raises(pytest.fail.Exception, match="not in docs/examples"):
        check_excerpt(synthetic("python", "def not_there():\n", **{"from": "docs/examples/postgate-hello/pyproject.toml"}))
    with pytest.raises(pytest.fail.Exception, match="exited 3"):
        check_python(synthetic("python", "raise SystemExit(3)\n", run=""), Path("/tmp"))
