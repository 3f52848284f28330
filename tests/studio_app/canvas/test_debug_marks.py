"""The debugger's marks on a canvas of a document (no window): a red dot per breakpoint, a frame
on the paused node, a heat halo per node while the overlay is on, the right-click entry; each
follows a node whose view was rebuilt."""

from __future__ import annotations

from studio_app.canvas.debug_marks import DebugMarks, heat_colour
from tests.studio_app.canvas.conftest import Bench


def test_dots_show_on_the_nodes_with_a_breakpoint_and_clear(loaded: Bench) -> None:
    marks = DebugMarks(loaded.canvas)
    marks.set_breakpoints({"a": None, "b": "value > 3"})
    assert marks.has_dot("a")
    assert marks.has_dot("b")
    assert "value > 3" in marks.dots["b"].toolTip()
    assert marks.dots["a"].parentItem() is loaded.canvas.item("a")

    marks.set_breakpoints({"b": None})
    assert not marks.has_dot("a")
    assert marks.has_dot("b")


def test_the_paused_node_is_framed_and_the_frame_moves_and_clears(loaded: Bench) -> None:
    marks = DebugMarks(loaded.canvas)
    marks.set_paused("a")
    assert marks.frame is not None
    assert marks.frame.parentItem() is loaded.canvas.item("a")
    marks.set_paused("b")
    assert marks.frame.parentItem() is loaded.canvas.item("b")
    assert marks.paused_node == "b"
    marks.set_paused(None)
    assert marks.frame is None
    assert marks.paused_node is None


def test_heat_shows_only_while_on_and_hotter_nodes_are_redder(loaded: Bench) -> None:
    marks = DebugMarks(loaded.canvas)
    marks.set_heat({"a": 0.9, "b": 0.1})
    assert marks.heat_of("a") is None  # off until asked
    marks.set_heat_on(True)
    hot, cool = marks.heat_of("a"), marks.heat_of("b")
    assert hot is not None
    assert cool is not None
    assert hot.hueF() < cool.hueF()  # red is hue 0, blue about 0.66
    assert hot == heat_colour(0.9)
    marks.set_heat_on(False)
    assert marks.heat_of("a") is None


def test_the_node_menu_offers_toggle_breakpoint_for_operators_only(loaded: Bench) -> None:
    marks = DebugMarks(loaded.canvas)
    toggled: list[str] = []
    marks.on_toggle = toggled.append
    loaded.canvas.node_menu_extras = [marks.extend_menu]
    center = loaded.canvas.item("a").sceneBoundingRect().center()
    menu = loaded.canvas.context_menu(center)
    action = next(a for a in menu.actions() if a.objectName() == "toggle_breakpoint")
    action.trigger()
    assert toggled == ["a"]
    service = loaded.canvas.item("main").sceneBoundingRect().center()
    names = [a.objectName() for a in loaded.canvas.context_menu(service).actions()]
    assert "toggle_breakpoint" not in names


def test_a_rebuilt_node_gets_its_dot_again(loaded: Bench) -> None:
    marks = DebugMarks(loaded.canvas)
    marks.set_breakpoints({"a": None})
    loaded.load()  # the document is opened again: every node view is made anew
    marks.set_breakpoints({"a": None})
    assert marks.has_dot("a")
    assert marks.dots["a"].parentItem() is loaded.canvas.item("a")
