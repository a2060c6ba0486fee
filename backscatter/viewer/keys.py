"""The viewer's key map: key codes from ``cv2.waitKeyEx`` -> action names, and the help text.

Only lower-case letters, digits, punctuation without shift and named keys are used: the Qt
highgui backend reports shifted letters as the lower-case code, and drops Ctrl combinations.
Codes of named keys are X11 keysyms (Qt backend, checked with xdotool under Xvfb); the GTK and
Windows backends' codes for the same keys are listed too.
"""

from __future__ import annotations

#: named keys: action -> codes seen from waitKeyEx on the backends we know
_NAMED: dict[str, tuple[int, ...]] = {
    "left": (0xFF51, 0x250000),
    "up": (0xFF52, 0x260000),
    "right": (0xFF53, 0x270000),
    "down": (0xFF54, 0x280000),
    "page_up": (0xFF55, 0x210000),
    "page_down": (0xFF56, 0x220000),
    "home": (0xFF50, 0x240000),
    "end": (0xFF57, 0x230000),
    "delete": (0xFFFF, 0x2E0000, 127),
    "f1": (0xFFBE, 0x700000),
    "escape": (27,),
    "tab": (9,),
    "backspace": (8,),
    "enter": (13, 10, 0xFF0D),
}

#: (keys as shown in help, action, description), in help order
KEYMAP: tuple[tuple[str, str, str], ...] = (
    ("c", "decide_clear", "decide CLEAR and go to the next scan"),
    ("a", "decide_alarm", "decide ALARM (suspect) and go to the next scan"),
    ("i", "decide_inspect", "decide INSPECT (physical search) and go on"),
    ("PgDn  n", "next", "next scan (no decision)"),
    ("PgUp  p", "previous", "previous scan"),
    ("Home  End", "first_last", "first / last scan"),
    ("Tab", "select_next", "select the next object (flags, then marks)"),
    ("`", "select_previous", "select the previous object"),
    ("y", "confirm", "confirm the selected machine flag"),
    ("x", "reject", "reject the selected machine flag"),
    ("b", "draw_mode", "box mode: left-drag draws a missed object"),
    ("1-5", "set_class", "class of the selected mark (1 organic .. 5 liquid)"),
    ("Del  BkSp", "delete_mark", "delete the selected mark of your own"),
    ("arrows", "pan", "pan (also left-drag outside box mode)"),
    ("+  -", "zoom", "zoom in / out (also mouse wheel)"),
    ("f", "fit", "fit the scan to the window"),
    ("z", "one_to_one", "1:1 pixel view"),
    ("[  ]", "window_width", "window narrower / wider (also right-drag)"),
    (",  .", "window_level", "level down / up (also right-drag)"),
    ("w", "auto_window", "automatic window/level"),
    ("7  8", "gamma", "gamma down / up"),
    ("v", "negative", "negative"),
    ("l", "clahe", "local contrast (CLAHE)"),
    ("e", "edge", "edge enhancement"),
    ("m", "colormap", "next pseudo-colour map"),
    ("r", "reset_image", "reset all image tools"),
    ("9  0", "threshold", "flag threshold down / up"),
    ("o", "overlays", "overlays on / off"),
    ("k", "heatmap", "anomaly heat map on / off"),
    ("h  ?  F1", "help", "this help"),
    ("q  Esc", "quit", "quit (every decision is already saved)"),
)

#: key code -> (action, argument)
BINDINGS: dict[int, tuple[str, int]] = {}


def _bind(codes: tuple[int, ...] | str, action: str, arg: int = 0) -> None:
    items = tuple(ord(c) for c in codes) if isinstance(codes, str) else codes
    for code in items:
        BINDINGS[code] = (action, arg)


_bind("c", "decide_clear")
_bind("a", "decide_alarm")
_bind("i", "decide_inspect")
_bind(_NAMED["page_down"] + (ord("n"),), "next")
_bind(_NAMED["page_up"] + (ord("p"),), "previous")
_bind(_NAMED["home"], "first_last", 0)
_bind(_NAMED["end"], "first_last", 1)
_bind(_NAMED["tab"], "select_next")
_bind("`", "select_previous")
_bind("y", "confirm")
_bind("x", "reject")
_bind("b", "draw_mode")
for _i in range(5):
    _bind(str(_i + 1), "set_class", _i)
_bind(_NAMED["delete"] + _NAMED["backspace"], "delete_mark")
_bind(_NAMED["left"], "pan", 0)
_bind(_NAMED["up"], "pan", 1)
_bind(_NAMED["right"], "pan", 2)
_bind(_NAMED["down"], "pan", 3)
_bind("+=", "zoom", 1)
_bind("-_", "zoom", -1)
_bind("f", "fit")
_bind("z", "one_to_one")
_bind("[", "window_width", -1)
_bind("]", "window_width", 1)
_bind(",", "window_level", -1)
_bind(".", "window_level", 1)
_bind("w", "auto_window")
_bind("7", "gamma", -1)
_bind("8", "gamma", 1)
_bind("v", "negative")
_bind("l", "clahe")
_bind("e", "edge")
_bind("m", "colormap")
_bind("r", "reset_image")
_bind("9", "threshold", -1)
_bind("0", "threshold", 1)
_bind("o", "overlays")
_bind("k", "heatmap")
_bind(_NAMED["f1"] + (ord("h"), ord("?")), "help")
_bind(_NAMED["escape"] + (ord("q"),), "quit")


def action_for(code: int) -> tuple[str, int] | None:
    """``(action, argument)`` for a ``waitKeyEx`` code, or None when the key is unbound."""
    return BINDINGS.get(code)


def help_lines() -> list[str]:
    """One line per key binding, for the help overlay."""
    return [f"{keys:<10} {text}" for keys, _action, text in KEYMAP]
