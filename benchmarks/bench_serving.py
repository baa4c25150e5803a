"""Serving benchmark: HTTP graph vs the same models in-process, then throughput under autoscaling.

    .venv/bin/python benchmarks/bench_serving.py [--package PATH] [--runs 20] [--seconds 20]

--package takes a package dir or a registry URI (the model `make run` registered). Without it,
it builds (once, cached in benchmarks/out/tiny_package) the tiny package the
serving tests use: a 2-layer model taught one three-sentence reply + a 64-code codebook.

1. Latency: p50/p95 end-to-end (speech in -> last audio chunk) and time to first token, over
   HTTP (`POST /v1/speech`, Ray Serve graph with one replica each) and in-process (`Assistant`,
   same package, same steps), turns alternating between the two so both see the same machine
   load. HTTP overhead = (HTTP - in-process) / in-process; target <= 15%. Then the same hop
   pattern with no model work (`floor_app`): what HTTP + Ray Serve alone cost a turn here, so
   the overhead splits into Ray's floor and what this graph adds on top.
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

# one BLAS/OpenMP thread, before numpy loads: Ray gives each replica of a fractional CPU one
# thread, and the in-process baseline must not lose to spinning BLAS threads on 2 busy cores
os.environ.setdefault("OMP_NUM_THREADS", "1")

import httpx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_OVERHEAD = 0.15


def p50_ms(xs: list[float]) -> float:
    return 1000 * statistics.median(xs) if xs else float("nan")


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


class InProcess:
    """The same steps as the graph, in one process: encode, stream text, and synthesize each
    sentence on a worker thread as soon as it ends (the graph overlaps TTS with the LLM too)."""

    def __init__(self, package: str):
        from ichigo.assistant import Assistant

        self.a = Assistant.load(package, profile_for(1))
        self.tts_pool = ThreadPoolExecutor(2)

    def turn(self, wav: bytes, speak: bool = True) -> tuple[dict, str]:
        from ichigo.assistant import SentenceChunker
        from ichigo.chat_template import user_audio

        a = self.a
        t0 = time.perf_counter()
        first, chunker, jobs, parts = None, SentenceChunker(), [], []
        codes = a.encode_audio(wav)
        encoded = time.perf_counter() - t0
        for delta in a.stream_reply(a.messages_for(user_audio(codes))):
            if first is None:
                first = time.perf_counter() - t0
            parts.append(delta)
            if speak:
                jobs += [self.tts_pool.submit(a.speak, s) for s in chunker.push(delta)]
        text_done = time.perf_counter() - t0
        if speak:
            jobs += [self.tts_pool.submit(a.speak, s) for s in chunker.flush()]
            assert [j.result() for j in jobs], "the reply produced no audio"
        return {"e2e": time.perf_counter() - t0, "ttft": first or 0.0, "text": text_done,
                "encoded": encoded}, "".join(parts)

    def close(self) -> None:
        self.tts_pool.shutdown()
        self.a.engine.close()


def http_turn(client: httpx.Client, url: str, wav: bytes, speak: bool = True) -> tuple[dict, bool]:
    t0 = time.perf_counter()
    first = text_done = None
    ok, server = False, {}
    with client.stream("POST", url + "/v1/speech", content=wav, params={"speak": str(speak).lower()},
                       headers={"content-type": "audio/wav"}, timeout=120) as r:
        for line in r.iter_lines():
            if not line.strip():
                continue
            ev = json.loads(line)
            if ev["type"] == "text":
                text_done = time.perf_counter() - t0
                first = first or text_done
            ok = ev["type"] == "done" and r.status_code == 200
            server = ev.get("timings_ms", {}) if ok else {}
    times = {"e2e": time.perf_counter() - t0, "ttft": first or 0.0, "text": text_done or 0.0}
    # when each step finished at the ingress replica, from the request's arrival there
    times.update({f"ingress:{k}": v / 1000 for k, v in server.items()})
    return times, ok


def latency(inp: InProcess, url: str, wav: bytes, runs: int, speak: bool = True) -> tuple[dict, dict, str]:
    """Turns alternate between in-process and HTTP (which goes first alternates too), so both
    see the same machine load; the first turn of each warms caches and is not counted."""
    res: dict = {"inp": {}, "http": {}}
    text = ""
    with httpx.Client() as c:
        for i in range(runs + 1):
            for kind in (("inp", "http") if i % 2 else ("http", "inp")):
                if kind == "inp":
                    times, text = inp.turn(wav, speak)
                else:
                    times, ok = http_turn(c, url, wav, speak)
                    if not ok:
                        raise RuntimeError("HTTP turn failed")
                for k, v in times.items():
                    if i:
                        res[kind].setdefault(k, []).append(v)
    return res["inp"], res["http"], text


def steps(inp: dict, http: dict) -> None:
    """Where the HTTP turn's time goes: each step's finish time (p50, ms from the start of the
    turn) in-process, at the ingress replica (from the request's arrival there) and at the
    client; the differences between consecutive rows are the hops."""
    rows = [("request body read", None, "ingress:body", None),
            ("audio encoded", "encoded", "ingress:encoded", None),
            ("LLM stream open", None, "ingress:llm_start", None),
            ("first text", "ttft", "ingress:first_text", "ttft"),
            ("last text", "text", "ingress:last_text", "text"),
            ("last audio", "e2e", "ingress:last_audio", "e2e")]
    print(f"{'step done (p50 ms)':<20}{'in-process':>12}{'at ingress':>12}{'at client':>11}")
    for name, ki, kh, kc in rows:
        cells = [p50_ms(inp[ki]) if ki else None, p50_ms(http.get(kh, [])), p50_ms(http[kc]) if kc else None]
        print(f"{name:<20}" + "".join(f"{'-' if c is None else f'{c:.1f}':>{w}}"
                                      for c, w in zip(cells, (12, 12, 11))))


def table(title: str, inp: dict, http: dict) -> float:
    """Prints the comparison; returns the end-to-end p50 overhead."""
    rows = [(f"{label} {q}", f(inp[k]), f(http[k]))
            for k, label in (("e2e", "end-to-end"), ("ttft", "first token"), ("text", "text complete"))
            for q, f in (("p50", statistics.median), ("p95", lambda xs: pct(xs, 0.95)))]
    print(f"\n{title}")
    print(f"{'metric':<20}{'in-process ms':>15}{'HTTP ms':>10}{'overhead':>10}{'+ms':>8}")
    for name, a, b in rows:
        print(f"{name:<20}{1000 * a:>15.1f}{1000 * b:>10.1f}{(b - a) / a:>10.1%}{1000 * (b - a):>8.1f}")
    return (rows[0][2] - rows[0][1]) / rows[0][1]


def floor_app(sentences: int = 3):
    """The graph's hop pattern with no model work: an ingress that reads the audio, calls a
    tokenizer deployment, opens an LLM stream (start, one piece per sentence, end) and calls a TTS
    deployment per sentence, all by value like serving/ingress.py. Its latency over HTTP is what
    HTTP + Ray Serve cost a spoken turn on this machine before any model runs."""
    import asyncio

    from fastapi import FastAPI, Request
    from fastapi.responses import StreamingResponse
    from ray import serve

    api = FastAPI()
    small = {"ray_actor_options": {"num_cpus": 0.1}}

    @serve.deployment(**small)
    class Tokenizer:
        async def encode(self, audio: bytes) -> dict:
            return {"codes": list(range(len(audio) % 97 + 50))}

    @serve.deployment(**small)
    class Generator:
        async def generate(self, messages: list):
            yield {"type": "start", "prompt_tokens": len(messages[0]["content"])}
            for i in range(sentences):
                yield {"type": "text", "delta": f"Sentence number {i}. "}
            yield {"type": "end", "completion_tokens": 3 * sentences}

    @serve.deployment(**small)
    class Speaker:
        async def synthesize(self, text: str) -> bytes:
            return bytes(320 * len(text))

    @serve.deployment(**small)
    @serve.ingress(api)
    class Front:
        def __init__(self, tok, gen, tts):
            self.tok, self.gen, self.tts = (h.options(_by_reference=False) for h in (tok, gen, tts))

        async def speech(self, request):
            codes = (await self.tok.encode.remote(await request.body()))["codes"]
            stream = self.gen.options(stream=True).generate.remote([{"role": "user", "content": codes}])
            await stream.__anext__()  # `start`, as the real ingress waits for it

            async def events():
                jobs = []
                async for ev in stream:
                    if ev["type"] == "text":
                        yield json.dumps(ev).encode() + b"\n"
                        jobs.append(asyncio.ensure_future(self.tts.synthesize.remote(ev["delta"])))
                for job in jobs:
                    yield json.dumps({"type": "audio", "bytes": len(await job)}).encode() + b"\n"
                yield json.dumps({"type": "done"}).encode() + b"\n"

            return StreamingResponse(events(), media_type="application/x-ndjson")

        # a real annotation, not this module's postponed string: the replica unpickles this class
        # by value and FastAPI could not resolve the name there
        speech.__annotations__ = {"request": Request}
        speech = api.post("/v1/speech")(speech)

    return Front.bind(Tokenizer.bind(), Generator.bind(), Speaker.bind())


def floor(url: str, wav: bytes, runs: int) -> dict:
    """The empty graph's turn times over HTTP (the first turn warms up and is not counted)."""
    from ray import serve

    serve.run(floor_app(), name="floor", route_prefix="/floor")
    res: dict = {}
    with httpx.Client() as c:
        for i in range(runs + 1):
            times, ok = http_turn(c, url + "/floor", wav)
            if not ok:
                raise RuntimeError("floor turn failed")
            for k, v in times.items():
                if i:
                    res.setdefault(k, []).append(v)
    serve.delete("floor")
    return res


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
                    good = http_turn(c, url, wav)[1]
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


def tiny_package(root: Path) -> Path:
    """The serving tests' tiny package (tests/conftest.py), built once under `root`."""
    from ichigo.package import PACKAGE_FILE
    from tests.conftest import build_tiny_llm, build_tiny_package

    pkg = root / "package"
    if not (pkg / PACKAGE_FILE).exists():
        import shutil
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        print(f"building the tiny test package in {root} ...", flush=True)
        build_tiny_package(build_tiny_llm(root / "llm_base"), root)
    return pkg


def deploy(package: str, max_replicas: int, url: str) -> None:
    from ray import serve

    from serving.app import build_app

    serve.run(build_app({"profile": profile_for(max_replicas), "model_uri": package}), name="ichigo",
              route_prefix="/", blocking=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=30).status_code == 200 and \
                    serve.status().applications["ichigo"].status == "RUNNING":
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("the serving app did not become ready in 300 s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", help="model package dir (ichigo.package layout) or registry URI "
                    "(models:/ichigo-speech-llm/1 after `make run`); default: the tests' tiny "
                    "package, built once in benchmarks/out/tiny_package")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0,
                    help="per concurrency level of the throughput part (0: skip it)")
    ap.add_argument("--text-only", action="store_true",
                    help="also compare the turns without TTS (speak=false), to locate the overhead")
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

    if args.package is None:
        args.package = str(tiny_package(Path("benchmarks/out/tiny_package").resolve()))
    elif args.package.startswith("models:/"):
        from serving.model_source import ModelSource

        args.package = str(ModelSource(args.package).resolve(profile_for(1))[0])
    wav = wav_bytes(EspeakTTS().synthesize(["What is the capital of France?"], "en-us")[0])
    inp = InProcess(args.package)

    from ray import serve

    from ichigo.ports import free_port
    from serving.local import start_ray, stop_ray

    start_ray(num_cpus=4)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        url = f"http://127.0.0.1:{port}"
        # latency: one replica each (no autoscaling), so no replica starts up during the runs
        deploy(args.package, 1, url)
        inp_t, http_t, reply = latency(inp, url, wav, args.runs)
        print(f"in-process reply: {reply!r}")
        over = table(f"Latency over {args.runs} spoken turns (speech in -> text + audio out)", inp_t, http_t)
        print(f"HTTP overhead at p50: {over:.1%} (target <= {TARGET_OVERHEAD:.0%}): "
              f"{'OK' if over <= TARGET_OVERHEAD else 'OVER'}\n")
        steps(inp_t, http_t)
        base = floor(url, wav, args.runs)
        added, least = p50_ms(http_t["e2e"]) - p50_ms(inp_t["e2e"]), p50_ms(base["e2e"])
        print(f"\nRay Serve floor (the same hops, no model work) over HTTP, p50: end-to-end "
              f"{least:.1f} ms, first text {p50_ms(base['ttft']):.1f} ms; this graph added "
              f"{added:.1f} ms end to end, so {added - least:+.1f} ms beyond the floor. "
              f"The {TARGET_OVERHEAD:.0%} target holds for turns of {least / TARGET_OVERHEAD:.0f} "
              "ms or more in-process.")
        if args.text_only:
            inp_t, http_t, _ = latency(inp, url, wav, args.runs, speak=False)
            table("Same turns without TTS (speak=false; where the overhead is)", inp_t, http_t)
        inp.close()

        if args.seconds <= 0:
            return 0
        deploy(args.package, 2, url)  # an in-place config update: LLM and TTS now scale 1..2
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
