"""Realtime benchmark: `/v1/realtime` (server VAD, barge-in) against the same turn over `/v1/speech`.

    .venv/bin/python benchmarks/bench_realtime.py [--package PATH] [--rounds 4]

Each simulated client is a microphone: PCM16 at 24 kHz streamed in real time in 100 ms appends,
silence between utterances, like the voice page. One round = a spoken question; as soon as the
reply's first audio arrives the client speaks again (barge-in), and that turn is answered in full.
Measured, at 1 / 4 / 8 concurrent sessions:
- first audio: the VAD's `input_audio_buffer.speech_stopped` -> the first `response.output_audio.delta`
  (received by the client; p50 / p95; goal <= 300 ms p50 with the embedded model);
- barge-in: `input_audio_buffer.speech_started` -> `response.done` with status `cancelled` (the
  server sends it once generation and pending TTS are stopped);
- the same question over `POST /v1/speech` (push-to-talk: the upload ends when speech ends) ->
  its first `audio` event, with the same number of concurrent clients (the baseline).
Without --package it uses the serving tests' tiny package (built once in benchmarks/out/tiny_package).
The default run takes about 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PCM_RATE = 24000
CHUNK_MS = 100
GOAL_MS = 300.0


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def pcm24(wave16k: np.ndarray) -> bytes:
    from ichigo.audio import resample

    return (np.clip(resample(wave16k, 16000, PCM_RATE), -1, 1) * 32767).astype("<i2").tobytes()


class Mic:
    """Streams PCM16 in real time: queued utterances, silence in between."""

    def __init__(self, ws):
        self.ws, self.queue, self.closed = ws, bytearray(), False
        self.step = 2 * PCM_RATE * CHUNK_MS // 1000

    def say(self, pcm: bytes) -> None:
        self.queue += pcm

    async def run(self) -> None:
        t0, n = time.perf_counter(), 0
        while not self.closed:
            chunk = bytes(self.queue[:self.step]).ljust(self.step, b"\x00")
            del self.queue[:self.step]
            await self.ws.send(json.dumps({"type": "input_audio_buffer.append",
                                           "audio": base64.b64encode(chunk).decode()}))
            n += 1
            await asyncio.sleep(max(0.0, t0 + n * CHUNK_MS / 1000 - time.perf_counter()))


async def session(url: str, question: bytes, interrupt: bytes, rounds: int, out: dict) -> None:
    import websockets

    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()  # session.created
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": ""}}))
        mic = Mic(ws)
        feeder = asyncio.create_task(mic.run())
        stopped = started = None
        barging = False
        done_rounds = 0
        mic.say(question)
        try:
            while done_rounds < rounds:
                ev = json.loads(await asyncio.wait_for(ws.recv(), 60))
                now, t = time.perf_counter(), ev["type"]
                if t == "input_audio_buffer.speech_stopped":
                    stopped = now
                elif t == "input_audio_buffer.speech_started":
                    started = now
                elif t == "response.output_audio.delta" and stopped is not None:
                    out["first_audio"].append(now - stopped)
                    stopped = None
                    if not barging:  # speak over the reply
                        barging = True
                        mic.say(interrupt)
                elif t == "response.done":
                    status = ev["response"]["status"]
                    if status == "cancelled" and started is not None:
                        out["barge_in"].append(now - started)
                    elif status == "completed" and barging:
                        barging = False
                        done_rounds += 1
                        if done_rounds < rounds:
                            mic.say(question)
                    out["status"][status] = out["status"].get(status, 0) + 1
                elif t == "error":
                    out["errors"].append(ev["error"].get("code"))
        finally:
            mic.closed = True
            await feeder


async def realtime_level(url: str, clients: int, rounds: int, question: bytes, interrupt: bytes) -> dict:
    out: dict = {"first_audio": [], "barge_in": [], "status": {}, "errors": []}
    await asyncio.gather(*(session(url, question, interrupt, rounds, out) for _ in range(clients)))
    return out


async def speech_level(url: str, clients: int, turns: int, wav: bytes) -> list[float]:
    res: list[float] = []

    async def client():
        async with httpx.AsyncClient(timeout=120) as c:
            for _ in range(turns):
                t0 = time.perf_counter()
                async with c.stream("POST", url + "/v1/speech", content=wav,
                                    headers={"content-type": "audio/wav"}) as r:
                    first = None
                    async for line in r.aiter_lines():  # read to the end: the turn's full cost
                        if first is None and line.strip() and json.loads(line)["type"] == "audio":
                            first = time.perf_counter() - t0
                    if first is not None:
                        res.append(first)

    await asyncio.gather(*(client() for _ in range(clients)))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", help="model package dir or registry URI; default: the tests' tiny package")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per session at 1 client (fewer at 4 / 8)")
    ap.add_argument("--levels", default="1,4,8")
    args = ap.parse_args(argv)

    import torch

    import bench_serving as bs
    from ichigo.audio import wav_bytes
    from tests.serving.helpers import speech_wave

    torch.set_num_threads(1)
    if args.package is None:
        args.package = str(bs.tiny_package(Path("benchmarks/out/tiny_package").resolve()))
    elif args.package.startswith("models:/"):
        from serving.model_source import ModelSource

        args.package = str(ModelSource(args.package).resolve(bs.profile_for(1))[0])
    q = speech_wave("What is the capital of France?")
    gap = np.zeros(int(16000 * 0.9), np.float32)  # the VAD ends a turn after 500 ms of silence
    question = pcm24(np.concatenate([q, gap]))
    interrupt = pcm24(np.concatenate([speech_wave("How many legs does a spider have?"), gap]))
    wav = wav_bytes(q)

    from ray import serve

    from ichigo.ports import free_port
    from serving.local import start_ray, stop_ray

    start_ray(num_cpus=4)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        url = f"http://127.0.0.1:{port}"
        bs.deploy(args.package, 1, url)  # one replica each: no replica starts during the runs
        ws_url = url.replace("http://", "ws://") + "/v1/realtime"
        asyncio.run(realtime_level(ws_url, 1, 1, question, interrupt))  # warm-up
        asyncio.run(speech_level(url, 1, 2, wav))
        rows = []
        for clients in (int(x) for x in args.levels.split(",")):
            rounds = max(1, args.rounds // clients) if clients > 1 else args.rounds
            t0 = time.perf_counter()
            rt = asyncio.run(realtime_level(ws_url, clients, rounds, question, interrupt))
            sp = asyncio.run(speech_level(url, clients, max(2, rounds * 2), wav))
            rows.append((clients, rt, sp, time.perf_counter() - t0))
        print("\nRealtime voice turns (ms; one replica per deployment; 2 CPU cores)")
        print(f"{'sessions':>8} {'first audio p50':>16} {'p95':>7} {'n':>4}   {'barge-in p50':>13} {'p95':>7} {'n':>4}"
              f"   {'/v1/speech first audio p50':>27} {'p95':>7} {'n':>4}  statuses")
        for clients, rt, sp, _ in rows:
            fa, bi = rt["first_audio"], rt["barge_in"]
            print(f"{clients:>8} {1000 * pct(fa, .5):>16.1f} {1000 * pct(fa, .95):>7.1f} {len(fa):>4}   "
                  f"{1000 * pct(bi, .5):>13.1f} {1000 * pct(bi, .95):>7.1f} {len(bi):>4}   "
                  f"{1000 * pct(sp, .5):>27.1f} {1000 * pct(sp, .95):>7.1f} {len(sp):>4}  "
                  f"{rt['status']}{' errors: ' + str(rt['errors']) if rt['errors'] else ''}")
        p50 = 1000 * pct(rows[0][1]["first_audio"], .5)
        print(f"\nfirst audio after end of speech, 1 session, p50 {p50:.1f} ms (goal <= {GOAL_MS:.0f} ms): "
              f"{'OK' if p50 <= GOAL_MS else 'OVER'}")
    finally:
        stop_ray()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
