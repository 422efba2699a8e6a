"""Text from a result store (block names, titles) is never a path and never markup: a shared store cannot make
``varbench report`` write outside its folder or put live HTML in the page."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from varbench.reports import page
from varbench.reports._contents import Contents, Section
from varbench.reports._files import safe_stem
from varbench.reports._page_text import write_html


@pytest.mark.parametrize("name", ["../escaped", "/tmp/anywhere", "..", ".hidden", "a/b\\c", "x" * 300,
                                  "' onmouseover='alert(1)", ""])
def test_a_hostile_block_name_becomes_a_plain_file_name_inside_the_folder(tmp_path, name):
    folder = tmp_path / "report"
    folder.mkdir()
    fig = plt.figure()
    written = page._save(fig, folder, name)
    assert [p.name for p in folder.iterdir()] == [written] and set(tmp_path.iterdir()) == {folder}
    assert len(written) <= 100 and not written.startswith(".")


def test_valid_block_names_keep_their_file_names_and_different_names_stay_apart():
    assert safe_stem("gaussian_k_sweep") == "gaussian_k_sweep" and safe_stem("work-normalized_2") == "work-normalized_2"
    assert safe_stem("a/b") != safe_stem("a?b")


def test_store_text_is_escaped_in_the_html_page(tmp_path):
    hostile = "' onmouseover='alert(1)"
    sections = [Section(title=f"<script>alert(1)</script>{hostile}", name=hostile, images=(), table=None,
                        note="<img src=x onerror=alert(1)>")]
    contents = Contents(blocks=(), estimator_order={}, header="<b>h</b>", cells_failed={hostile: "<i>x</i>"},
                        cells_skipped={})
    text = write_html(tmp_path / "r.html", sections, contents, tmp_path).read_text()
    for live in ("<script>", "<img src=x", "onmouseover='alert", "<b>h</b>", "<i>x</i>"):
        assert live not in text, live
