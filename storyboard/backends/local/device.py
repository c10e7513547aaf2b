"""Which device runs the model, in which precision, and what an out-of-memory error looks like there."""

from __future__ import annotations

import re
from typing import Any

DEVICES = ("cuda", "mps", "cpu")
_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


class DeviceUnavailable(ValueError):
    """The asked-for device does not exist on this machine."""


def pick(requested: str | None) -> str:
    """Return the device to run on: the one asked for, else cuda, then mps, then cpu."""
    import torch

    if requested:
        if not _DEVICE_RE.match(requested):
            raise DeviceUnavailable(f"--device {requested}: use cuda, cuda:N, mps or cpu")
        if requested.startswith("cuda"):
            if not torch.cuda.is_available():
                raise DeviceUnavailable(f"--device {requested}: no CUDA GPU is available to this torch "
                                        f"({torch.__version__}); use --device cpu")
            index = int(requested.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise DeviceUnavailable(f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA "
                                        "device(s), numbered from 0")
        if requested == "mps" and not torch.backends.mps.is_available():
            raise DeviceUnavailable("--device mps: Apple's Metal (MPS) is not available here; use --device cpu")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def dtype_for(device: str, family: str) -> Any:
    """Return the precision: full on the CPU; half on GPUs (bfloat16 for FLUX where the GPU has it)."""
    import torch

    if device == "cpu":
        return torch.float32
    if device.startswith("cuda") and family == "flux2-klein" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def dtype_name(dtype: Any) -> str:
    """Return 'float16', 'bfloat16' or 'float32'."""
    return str(dtype).removeprefix("torch.")


def is_out_of_memory(e: BaseException) -> bool:
    """Return whether an exception is the device (or the CPU allocator) running out of memory."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    if isinstance(e, oom):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError | MemoryError) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(e, MemoryError)
    )


def free_memory(device: str) -> None:
    """Give cached accelerator memory back after a failure, so the next frame starts clean."""
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    elif device == "mps":
        torch.mps.empty_cache()
