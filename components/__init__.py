"""KFP components: one per pipeline step, each a thin typed wrapper over the core library.

Every component takes only the profile settings its step reads (`settings`: one view of
ichigo.config.steps, so a KFP backend's cache keys on exactly those), optionally a local step
cache dir (the embedded profile's `ichigo run` sets it; on a KFP backend KFP caches instead), and
typed artifacts in/out. Components never pip-install at run time: the project is in the image
(docker/components.Dockerfile) or, locally, in the venv that runs kfp.local.
"""
