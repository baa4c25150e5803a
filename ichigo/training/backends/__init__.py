"""Training backends: one module per place a stage can run, each behind the same call

    result = backend.run(job, env, progress)   # job: StageJob -> StageResult

`torchrun` (a process group on this machine) and `trainjob` (a Kubeflow Trainer TrainJob on the
cluster). `ichigo.training.launch.run_stage` picks one from the profile's `training.launcher`.
"""
