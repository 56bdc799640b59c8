"""Helpers for the audio tests: real ffmpeg/ffprobe, a tiny Piper voice, a fake gTTS server."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=format_name,duration,bit_rate:stream=codec_name,channels,sample_rate,bit_rate",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
    )
    return json.loads(out.stdout)


def integrated_loudness(path: Path) -> float:
    """EBU R128 integrated loudness (LUFS) measured by ffmpeg's ebur128 filter."""
    proc = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = proc.stderr.rsplit("Summary:", 1)[-1]
    return float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]


def make_audio(path: Path, seconds: float, *codec: str, source: str = "sine=frequency=440") -> Path:
    """A real audio file made by ffmpeg: a tone of ``seconds`` with the given codec options."""
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"{source}:sample_rate=44100:duration={seconds}",
            *codec,
            str(path),
        ],
        check=True,
    )
    return path


def build_tiny_piper_voice(directory: Path, name: str = "vi_VN-tiny-test") -> tuple[Path, Path]:
    """A Piper-shaped ONNX voice (inputs input, input_lengths, scales; output [1,1,N]) that says
    each phoneme id as 256 × length_scale samples of a tone whose loudness follows the id."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    def const(name: str, value: object, dtype: object) -> object:
        return numpy_helper.from_array(np.array(value, dtype=dtype), name)

    # samples per phoneme = ceil(256 × length_scale): a higher rate gives shorter speech
    nodes = [
        helper.make_node("Cast", ["input"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids_f", "axis2"], ["ids_3d"]),
        helper.make_node("Gather", ["scales", "one"], ["length_scale"], axis=0),
        helper.make_node("Mul", ["length_scale", "hop"], ["hop_f"]),
        helper.make_node("Ceil", ["hop_f"], ["hop_c"]),
        helper.make_node("Cast", ["hop_c"], ["hop_i"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["hop_i", "axis0"], ["hop_1"]),
        helper.make_node("Concat", ["ones2", "hop_1"], ["repeats"], axis=0),
        helper.make_node("Tile", ["ids_3d", "repeats"], ["tiled"]),
        helper.make_node("Reshape", ["tiled", "out_shape"], ["flat"]),
        helper.make_node("Shape", ["flat"], ["shape"]),
        helper.make_node("Gather", ["shape", "two"], ["n"], axis=0),
        helper.make_node("Cast", ["n"], ["n_f"], to=TensorProto.FLOAT),
        helper.make_node("Range", ["zero", "n_f", "step"], ["k"]),
        helper.make_node("Mul", ["k", "omega"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["carrier"]),
        helper.make_node("Mul", ["flat", "carrier"], ["wave"]),
        helper.make_node("Mul", ["wave", "gain"], ["output"]),
    ]
    inits = [
        const("axis2", [2], np.int64),
        const("axis0", [0], np.int64),
        const("one", 1, np.int64),
        const("two", 2, np.int64),
        const("hop", 256.0, np.float32),
        const("ones2", [1, 1], np.int64),
        const("out_shape", [1, 1, -1], np.int64),
        const("zero", 0.0, np.float32),
        const("step", 1.0, np.float32),
        const("omega", 2 * np.pi * 8 / 256, np.float32),
        const("gain", 0.004, np.float32),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-piper",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "T"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "N"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / f"{name}.onnx"
    onnx.save(model, str(model_path))
    config = {
        "audio": {"sample_rate": 22050},
        "espeak": {"voice": "vi"},
        "phoneme_type": "espeak",
        "num_symbols": 1 + max(i for ids in DEFAULT_PHONEME_ID_MAP.values() for i in ids),
        "num_speakers": 1,
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
    }
    config_path = directory / f"{name}.onnx.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return model_path, config_path


@dataclass
class FakeGtts:
    """A local stand-in for Google's batchexecute endpoint, speaking gTTS's wire format."""

    audio: bytes
    mode: str = "ok"  # ok | error500 | flaky | no_audio
    requests: list[list] = field(default_factory=list)
    url: str = ""

    def response(self) -> tuple[int, str]:
        count = len(self.requests)
        if self.mode == "error500" or (self.mode == "flaky" and count == 1):
            return 500, "server error"
        if self.mode == "no_audio":
            return 200, ')]}\'\n\n[["wrb.fr","jQ1olc",null,null,null,[3],"generic"]]'
        b64 = base64.b64encode(self.audio).decode("ascii")
        body = f'[["wrb.fr","jQ1olc","[\\"{b64}\\"]",null,null,null,"generic"]]'
        return 200, ")]}'\n\n" + f"{len(body)}\n" + body + '\n[["di",42]]\n'


@contextmanager
def fake_gtts_server(audio: bytes, mode: str = "ok") -> Iterator[FakeGtts]:
    fake = FakeGtts(audio=audio, mode=mode)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8"))
            rpc = json.loads(form["f.req"][0])
            fake.requests.append(rpc)
            status, text = fake.response()
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = (
        f"http://127.0.0.1:{server.server_address[1]}/_/TranslateWebserverUi/data/batchexecute"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
