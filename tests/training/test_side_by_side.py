"""tools/side_by_side.py: the three tables read from generated pages, changes against
each source's own normal model."""

import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def sbs():
    return load_script("tools/side_by_side.py")


def test_first_list_table_and_changes(sbs, tmp_path):
    page = tmp_path / "t.rst"
    page.write_text(".. list-table:: t\n   :header-rows: 1\n\n   * - model\n     - drop\n"
                    "   * - normal\n     - 1.000 ± 0.010\n   * - ts-def\n     - 0.900\n\n"
                    ".. list-table:: second\n\n   * - other\n", encoding="utf-8")
    assert sbs.first_list_table(page) == [{"model": "normal", "drop": "1.000 ± 0.010"},
                                          {"model": "ts-def", "drop": "0.900"}]
    assert sbs.with_change("fixed_linf", "0.900", "1.000 ± 0.010") == "0.900 (-10%)"
    assert sbs.with_change("gaussian", "30.5", "30.25") == "30.5 (+0.250 dB)"
    assert sbs.with_change("gaussian", None, "30.25") == "–"


def test_paper_drops_come_from_reproduce(sbs):
    from denoise_adv.evaluation import PAPER_TABLE2, PAPER_TABLE4

    paper = sbs.paper_values()["ts-def"]
    p = PAPER_TABLE2["ts-def"]
    assert float(paper["fixed_linf"]) == pytest.approx(p["gaussian"] - p["adv-linf"], abs=1e-3)
    table4 = sbs.paper_values(PAPER_TABLE4)
    assert table4["mixed-26"]["gaussian"] == "30.3839" and table4["ts-def"]["gaussian"] == "30.3491"
    assert sbs.paper_values()["ts-pres"] == {"gaussian": "30.390", "fixed_linf": "0.303",
                                             "fixed_l2": "0.371"}  # the paper's (-0.303, -0.371)
    text = sbs.page()  # the committed pages parse
    assert "normal" in text and "mixed-25.5" in text and "paper (Table 4, Set12)" in text
