"""Setting up the runtime: every file is checked against Pyodide's lock; tampering is refused."""

from __future__ import annotations

import hashlib
import json
import shutil

from throwaway.sandbox import assets


def test_setup_refuses_a_tampered_file_and_takes_a_verified_copy(tmp_path, monkeypatch, capsys):
    installed = assets.find_assets()  # the machine's verified set, made by `throwaway setup`
    home = tmp_path / "home"
    root = home / f"pyodide-{assets.PYODIDE_VERSION}"
    shutil.copytree(installed.core_dir, root / "node_modules" / "pyodide")
    lock = installed.lock["packages"]["six"]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / lock["file_name"]).write_bytes(b"PK\x03\x04 not the real six")
    monkeypatch.setenv("THROWAWAY_HOME", str(home))
    monkeypatch.setenv("THROWAWAY_PYODIDE_MIRROR", str(mirror))

    found = assets.setup(quiet=True, packages=["six", "numpy", "pandas", "matplotlib",
                                               "pillow", "scipy", "micropip"])  # fmt: skip

    six = (found.packages_dir / lock["file_name"]).read_bytes()
    assert hashlib.sha256(six).hexdigest() == lock["sha256"]
    assert "refused " + lock["file_name"] in capsys.readouterr().out
    assert "six" in found.available_packages()


def test_setup_is_idempotent_and_offline_once_done(monkeypatch):
    installed = assets.find_assets()
    stamp = (installed.root / "complete.json").stat().st_mtime_ns
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # any download would fail
    assert assets.ensure_assets(quiet=True) == installed
    assert (installed.root / "complete.json").stat().st_mtime_ns == stamp


def test_every_installed_package_file_matches_the_lock():
    installed = assets.find_assets()
    lock = installed.lock["packages"]
    for name in installed.available_packages():
        data = (installed.packages_dir / lock[name]["file_name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == lock[name]["sha256"], name
    assert json.loads((installed.root / "complete.json").read_text())["packages"]


def test_every_caller_shares_one_parsed_lock():
    assert assets.find_assets() is assets.find_assets()
    assert assets.find_assets().lock is assets.ensure_assets(quiet=True).lock


def test_the_bundled_packages_are_set_up_and_listed_in_words():
    assert set(assets.BUNDLED_PACKAGES) <= set(assets.find_assets().available_packages())
    assert assets.bundled_list() == (
        "numpy, pandas, matplotlib, pillow, scipy, scikit-learn, pyarrow and sqlite3"
    )
