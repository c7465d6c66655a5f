"""Choosing from PyPI's simple index: the newest pure-Python wheel a sandbox can use."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet

from throwaway.sandbox.pypi_index import newest_pure_wheel, simple_index_url


def wheel(filename: str, **extra) -> dict:
    return {"filename": filename, "url": f"https://files/{filename}", **extra}


FILES = [
    wheel("demo-1.0-py3-none-any.whl"),
    wheel("demo-1.1-py3-none-any.whl"),
    wheel("demo-1.2-cp312-cp312-manylinux_2_17_x86_64.whl"),  # compiled
    wheel("demo-1.3-py3-none-any.whl", yanked=True),
    wheel("demo-1.4-py3-none-any.whl", **{"requires-python": ">=3.13"}),
    wheel("demo-2.0rc1-py3-none-any.whl"),  # a pre-release
    wheel("demo-2.1.tar.gz"),  # a source archive
]


def test_the_newest_usable_wheel_is_chosen():
    assert newest_pure_wheel(FILES)["filename"] == "demo-1.1-py3-none-any.whl"


def test_a_specifier_narrows_the_choice_and_may_allow_a_pre_release():
    assert newest_pure_wheel(FILES, SpecifierSet("<1.1"))["filename"] == "demo-1.0-py3-none-any.whl"
    assert newest_pure_wheel(FILES, SpecifierSet(">=2.0rc1"))["filename"] == (
        "demo-2.0rc1-py3-none-any.whl"
    )
    assert newest_pure_wheel(FILES, SpecifierSet(">=3")) is None


def test_the_index_can_be_a_mirror(monkeypatch):
    assert simple_index_url("demo") == "https://pypi.org/simple/demo/"
    monkeypatch.setenv("THROWAWAY_PYPI_URL", "http://127.0.0.1:9/simple/")
    assert simple_index_url("demo") == "http://127.0.0.1:9/simple/demo/"
