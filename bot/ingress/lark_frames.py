"""lark-oapi's protobuf `Frame` (lark_oapi/ws/pb/pbbp2_pb2.py), loaded without lark_oapi's package.

`import lark_oapi.ws.pb.pbbp2_pb2` first runs `lark_oapi/__init__.py`, which imports every API the SDK has: 3–4 s of
CPU, so a long-connection replica on a busy machine took half a minute to connect. The frame module needs only its
sibling modules (the protobuf runtime lark-oapi vendors under ws/pb): those are loaded under bare package entries for
`lark_oapi` and `lark_oapi.ws`, which are removed again, so a later `import lark_oapi` gets the whole SDK (and reuses
the frame modules). The modules loaded stay: the vendored protobuf imports more of itself lazily (descriptor_pb2, at
the first frame serialised), and without its package in `sys.modules` that import ran the SDK's `__init__` on the
event loop: seconds with no pong, a watchdog reconnect (tests/test_lark_frames.py). A frame is serialised and parsed
once while loading, so those lazy imports happen here too.
"""

from __future__ import annotations

import _imp
import functools
import importlib
import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any

FRAME_MODULE = "lark_oapi.ws.pb.pbbp2_pb2"
_loading = threading.Lock()


@functools.cache
def frame_class() -> Any:
    """Call it before any other thread of the process may import lark_oapi (the bot does, at its first connection):
    an import that finds the bare entries in between takes them for the package."""
    with _loading:
        return _load()


def _load() -> Any:
    if "lark_oapi" in sys.modules:  # the SDK is there already (a test using its clients): nothing to save
        return importlib.import_module(FRAME_MODULE).Frame
    spec = importlib.util.find_spec("lark_oapi")
    if spec is None or spec.origin is None:
        raise ImportError("lark-oapi is not installed")
    root = Path(spec.origin).parent
    pb = root / "ws" / "pb"
    # The import lock: no other thread starts importing these packages while the bare entries stand in for them. The
    # vendored protobuf's `google` package would import pkg_resources to declare a namespace: bare too.
    _imp.acquire_lock()
    try:
        for name, path in (
            ("lark_oapi", root),
            ("lark_oapi.ws", root / "ws"),
            ("lark_oapi.ws.pb.google", pb / "google"),
        ):
            package = types.ModuleType(name)
            package.__path__ = [str(path)]
            sys.modules[name] = package
        try:
            frame = importlib.import_module(FRAME_MODULE).Frame
            _warm_up(frame)
            return frame
        finally:
            # Only the stand-ins for the SDK's own packages go; the vendored `google` namespace stays bare.
            del sys.modules["lark_oapi"], sys.modules["lark_oapi.ws"]
    finally:
        _imp.release_lock()


def _warm_up(frame_type: Any) -> None:
    frame = frame_type(SeqID=1, LogID=1, service=1, method=0, payload=b"{}")
    frame.headers.add(key="type", value="ping")
    frame_type.FromString(frame.SerializeToString())
