"""Interactive explorers that degrade to a static figure.

With a widget front end (JupyterLab, Colab) ``explore`` shows sliders built with ipywidgets and
redraws on every change. Under tests, grading and CI (``COURSE_QUIET`` or ``CI`` set), or without
ipywidgets, it draws the static figure for the default values only, so no widget state or random
widget ids end up in outputs.

Every explorer builds its widgets only after :func:`enable_front_end`, which turns on Colab's custom widget
manager where the installed ipywidgets needs it (8 and later; Colab ships 7.7, whose widgets Colab renders
as they are). The explorers use only widgets and calls that ipywidgets 7.6+ and 8 both have.
"""
from __future__ import annotations

from ..environment import in_colab, quiet


def widgets_available() -> bool:
    """True when sliders can be shown: inside an IPython kernel, ipywidgets installed, not under tests."""
    if quiet():
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def ipywidgets_major() -> int:
    """The major version of the installed ipywidgets (7 on Colab as of 2026, 8 in a current JupyterLab)."""
    import ipywidgets
    return int(str(ipywidgets.__version__).split(".")[0])


def enable_front_end() -> bool:
    """Prepare the notebook front end to show widgets; return True when Colab's widget manager was enabled.

    On Colab with ipywidgets 8 or later, ``google.colab.output.enable_custom_widget_manager()`` is needed
    (without it the sliders show as an error message); with ipywidgets 7 and outside Colab nothing is done.
    """
    if not in_colab() or ipywidgets_major() < 8:
        return False
    from google.colab import output
    output.enable_custom_widget_manager()
    return True


def explore(draw, **controls):
    """Call ``draw(**values)`` under sliders, or once with the defaults as a static figure.

    ``controls`` maps a parameter name to ``(min, max, step, default)`` for a float slider, or to a
    list of options (the first is the default) for a dropdown.
    Always returns ``None``: the panel is displayed here, and returning it too would show it twice
    when ``explore`` is the last line of a cell.
    """
    defaults = {}
    for name, spec in controls.items():
        if isinstance(spec, tuple) and len(spec) == 4:
            defaults[name] = spec[3]
        elif isinstance(spec, list) and spec:
            defaults[name] = spec[0]
        else:
            raise ValueError(f"control {name!r} must be (min, max, step, default) or a non-empty list, got {spec!r}")
    if not widgets_available():
        draw(**defaults)
        return None
    import ipywidgets as w
    from IPython.display import display
    enable_front_end()
    made = {}
    for name, spec in controls.items():
        if isinstance(spec, tuple):
            made[name] = w.FloatSlider(min=spec[0], max=spec[1], step=spec[2], value=spec[3],
                                       description=name, continuous_update=False)
        else:
            made[name] = w.Dropdown(options=spec, value=spec[0], description=name)
    panel = w.interactive(draw, **made)
    display(panel)
    return None
