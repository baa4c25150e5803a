"""Three-stage training: the FSDP2 recipe (`recipe`), its config file (`config`; the model is
`ichigo.config.recipe`), the backends that run it (`backends.torchrun` locally, `backends.trainjob`
as a Kubeflow Trainer TrainJob) behind `launch.run_stage`, what they hand back (`results`) and the
GPU memory plan (`memory_plan`).

No kfp or ray imports here; torch.distributed is imported by the recipe modules only."""
