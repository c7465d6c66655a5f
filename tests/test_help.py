"""help(query): sections of markdown docs and skills, best match first."""

from __future__ import annotations

from throwaway.agent.help import HelpIndex
from throwaway.agent.prompt import system_prompt
from throwaway.sandbox import Sandbox
from throwaway.sandbox.assets import bundled_list


def test_shipped_docs_answer_common_questions():
    index = HelpIndex()
    assert "micropip" in index.answer("install a package from pypi")
    assert "pypdf" in index.answer("extract text from a pdf")
    assert "plt.show()" in index.answer("make a chart")


def test_user_folders_and_skills_are_searched(tmp_path):
    (tmp_path / "notes.md").write_text("# Invoices\nOur invoices live in /mnt/erp/invoices.\n")
    skill = tmp_path / "skills" / "fill-forms"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: fill-forms\ndescription: Fill PDF forms with pypdf\n---\n"
        "# Steps\nUse PdfWriter.update_page_form_field_values.\n"
    )
    index = HelpIndex([tmp_path])
    assert "/mnt/erp/invoices" in index.answer("where are invoices")
    assert "update_page_form_field_values" in index.answer("fill a pdf form")
    assert "fill-forms" in index.summary()


def test_nothing_found_lists_what_exists(tmp_path):
    index = HelpIndex([tmp_path], builtin=False)
    assert "Nothing matches" in index.answer("zebra")


def test_the_docs_and_the_prompt_name_the_bundled_packages():
    packages = HelpIndex().answer("bundled packages")
    assert bundled_list() in packages
    assert "{bundled_packages}" not in packages
    prompt = system_prompt(Sandbox(), HelpIndex())
    assert f"Bundled packages, imported as usual: {bundled_list()}." in prompt
