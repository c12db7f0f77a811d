"""lark-oapi's protobuf `Frame` (lark_oapi/ws/pb/pbbp2_pb2.py), loaded without lark_oapi's package.

`import lark_oapi.ws.pb.pbbp2_pb2` first runs `lark_oapi/__init__.py`, which imports every API the SDK has: 3–4 s of
CPU, so a long-connection replica on a busy machine took half a minute to connect. The frame module needs only its
sibling modules (the protobuf runtime lark-oapi vendors under ws/pb): those are loaded under bare package entries for
`lark_oapi` and `lark_oapi.ws`, which are removed again, so a later `import lark_oapi` gets the whole SDK.
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
            return importlib.import_module(FRAME_MODULE).Frame
        finally:
            for name in [n for n in sys.modules if n == "lark_oapi" or n.startswith("lark_oapi.")]:
                del sys.modules[name]
    finally:
        _imp.release_lock()
