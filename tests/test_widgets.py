"""course_utils.widgets.explore: a static figure wherever no widget front end can show sliders,
sliders where one can, and no widget state in the notebooks we ship."""
import json
from pathlib import Path

import ipywidgets
import pytest

from course_utils import widgets

ROOT = Path(__file__).resolve().parent.parent
WIDGET_MIME = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, **values):
        self.calls.append(values)


@pytest.fixture
def no_widgets_allowed(monkeypatch):
    """Make any attempt to build a widget fail the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a widget was created in static mode")
    for name in ("interactive", "FloatSlider", "Dropdown"):
        monkeypatch.setattr(ipywidgets, name, forbidden)


@pytest.mark.parametrize("env", [{"COURSE_QUIET": "1"}, {"CI": "true"}, {}])
def test_static_fallback_draws_once_with_defaults(monkeypatch, no_widgets_allowed, env):
    for var in ("COURSE_QUIET", "CI"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    # with {} the reason is that pytest runs outside an IPython kernel
    assert not widgets.widgets_available()
    draw = Recorder()
    result = widgets.explore(draw, noise=(0.1, 1.5, 0.05, 0.5), kind=["synergy", "redundant"])
    assert result is None
    assert draw.calls == [{"noise": 0.5, "kind": "synergy"}]


@pytest.mark.parametrize("spec", [(0.0, 1.0, 0.1), [], "fast", (0, 1, 0.1, 0.5, 9)])
def test_bad_control_is_named(spec):
    draw = Recorder()
    with pytest.raises(ValueError, match="control 'noise' must be"):
        widgets.explore(draw, noise=spec)
    assert draw.calls == []


def test_widget_mode_builds_sliders_and_dropdowns(monkeypatch):
    """With a front end: one float slider per tuple (no update while dragging), one dropdown per list."""
    shown = []
    monkeypatch.setattr(widgets, "widgets_available", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    calls = []

    def draw(noise, kind):
        calls.append({"noise": noise, "kind": kind})

    assert widgets.explore(draw, noise=(0.1, 1.5, 0.05, 0.5), kind=["synergy", "redundant"]) is None
    assert len(shown) == 1
    controls = {c.description: c for c in shown[0].children if isinstance(c, (ipywidgets.FloatSlider, ipywidgets.Dropdown))}
    slider, dropdown = controls["noise"], controls["kind"]
    assert isinstance(slider, ipywidgets.FloatSlider) and not slider.continuous_update
    assert (slider.min, slider.max, slider.step, slider.value) == (0.1, 1.5, 0.05, 0.5)
    assert isinstance(dropdown, ipywidgets.Dropdown) and dropdown.value == "synergy"
    assert calls[0] == {"noise": 0.5, "kind": "synergy"}
    slider.value = 1.0
    assert calls[-1] == {"noise": 1.0, "kind": "synergy"}
    for child in shown[0].children:
        child.close()
    shown[0].close()


def test_shipped_notebooks_carry_no_widget_state():
    """Saved notebooks must not carry widget state or widget views (random model ids) in metadata or outputs."""
    paths = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
    assert paths
    for path in paths:
        nb = json.loads(path.read_text())
        assert "widgets" not in nb.get("metadata", {}), f"{path.name}: notebook metadata holds widget state"
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                found = [m for m in WIDGET_MIME if m in out.get("data", {})]
                assert not found, f"{path.name}, cell {cell.get('id')}: saved widget output {found}"
