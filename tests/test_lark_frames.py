"""lark-oapi's Frame loads without the SDK's ~3 s of API imports, and the SDK is whole afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_frame_loads_without_the_sdk_and_speaks_its_wire_format() -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from bot.ingress.lark_frames import frame_class
        started = time.process_time()
        Frame = frame_class()
        spent = time.process_time() - started
        assert not [name for name in sys.modules if name.startswith("lark_oapi")], "SDK modules left behind"
        assert spent < 1.0, spent  # the whole SDK costs 3-4 s of CPU
        sent = Frame(SeqID=7, LogID=1, service=2, method=1, payload=b"{}").SerializeToString()
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
