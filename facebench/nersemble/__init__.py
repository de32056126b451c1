"""Readers for NeRSemble captures in the v1, v2 and benchmark layouts (SPEC section 3).

Start with :func:`open_capture`; see ``docs/NERSEMBLE.md``.  Nothing heavy is
imported here: images are decoded with Pillow and videos with imageio-ffmpeg only
when read.
"""

from facebench.nersemble.capture import Capture, SequenceSelection, View, open_capture
from facebench.nersemble.layout import FPS, LAYOUTS, SENSOR_HEIGHT, SENSOR_WIDTH, SERIALS, detect_layout
from facebench.nersemble.select import FrameRange, parse_frames, select_names

__all__ = [
    "FPS",
    "LAYOUTS",
    "SENSOR_HEIGHT",
    "SENSOR_WIDTH",
    "SERIALS",
    "Capture",
    "FrameRange",
    "SequenceSelection",
    "View",
    "detect_layout",
    "open_capture",
    "parse_frames",
    "select_names",
]
