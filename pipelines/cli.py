"""`ichigo`: the platform's command line. Every sub-command has --help."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ichigo.errors import IchigoError

EPILOG = """examples:
  ichigo run                          # whole pipeline, embedded CPU profile, ~20 min
  ichigo run --set training.stages.stage2.steps=50
  ichigo compile                      # refresh pipelines/compiled/*.yaml
  ichigo submit --host https://kfp.example.com --profile h100
  ichigo serve --model runs/package   # or --model models:/ichigo-speech-llm@champion
  ichigo promote 3                    # alias champion -> version 3 (the MLflow UI does the same)
  ichigo rollback
"""


def _profile(args):
    """The profile with overrides applied and `{workdir}` filled (the local MLflow store lives there)."""
    from ichigo.config import load_profile, parse_overrides, with_workdir
    from ichigo.paths import default_workdir

    profile = load_profile(args.profile, parse_overrides(getattr(args, "set", None) or []))
    return with_workdir(profile, getattr(args, "workdir", None) or default_workdir())


def _add_profile(p: argparse.ArgumentParser, default: str = "local") -> None:
    p.add_argument("--profile", default=default,
                   help=f"profile name (local, h100) or path to a profile YAML (default: {default})")
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                   help="override a profile field, e.g. training.stages.stage1.steps=20 (repeatable)")


def cmd_run(args) -> int:
    from ichigo.paths import default_workdir
    from pipelines.run_local import format_summary, run_local

    profile = _profile(args)
    if profile.kind != "embedded":
        print(f"profile {profile.name!r} is a cluster profile: use `ichigo compile` + `ichigo submit`",
              file=sys.stderr)
        return 2
    run = run_local(profile, args.workdir or default_workdir(), use_cache=not args.no_cache,
                    verbose=args.verbose)
    print(format_summary(run, profile))
    return 0 if run.registered else 3


def cmd_compile(args) -> int:
    from ichigo.config import load_profile
    from pipelines.compile import COMPILED_PROFILES, compile_pipeline, compiled_path

    names = [args.profile] if args.profile else list(COMPILED_PROFILES)
    for name in names:
        out = Path(args.output) if args.output else compiled_path(Path(name).stem)
        print(f"compiled {name} -> {compile_pipeline(load_profile(name), out)}")
    return 0


def cmd_submit(args) -> int:
    from pipelines.compile import compile_pipeline
    from pipelines.submit import submit

    package = Path(args.package) if args.package else None
    if package is None:
        import tempfile

        package = compile_pipeline(_profile(args), Path(tempfile.mkdtemp()) / "ichigo.yaml")
    run = submit(package, args.host, experiment=args.experiment, run_name=args.run_name,
                 namespace=args.namespace, token=args.token, service_account=args.service_account)
    print(f"submitted run {run.run_id}: {run.url}")
    return 0


def cmd_profiles(args) -> int:
    from ichigo.config import load_profile, profile_names

    if args.name:
        print(json.dumps(load_profile(args.name).model_dump(), indent=2))
    else:
        for n in profile_names():
            p = load_profile(n)
            print(f"{n:<8} {p.kind:<9} training={p.training.launcher} x{p.training.world_size} "
                  f"tts={p.tts.backend} speech_tokenizer={p.speech_tokenizer.backend}")
    return 0


def cmd_plan_memory(args) -> int:
    from ichigo.training.memory_plan import main as plan_main

    gpus = ["--gpus", str(args.gpus)] if args.gpus else []
    return plan_main(["--profile", args.profile, "--gpu-memory-gib", str(args.gpu_memory_gib), *gpus]) or 0


def cmd_plan_data(args) -> int:
    from ichigo.data.stage_plan import (StagePlan, estimated_plan, format_plan, stage_samples,
                                        synthesis_gpu_hours)

    profile = _profile(args)
    if args.stages:  # measured on built stage datasets (the build_datasets step's output)
        m = json.loads((Path(args.stages) / "manifest.json").read_text())
        plans = {k: StagePlan(**v["plan"]) for k, v in m["stages"].items()}
    else:
        plans = estimated_plan(profile)
    print(f"Stage plan, profile {profile.name!r}:")
    print(format_plan(plans))
    for s in profile.data.sources:
        print(f"  source {s.name}: {s.kind} {s.format} {s.uri}" + (f" (limit {s.limit})" if s.limit else ""))
    if not profile.data.sources:
        print("  sources: the embedded world, written as MLS / Alpaca / messages fixture datasets")
    gpu = synthesis_gpu_hours(profile)
    print(f"Synthesis estimate: {sum(stage_samples(profile).values()):,} stage rows; TTS {gpu['tts']} + "
          f"tokenization {gpu['tokenize']} = {gpu['total']} GPU-hours (ichigo.data.stage_plan cost model)")
    return 0


def cmd_follow(args) -> int:
    from ichigo.registry.follower import run_follower

    run_follower(_profile(args))
    return 0


def cmd_promote(args) -> int:
    from ichigo.registry import RegistryClient, promote

    v = promote(RegistryClient(_profile(args).registry), args.version, alias=args.alias,
                retry_failed=args.retry_failed)
    print(f"alias '{args.alias}' -> version {getattr(v, 'version', args.version)}")
    return 0


def cmd_rollback(args) -> int:
    from ichigo.registry import RegistryClient, rollback

    v = rollback(RegistryClient(_profile(args).registry), alias=args.alias)
    print(f"alias '{args.alias}' rolled back -> version {getattr(v, 'version', v)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ichigo", description=(
        "Train and serve Ichigo-style early-fusion speech LLMs: a KFP pipeline (data synthesis, "
        "3-stage FSDP2 training, evaluation gate, MLflow registration) and a Ray Serve graph."),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run the whole pipeline locally (kfp.local, embedded profile)",
                       description="Run the whole pipeline end to end on this machine with kfp.local. "
                       "Steps are cached in WORKDIR/cache: a second run reuses unchanged steps, and "
                       "an interrupted run resumes. Exit code 3 if the gate rejects the model.")
    _add_profile(r)
    r.add_argument("--workdir", help="where artifacts, caches and the MLflow store go (default: ./runs)")
    r.add_argument("--no-cache", action="store_true", help="recompute every step")
    r.add_argument("--verbose", action="store_true",
                   help="stream every step's full output (default: one line per step; logs in WORKDIR/logs)")
    r.set_defaults(fn=cmd_run)

    c = sub.add_parser("compile", help="compile the pipeline to KFP IR YAML",
                       description="Compile the pipeline with a profile baked in. Without --profile, "
                       "refreshes the checked-in pipelines/compiled/ichigo_{local,h100}.yaml.")
    c.add_argument("--profile", help="profile name or YAML path (default: all packaged ones)")
    c.add_argument("--output", help="output YAML path (with --profile)")
    c.set_defaults(fn=cmd_compile)

    s = sub.add_parser("submit", help="submit the pipeline to a KFP backend",
                       description="Compile (or take --package) and create a run on a KFP endpoint.")
    _add_profile(s, default="h100")
    s.add_argument("--host", required=True, help="KFP API endpoint, e.g. https://kfp.example.com")
    s.add_argument("--package", help="a compiled pipeline YAML (default: compile now)")
    s.add_argument("--experiment", default="ichigo", help="KFP experiment name (default: ichigo)")
    s.add_argument("--run-name", help="run name (default: KFP's)")
    s.add_argument("--namespace", help="Kubeflow namespace (multi-user KFP)")
    s.add_argument("--token", help="bearer token for the KFP API")
    s.add_argument("--service-account", default="ichigo-pipeline",
                   help="service account of the pipeline pods (default: ichigo-pipeline, allowed to create TrainJobs)")
    s.set_defaults(fn=cmd_submit)

    pr = sub.add_parser("profiles", help="list profiles or print one (validated)",
                        description="List the packaged profiles, or print one fully resolved.")
    pr.add_argument("name", nargs="?", help="profile to print")
    pr.set_defaults(fn=cmd_profiles)

    m = sub.add_parser("plan-memory", help="per-GPU memory plan of the production model under FSDP2",
                       description="Build Llama-3.1-8B + 515 tokens on the meta device and print "
                       "parameter/gradient/optimizer/activation memory per GPU; fails if it cannot fit.")
    m.add_argument("--profile", default="h100")
    m.add_argument("--gpu-memory-gib", type=float, default=80.0)
    m.add_argument("--gpus", type=int, default=None,
                   help="plan the profile on this many GPUs of one node, bf16 (e.g. --profile small --gpus 1)")
    m.set_defaults(fn=cmd_plan_memory)
    pd = sub.add_parser("plan-data", help="per-stage data plan: samples, tokens, packs, steps, epochs",
                        description="Print what each training stage will do with its data. Without "
                        "--stages the row lengths are estimated from the profile; with --stages (a "
                        "built stage-datasets directory) they are measured. Also estimates the "
                        "GPU-hours of speech synthesis + tokenization for the profile's data.")
    _add_profile(pd, default="h100")
    pd.add_argument("--stages", help="stage datasets directory (holds manifest.json)")
    pd.set_defaults(fn=cmd_plan_data)

    sv = sub.add_parser("serve", help="serve a model with Ray Serve (see `ichigo serve --help`)",
                        add_help=False, description="Run the realtime serving graph locally.")
    sv.add_argument("serve_args", nargs=argparse.REMAINDER)

    f = sub.add_parser("follow", help="cluster promotion follower: the RayService follows the alias",
                       description="Poll MLflow for the serving alias (champion); on a change, patch the "
                       "RayService named by $ICHIGO_RAYSERVICE (namespace $ICHIGO_NAMESPACE) to the new "
                       "version, health-check it, and roll back by itself on failure. Locally, "
                       "`ichigo serve --model models:/NAME@champion` follows the alias by itself.")
    _add_profile(f)
    f.set_defaults(fn=cmd_follow)

    pm = sub.add_parser("promote", help="point an alias (champion) at a model version",
                        description="Same as setting the alias in the MLflow UI; serving follows it.")
    _add_profile(pm)
    pm.add_argument("version", help="model version number")
    pm.add_argument("--alias", default="champion")
    pm.add_argument("--retry-failed", action="store_true",
                    help="re-promote a version whose rollout failed (clears ichigo.rollout_failed; "
                         "the follower tries it again). Versions without gate_passed=true are never promoted")
    pm.set_defaults(fn=cmd_promote)

    rb = sub.add_parser("rollback", help="move an alias back to its previous version",
                        description="Undo the last promotion of the alias (recorded in registry tags).")
    _add_profile(rb)
    rb.add_argument("--alias", default="champion")
    rb.set_defaults(fn=cmd_rollback)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:  # serve owns its flags (argparse's REMAINDER would eat none of them)
        from serving.cli import main as serve_main

        return serve_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except IchigoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # kfp.local: a task failed; its log is printed above
        if "finished with status" not in str(e):
            raise
        print(f"\nerror: {e}\nThe failing task's log is above. Fix the cause and run the same command "
              "again: finished steps are reused from the cache and interrupted ones resume.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
