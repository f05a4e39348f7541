"""Which torch device a Spark task should use (spark-rapids-ml style)."""

from __future__ import annotations


def task_device(preference: str = "auto") -> str:
    """The GPU Spark assigned to this task, else cuda:0 when one is visible, else CPU.

    Under ``spark.task.resource.gpu.amount`` Spark hands each task GPU addresses through
    TaskContext; using that address (not always cuda:0) keeps tasks sharing an executor
    on the GPUs the scheduler gave them.
    """
    import torch

    if preference == "cpu" or not torch.cuda.is_available():
        if preference == "cuda":
            raise RuntimeError("models.device=cuda but no CUDA device is visible to this task")
        return "cpu"
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        if context is not None:
            gpus = context.resources().get("gpu")
            if gpus is not None and gpus.addresses:
                return f"cuda:{int(gpus.addresses[0])}"
    except Exception:  # noqa: BLE001 - outside a Spark task (driver, tests)
        pass
    return "cuda:0"


def task_cpu_threads() -> int:
    """CPU threads for torch in this task: the task's CPUs (spark.task.cpus), not the
    machine's, so parallel tasks on one executor do not oversubscribe its cores."""
    import os

    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        if context is not None:
            return max(1, int(context.cpus()))
    except Exception:  # noqa: BLE001 - outside Spark
        pass
    return max(1, os.cpu_count() or 1)


def prepare_worker(preference: str = "auto") -> str:
    """The device for this task's model, with torch's CPU threads set to the task's share."""
    import torch

    device = task_device(preference)
    if device == "cpu":
        torch.set_num_threads(task_cpu_threads())
    return device
