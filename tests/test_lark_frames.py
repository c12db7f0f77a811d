"""lark-oapi's Frame loads and serialises without the SDK's ~3 s of API imports, and the SDK is whole afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_frame_loads_without_the_sdk_and_speaks_its_wire_format() -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from bot.ingress.lark_frames import frame_class

        def sdk_loaded():
            return [n for n in sys.modules if n == "lark_oapi" or n.startswith(("lark_oapi.api", "lark_oapi.client"))]

        started = time.process_time()
        Frame = frame_class()
        # What a connection does first: a ping with headers, serialised, and frames parsed. The vendored protobuf
        # imports descriptor_pb2 lazily there: that import once ran the whole SDK on the event loop.
        ping = Frame(SeqID=7, LogID=1, service=2, method=0, payload=b"{}")
        ping.headers.add(key="type", value="ping")
        sent = ping.SerializeToString()
        assert Frame.FromString(sent).headers[0].value == "ping"
        spent = time.process_time() - started
        assert not sdk_loaded(), f"{len(sdk_loaded())} SDK modules imported"
        assert spent < 1.0, spent  # the whole SDK costs 3-4 s of CPU
        import lark_oapi
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame as SdkFrame
        assert lark_oapi.Client and SdkFrame.FromString(sent).SeqID == 7
        back = SdkFrame(SeqID=8, LogID=1, service=2, method=0).SerializeToString()
        assert Frame.FromString(back).SeqID == 8
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
