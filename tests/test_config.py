"""The config file: defaults for the commands' options; flags override it; clear errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from throwaway.cli import main


@pytest.fixture
def config(tmp_path, monkeypatch):
    """Write the config file (THROWAWAY_CONFIG points at it); returns its path."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("THROWAWAY_CONFIG", str(path))
    monkeypatch.delenv("THROWAWAY_MODEL", raising=False)

    def write(text: str):
        path.write_text(text)
        return path

    return write


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def test_the_path_follows_throwaway_config_then_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.delenv("THROWAWAY_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert invoke("config", "path").output == f"{tmp_path}/xdg/throwaway/config.toml\n"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert invoke("config", "path").output == f"{tmp_path}/home/.config/throwaway/config.toml\n"
    monkeypatch.setenv("THROWAWAY_CONFIG", str(tmp_path / "mine.toml"))
    assert invoke("config", "path").output == f"{tmp_path}/mine.toml\n"


def test_config_shows_each_commands_defaults_and_where_they_come_from(config, monkeypatch):
    path = config('model = "openai:gpt-5"\ntimeout = 5\n[mounts]\ndata = "/tmp"\n'
                  '[exec]\ntimeout = 2\n')  # fmt: skip
    r = invoke("config")
    assert r.exit_code == 0, r.output
    sections = {s.split("]")[0]: s for s in r.output.split("\n[")[1:]}
    assert r.output.startswith(f"# {path}\n")
    assert "timeout = 2  # config file" in sections["exec"]
    assert "timeout = 5  # config file" in sections["run"]
    assert 'mounts = {"data" = "/tmp"}  # config file' in sections["mcp"]
    assert "memory = 1024  # built in" in sections["exec"]
    assert 'model = "openai:gpt-5"  # config file' in sections["run"]
    monkeypatch.setenv("THROWAWAY_MODEL", "anthropic:claude-sonnet-4-5")
    assert 'model = "anthropic:claude-sonnet-4-5"  # $THROWAWAY_MODEL' in invoke("config").output


def test_without_a_file_config_shows_the_built_in_defaults(config):
    r = invoke("config")
    assert r.exit_code == 0, r.output
    assert "no such file" in r.output.splitlines()[0]
    assert "timeout = 30.0  # built in" in r.output


def test_mounts_and_limits_from_the_file_are_used_and_flags_replace_them(config, tmp_path):
    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir()
    other.mkdir()
    (data / "in.csv").write_text("a\n")
    config(f'[mounts]\ndata = "{data}"\n[exec]\ntimeout = 1\n')
    code = "import os\nprint(os.listdir('/mnt'), os.listdir('/mnt/data'))\nwhile True:\n    pass\n"
    r = invoke("exec", "-", input=code)
    assert r.exit_code == 124  # the file's time limit
    assert r.stdout == "['data'] ['in.csv']\n"
    code = "import os\nos.listdir('/mnt')"
    r = invoke("exec", "--timeout", "30", "--mount", f"other={other}", "-", input=code)
    assert r.exit_code == 0, r.output
    assert r.stdout == "['other']\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timout = 3\n", "unknown key 'timout' (did you mean 'timeout'"),
        ("[exec]\nmemroy = 512\n", "unknown key 'exec.memroy' (did you mean 'memory'"),
        ('memory = "big"\n', "memory must be an integer, not 'big'"),
        ("[mounts]\ndata = 3\n", "mounts must be a table of text values"),
        ("timeout = \n", "not valid TOML: Invalid value (at line 1, column 11)"),
        ("timeout = 0\n", "timeout (the default of --timeout for `throwaway exec`): 0"),
        ('[mounts]\nd = "/no/such/folder"\n', "mounts (the default of --mount for "
         "`throwaway exec`): d: /no/such/folder is not a folder"),
        ('[tool_policy]\n"a.b" = "maybe"\n', "tool_policy (the default of --tool-policy"),
    ],
    ids=["unknown-key", "unknown-key-in-a-table", "wrong-type", "wrong-type-in-a-table",
         "bad-toml", "out-of-range", "missing-folder", "bad-policy"],
)  # fmt: skip
def test_a_bad_key_or_value_is_an_error_naming_the_file_and_key(config, text, message):
    path = config(text)
    r = invoke("exec", "-", input="print('never runs')\n")
    assert r.exit_code != 0
    assert "never runs" not in r.output
    assert f"{path}: {message}" in r.stderr
    assert "Traceback" not in r.output


def test_a_broken_file_leaves_the_commands_that_do_not_read_it_alone(config):
    path = config("timout = 3\n")
    assert invoke("config", "path").output == f"{path}\n"
    assert "unknown key 'timout'" in invoke("config").stderr
