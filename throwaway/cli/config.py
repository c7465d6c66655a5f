"""The config file: defaults for the commands' options, and `throwaway config`.

``$THROWAWAY_CONFIG``, else ``$XDG_CONFIG_HOME/throwaway/config.toml`` (default
``~/.config/throwaway/config.toml``)::

    model = "anthropic:claude-sonnet-4-5"
    timeout = 60                  # seconds one run of code may take
    memory = 2048                 # MB
    max_turns = 60                # model turns per agent run (run only)

    [mounts]                      # as --mount NAME=SOURCE
    data = "~/data"
    out = "~/out:rw"

    [mcp_servers]                 # as --mcp NAME=COMMAND|URL
    time = "uvx mcp-server-time"

    [tool_policy]                 # as --tool-policy SERVER.TOOL=RULE
    "github.delete_repo" = "deny"

    [exec]                        # for one command only: the same keys
    timeout = 10

Each key is the default of the option it names, for every command that has it;
a flag given on the command line replaces it (a --mount replaces all the file's mounts).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path

import click

from throwaway.cli.base import main

#: key -> (the option's parameter name, what its value is, the option)
KEYS = {
    "model": ("model", "text", "--model"),
    "timeout": ("timeout", "number", "--timeout"),
    "memory": ("memory_mb", "integer", "--memory"),
    "max_turns": ("max_turns", "integer", "--max-turns"),
    "mounts": ("mounts", "table", "--mount"),
    "mcp_servers": ("mcp", "table", "--mcp"),
    "mcp_config": ("mcp_config", "text", "--mcp-config"),
    "tool_policy": ("tool_policy", "table", "--tool-policy"),
}
#: Commands that may have a table of their own.
COMMANDS = ("demo", "exec", "mcp", "run")
TEMPLATE = '# throwaway config: see `throwaway config --help`\n# model = "openai:gpt-5"\n'


class ConfigError(click.ClickException):
    """The config file cannot be read or holds a key or value that is not allowed."""

    def __init__(self, path: Path, message: str):
        super().__init__(f"{path}: {message}")


def config_path() -> Path:
    """Where the config file is (whether or not it exists)."""
    if env := os.environ.get("THROWAWAY_CONFIG"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "throwaway" / "config.toml"


def load(path: Path) -> dict:
    """The file's keys, checked; {} if there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # no such file (or no such folder)
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read it: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, f"not valid TOML: {exc}") from None
    for key, value in data.items():
        if key in COMMANDS and isinstance(value, dict):
            for sub, subvalue in value.items():
                _check(path, f"{key}.{sub}", sub, subvalue)
        else:
            _check(path, key, key, value)
    return data


def _check(path: Path, where: str, key: str, value: object) -> None:
    if key not in KEYS:
        close = difflib.get_close_matches(key, [*KEYS, *COMMANDS], n=2)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise ConfigError(path, f"unknown key {where!r}{hint}; keys: {', '.join(KEYS)}, "
                          f"and tables [{'], ['.join(COMMANDS)}] of them")  # fmt: skip
    kind = KEYS[key][1]
    ok = {
        "text": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "table": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
    }[kind]
    if not ok:
        what = {"table": "a table of text values", "integer": "an integer"}.get(kind, f"a {kind}")
        raise ConfigError(path, f"{where} must be {what}, not {value!r}")


def _values(keys: dict) -> dict:
    """Parameter name -> default, for one set of keys."""
    out = {}
    for key, value in keys.items():
        if key in KEYS:
            name, kind, _ = KEYS[key]
            out[name] = [f"{k}={v}" for k, v in value.items()] if kind == "table" else value
    if os.environ.get("THROWAWAY_MODEL"):
        out.pop("model", None)  # the environment beats the file, as for every default
    return out


def default_map(data: dict) -> dict[str, dict]:
    """Click's default_map for the group: command -> parameter -> default."""
    shared = _values(data)
    return {cmd: {**shared, **_values(data.get(cmd, {}))} for cmd in COMMANDS}


def blame(exc: click.BadParameter) -> click.ClickException | None:
    """A bad value that came from the config file, as an error naming the file and key."""
    ctx, param = exc.ctx, exc.param
    if ctx is None or param is None or param.name is None:
        return None
    if ctx.get_parameter_source(param.name) is not click.core.ParameterSource.DEFAULT_MAP:
        return None
    key, option = key_of(param.name), KEYS.get(key_of(param.name), ("", "", "?"))[2]
    return ConfigError(config_path(), f"{key} (the default of {option} for "
                       f"`throwaway {ctx.info_name}`): {exc.message}")  # fmt: skip


def key_of(param_name: str) -> str:
    """The config key that sets a parameter."""
    return next((key for key, (name, _, _) in KEYS.items() if name == param_name), param_name)


@main.group("config", invoke_without_command=True)
@click.pass_context
def config(ctx: click.Context) -> None:
    """The config file's path and the defaults it sets for each command.

    \b
    ~/.config/throwaway/config.toml ($XDG_CONFIG_HOME, or the file named by
    $THROWAWAY_CONFIG) holds defaults for the commands' options, in TOML:
      model = "openai:gpt-5"         timeout = 60        memory = 2048
      [mounts] data = "~/data"       [mcp_servers] time = "uvx mcp-server-time"
      [tool_policy] "github.delete_repo" = "deny"        mcp_config = "~/mcp.json"
      [exec] timeout = 10            (a table per command: exec, run, mcp, demo)
    Flags override it; so does $THROWAWAY_MODEL for the model.
    """
    if ctx.invoked_subcommand:
        return
    path = config_path()
    found = "" if path.is_file() else "  (no such file: built-in defaults)"
    click.echo(f"# {path}{found}")
    defaults = default_map(load(path))
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        click.echo(f"\n[{name}]")
        plain = click.Context(command)  # no default_map: the built-in defaults
        for param in command.params:
            if key_of(param.name) in KEYS:
                click.echo(_line(param, defaults[name], param.get_default(plain)))


def _line(param: click.Parameter, defaults: dict, built_in: object) -> str:
    key = key_of(param.name)
    if param.name in defaults:
        value, source = defaults[param.name], "config file"
    else:  # Click's "no default" is a sentinel in 8.2+, None before
        value = built_in if isinstance(built_in, str | int | float | tuple | list) else None
        source = "built in"
    if key == "model" and param.name not in defaults and os.environ.get("THROWAWAY_MODEL"):
        value, source = os.environ["THROWAWAY_MODEL"], "$THROWAWAY_MODEL"
    if KEYS[key][1] == "table":
        value = dict(v.split("=", 1) for v in value or ())
    if value is None:
        return f"# {key}: not set"
    return f"{key} = {_toml(value)}  # {source}"


def _toml(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


@config.command("path")
def path_() -> None:
    """Print the config file's path (whether or not it exists)."""
    click.echo(config_path())


@config.command()
def edit() -> None:
    """Open the config file in $EDITOR (made, with a comment, if missing)."""
    path = config_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TEMPLATE, encoding="utf-8")
    click.edit(filename=str(path))
    load(path)  # say at once what is wrong with it
