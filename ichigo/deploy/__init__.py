"""Deployment helpers: the Ray Serve config generated from a profile, the RBAC the code needs,
custom-resource schema validation, the renderer that keeps manifests/ and helm/ in sync, and the
RayService patcher the promotion follower drives on a cluster.

Pure Python (no kfp/ray imports); the rendered YAML is checked in and tested like a golden file.
"""
