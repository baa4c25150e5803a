"""Three-stage training: the FSDP2 recipe (`recipe`), its launcher (`launch.run_stage`: torchrun
locally, a Kubeflow Trainer TrainJob on a cluster) and the GPU memory plan (`memory_plan`).

No kfp or ray imports here; torch.distributed is imported by the recipe modules only."""
