"""Serving benchmark: HTTP graph vs the same models in-process, then throughput under autoscaling.

    .venv/bin/python benchmarks/bench_serving.py --package PATH [--runs 20] [--seconds 20]

1. Latency: p50/p95 end-to-end (speech in -> last audio chunk) and time to first token, over
   HTTP (`POST /v1/speech`, Ray Serve graph with one replica each) and in-process (`Assistant`,
   same package, same steps). HTTP overhead = (HTTP - in-process) / in-process; target <= 15%.
2. Throughput at 1, 4 and 16 concurrent clients with the LLM autoscaling 1..2 replicas; replica
   counts are sampled over time and plotted to a PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_OVERHEAD = 0.15


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def profile_for(llm_max: int):
    from ichigo.config import load_profile

    dep = lambda cpus, lo, hi, target=2.0: {  # noqa: E731
        "num_cpus": cpus, "memory_gib": 0.5,
        "autoscaling": {"min_replicas": lo, "max_replicas": hi, "target_ongoing_requests": target}}
    return load_profile("local", overrides={"serving": {"deployments": {
        "speech_tokenizer": dep(0.25, 1, 1), "llm": dep(0.5, 1, llm_max, 0.5),
        "tts": dep(0.25, 1, llm_max, 0.5), "ingress": dep(0.1, 1, 1)}}})


def in_process(package: str, wav: bytes, runs: int) -> tuple[list[float], list[float], str]:
    """The same steps as the graph, in one process: encode, stream text, and synthesize each
    sentence on a worker thread as soon as it ends (the graph overlaps TTS with the LLM too)."""
    from ichigo.assistant import Assistant, SentenceChunker
    from ichigo.chat_template import user_audio

    a = Assistant.load(package, profile_for(1))
    e2e, ttft, text = [], [], ""
    with ThreadPoolExecutor(2) as tts_pool:
        for i in range(runs + 1):
            t0 = time.perf_counter()
            first, chunker, jobs, parts = None, SentenceChunker(), [], []
            codes = a.encode_audio(wav)
            for delta in a.stream_reply(a.messages_for(user_audio(codes))):
                if first is None:
                    first = time.perf_counter() - t0
                parts.append(delta)
                jobs += [tts_pool.submit(a.speak, s) for s in chunker.push(delta)]
            jobs += [tts_pool.submit(a.speak, s) for s in chunker.flush()]
            wavs = [j.result() for j in jobs]
            text = "".join(parts)
            assert wavs, "the reply produced no audio"
            if i:  # the first run warms caches
                e2e.append(time.perf_counter() - t0)
                ttft.append(first or 0.0)
    a.engine.close()
    return e2e, ttft, text


def http_turn(client: httpx.Client, url: str, wav: bytes) -> tuple[float, float, bool]:
    t0 = time.perf_counter()
    first, ok = None, False
    with client.stream("POST", url + "/v1/speech", content=wav,
                       headers={"content-type": "audio/wav"}, timeout=120) as r:
        for line in r.iter_lines():
            if not line.strip():
                continue
            ev = json.loads(line)
            if first is None and ev["type"] == "text":
                first = time.perf_counter() - t0
            ok = ev["type"] == "done" and r.status_code == 200
    return time.perf_counter() - t0, first or 0.0, ok


def over_http(url: str, wav: bytes, runs: int) -> tuple[list[float], list[float]]:
    e2e, ttft = [], []
    with httpx.Client() as c:
        for i in range(runs + 1):
            t, f, ok = http_turn(c, url, wav)
            if not ok:
                raise RuntimeError("HTTP turn failed")
            if i:
                e2e.append(t)
                ttft.append(f)
    return e2e, ttft


def replicas() -> dict[str, int]:
    from ray import serve

    deps = serve.status().applications["ichigo"].deployments
    return {k: v.replica_states.get("RUNNING", 0) for k, v in deps.items()}


def throughput(url: str, wav: bytes, clients: int, seconds: float, samples: list) -> tuple[float, int, int]:
    stop = time.monotonic() + seconds
    ok = fail = 0
    lock = threading.Lock()

    def client():
        nonlocal ok, fail
        with httpx.Client() as c:
            while time.monotonic() < stop:
                try:
                    good = http_turn(c, url, wav)[2]
                except httpx.HTTPError:
                    good = False
                with lock:
                    ok, fail = ok + good, fail + (not good)

    t0 = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        futs = [pool.submit(client) for _ in range(clients)]
        while any(not f.done() for f in futs):
            samples.append((time.monotonic(), clients, replicas()))
            time.sleep(0.5)
    return ok / (time.monotonic() - t0), ok, fail


def plot(samples: list, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = samples[0][0]
    fig, ax = plt.subplots(figsize=(8, 4))
    for name in ("LLM", "TTS", "SpeechTokenizer"):
        ax.step([s[0] - t0 for s in samples], [s[2].get(name, 0) for s in samples], where="post", label=name)
    ax2 = ax.twinx()
    ax2.plot([s[0] - t0 for s in samples], [s[1] for s in samples], "k:", label="clients")
    ax.set_xlabel("seconds")
    ax.set_ylabel("running replicas")
    ax2.set_ylabel("concurrent clients")
    ax.legend(loc="upper left")
    ax.set_title("Ichigo serving: replicas under 1 / 4 / 16 concurrent clients")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", required=True, help="model package dir (ichigo.package layout)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0, help="per concurrency level")
    ap.add_argument("--plot", default="benchmarks/out/serving_replicas.png")
    args = ap.parse_args(argv)

    import torch

    from ichigo.audio import wav_bytes
    from ichigo.tts import EspeakTTS

    # Ray gives each replica OMP/torch 1 thread for its fractional CPU; the in-process baseline
    # gets the same, so the comparison measures the graph, not thread oversubscription
    torch.set_num_threads(1)
    # push autoscaling metrics every second (Ray's default is 10 s) so a short run shows scaling
    for k in ("RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S",
              "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S"):
        os.environ.setdefault(k, "1")

    wav = wav_bytes(EspeakTTS().synthesize(["What is the capital of France?"], "en-us")[0])
    inp_e2e, inp_ttft, reply = in_process(args.package, wav, args.runs)
    print(f"in-process reply: {reply!r}")

    from ray import serve

    from serving.app import build_app
    from serving.local import start_ray, stop_ray

    start_ray(num_cpus=4)
    try:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        url = f"http://127.0.0.1:{port}"
        serve.run(build_app({"profile": profile_for(2), "model_uri": args.package}), name="ichigo",
                  route_prefix="/", blocking=False)
        while httpx.get(url + "/readyz", timeout=30).status_code != 200:
            time.sleep(1)
        http_e2e, http_ttft = over_http(url, wav, args.runs)

        rows = [("end-to-end p50", statistics.median(inp_e2e), statistics.median(http_e2e)),
                ("end-to-end p95", pct(inp_e2e, 0.95), pct(http_e2e, 0.95)),
                ("first token p50", statistics.median(inp_ttft), statistics.median(http_ttft)),
                ("first token p95", pct(inp_ttft, 0.95), pct(http_ttft, 0.95))]
        print(f"\nLatency over {args.runs} spoken turns (speech in -> text + audio out)")
        print(f"{'metric':<18}{'in-process ms':>15}{'HTTP ms':>10}{'overhead':>10}")
        for name, a, b in rows:
            print(f"{name:<18}{1000 * a:>15.1f}{1000 * b:>10.1f}{(b - a) / a:>10.1%}")
        over = (rows[0][2] - rows[0][1]) / rows[0][1]
        print(f"HTTP overhead at p50: {over:.1%} (target <= {TARGET_OVERHEAD:.0%}): "
              f"{'OK' if over <= TARGET_OVERHEAD else 'OVER'}")

        samples: list = []
        print(f"\nThroughput ({args.seconds:g} s per level; LLM/TTS autoscale 1..2 replicas)")
        print(f"{'clients':>8}{'req/s':>8}{'ok':>6}{'failed':>8}{'LLM replicas (max)':>20}")
        for clients in (1, 4, 16):
            start = len(samples)
            rps, ok, fail = throughput(url, wav, clients, args.seconds, samples)
            peak = max((s[2].get("LLM", 0) for s in samples[start:]), default=0)
            print(f"{clients:>8}{rps:>8.2f}{ok:>6}{fail:>8}{peak:>20}")
        out = Path(args.plot)
        out.parent.mkdir(parents=True, exist_ok=True)
        plot(samples, out)
        print(f"replica plot: {out}")
    finally:
        stop_ray()
    return 0


if __name__ == "__main__":
    sys.exit(main())
