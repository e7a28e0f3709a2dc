"""The report: every experiment and verdict appears, stored strings are escaped, works offline."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mathdl.atlas import Preset, experiments, get_experiment
from mathdl.report import slug, write_report
from mathdl.runner import reproduce
from mathdl.store import RunRecord, RunStatus, RunStore

HOSTILE = '<script>alert("x")</script>&'
TOPIC = "approximation"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("href", "src") and v]

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    store = RunStore.open(home)
    # One topic keeps the suite's cost flat as the atlas grows; `make demo` (in CI) renders the
    # whole atlas, and the report code does not depend on which experiments it shows.
    records = reproduce(store, preset=Preset.QUICK, topic=TOPIC)
    hostile = RunRecord(
        run_id="hostile-1", experiment=f"evil/{HOSTILE}", topic="evil", title=HOSTILE,
        reference=HOSTILE, description=HOSTILE, preset="quick", seed=0, config={"label": HOSTILE},
        status=RunStatus.COMPLETED,
        result={"metrics": {HOSTILE: 1.0}, "series": {},
                "claims": [{"name": HOSTILE, "statement": HOSTILE, "reference": HOSTILE,
                            "predicted": 1.0, "measured": 2.0, "tolerance": 0.1,
                            "tolerance_kind": "absolute", "kind": "value", "holds": False}]},
        error=None, started_at="2026-01-01T00:00:00", ended_at="2026-01-01T00:00:00",
        wall_seconds=0.1, versions={"mathdl": HOSTILE}, device=HOSTILE, git_commit=None,
        figures={HOSTILE: "<svg xmlns='http://www.w3.org/2000/svg'/>"},
    )
    store.add(hostile)
    index = write_report(store, home / "report")
    return index, records


def test_index_lists_every_experiment_and_verdict(built):
    index, records = built
    page = parse(index)
    text = " ".join(page.text)
    for exp in experiments(TOPIC):
        assert exp.name in text and exp.title in text
    holding = sum(r.n_holding for r in records)
    assert holding > 0 and text.count("holds") >= holding
    assert "fails" in text  # the hostile run's failing claim
    for record in records:
        for claim in record.claims:
            assert claim["name"] in text


def test_every_experiment_has_a_page_with_its_figures(built):
    index, records = built
    for record in records:
        page_path = index.parent / "experiments" / f"{slug(record.experiment)}.html"
        page = parse(page_path)
        assert get_experiment(record.experiment).description in " ".join(page.text)
        figures = [r for r in page.refs if r.endswith(".svg")]
        assert len(figures) == len(record.figures) >= 1
        for ref in figures:
            assert (page_path.parent / ref).resolve().is_file()


def test_stored_strings_are_escaped(built):
    index, _ = built
    pages = [index, *index.parent.glob("experiments/*.html")]
    for path in pages:
        html = path.read_text(encoding="utf-8")
        assert "<script>" not in html
        assert "script" not in parse(path).tags
    evil = [p for p in pages if p.name.startswith("evil")]
    assert len(evil) == 1 and "&lt;script&gt;" in evil[0].read_text(encoding="utf-8")


def test_report_is_offline(built):
    index, _ = built
    for path in [index, *index.parent.glob("experiments/*.html")]:
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", path.read_text("utf-8"))


def test_empty_store_gives_a_page(home):
    index = write_report(RunStore.open(home), home / "report")
    assert "No runs are stored yet" in index.read_text("utf-8")


def test_sweep_page_lists_every_point_and_its_curves(home):
    from mathdl.atlas import config_to_dict, get_experiment
    from mathdl.runner import execute_point, parse_grid, plan_sweep

    runge = get_experiment("approximation/runge")
    sweep, points = plan_sweep(runge, Preset.QUICK, parse_grid(
        runge, ["a=4,9,25", "equispaced_degrees=10,14,18,22", "chebyshev_degrees=10,20,30,40",
                "eval_points=201"]), seeds=2)
    store = RunStore.open(home)
    store.add_sweep(sweep)
    store.add_sweep_points(sweep.sweep_id, [
        (p.key, execute_point(runge.name, config_to_dict(p.config), p.seed, "quick"))
        for p in points[:5]])  # 5 of 6 points: a sweep still running
    index = write_report(store, home / "report")
    assert f"sweeps/{sweep.sweep_id}.html" in parse(index).refs
    page_path = index.parent / "sweeps" / f"{sweep.sweep_id}.html"
    page = parse(page_path)
    text = " ".join(page.text)
    assert "5 of 6 points stored" in text
    for _, run in store.sweep_runs(sweep.sweep_id):
        assert run.run_id in text
    figures = [r for r in page.refs if r.endswith(".svg")]
    assert "chebyshev_rate_measured" in text and len(figures) >= 1
    for ref in figures:
        assert (page_path.parent / ref).resolve().is_file()


def test_sweep_claims_are_shown_on_the_sweep_page_and_the_index(home):
    from mathdl.atlas import get_experiment
    from mathdl.runner import plan_sweep

    runge = get_experiment("approximation/runge")
    sweep, _ = plan_sweep(runge, Preset.QUICK, {"a": [16.0, 64.0, 256.0]}, seeds=1)
    store = RunStore.open(home)
    store.add_sweep(sweep)
    store.set_sweep_claims(sweep.sweep_id, [
        {"name": "curve-holds", "statement": "s", "reference": "r", "predicted": 0.0,
         "measured": 0.01, "tolerance": 0.05, "tolerance_kind": "absolute",
         "kind": "upper_bound", "holds": True},
        {"name": "curve-fails", "statement": "s <b>", "reference": "r", "predicted": -0.5,
         "measured": -0.9, "tolerance": 0.05, "tolerance_kind": "absolute", "kind": "rate",
         "holds": False}])
    index = write_report(store, home / "report")
    page = (index.parent / "sweeps" / f"{sweep.sweep_id}.html").read_text("utf-8")
    assert "Claims on the aggregated curve" in page
    assert "curve-holds" in page and "curve-fails" in page and "s &lt;b&gt;" in page
    assert '<span class="fails">1/2</span>' in index.read_text("utf-8")
