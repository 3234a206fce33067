"""The engines that can run the frozen CNN's forward: torch in fp32 (two memory layouts), torch in
bfloat16 where the CPU computes it natively, and onnxruntime.

Every engine takes the same preprocessed crops ``(N, 3, S, S)`` float32 and
gives the same named layer outputs (float32 tensors on the engine's device),
so stage one and inference can hold any of them (:class:`~.cnn.FrozenCNN`'s
``engine``).  Which is fastest depends on the machine (one of ours ran
onnxruntime at 136 ms per 224² crop against torch's 154 ms); ``make bench``
measures them side by side (:mod:`~hypercolumns.pipelines.bench.bench_engines`).

- ``torch``: fp32, ``channels_last`` on the CPU (about 1.4x faster there for
  VGG16 than NCHW), NCHW on the GPU; the reference every other engine is
  compared with.
- ``torch-nchw``: fp32 in the default (NCHW) layout.
- ``torch-bf16``: ``torch.autocast`` to bfloat16, ``channels_last``; offered on a
  CPU only with native bfloat16 (AVX-512 BF16 or AMX, :func:`native_bf16`),
  elsewhere it would be emulated and slow; on a GPU always.
- ``onnxruntime``: the network exported to ONNX with the asked layers as its
  outputs (one session per set of layers), on the CPU with torch's thread count.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from hypercolumns.data.errors import InputError

ENGINES = ("torch", "torch-nchw", "torch-bf16", "onnxruntime")
REFERENCE = "torch"
REDUCED_PRECISION = ("torch-bf16",)
"""The engines that compute in less than fp32: the ones whose masks can differ visibly from the reference's."""


def cpu_flags() -> set:
    """The CPU's feature flags from /proc/cpuinfo (empty where it is not readable)."""
    from hypercolumns.extract.cnn import cpuinfo

    return set((cpuinfo("flags") or "").split())


def native_bf16(flags: set | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def runs_here(engine: str, device) -> bool:
    """Whether ``engine`` runs on ``device`` here: the fp32 torch engines always; bf16 on a GPU or
    where the CPU has it natively; onnxruntime on the CPU when installed (imported only when asked)."""
    device = torch.device(device)
    if engine == "torch-bf16":
        return device.type == "cuda" or native_bf16()
    if engine == "onnxruntime":
        if device.type != "cpu":
            return False
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return False
    return engine in ENGINES


def available_engines(device) -> list:
    """The engines that run on ``device`` here (:func:`runs_here`)."""
    return [engine for engine in ENGINES if runs_here(engine, device)]


def check_engine(engine: str, device) -> str:
    """InputError naming the engine if it is unknown or cannot run on ``device`` here."""
    if engine not in ENGINES:
        raise InputError(f"--engine {engine!r} is unknown; expected one of {', '.join(ENGINES)} or auto")
    if not runs_here(engine, device):
        why = ("the CPU has no native bfloat16 (AVX-512 BF16 or AMX)" if engine == "torch-bf16"
               else "onnxruntime runs on the CPU only and must be installed (pip install onnxruntime)")
        raise InputError(f"--engine {engine} cannot run on {torch.device(device)} here: {why}")
    return engine


def machine_key(device) -> str:
    """What an engine measurement holds for: the device's model and the libraries' versions."""
    import hashlib
    import json

    from hypercolumns.extract.cnn import device_name

    try:
        import onnxruntime
        onnx_version = onnxruntime.__version__
    except ImportError:
        onnx_version = None
    facts = {"device": device_name(device), "type": torch.device(device).type, "torch": torch.__version__,
             "onnxruntime": onnx_version, "threads": torch.get_num_threads()}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def measurement_path(device) -> Path:
    from hypercolumns.extract.weights import cache_dir

    return cache_dir() / "engines" / f"{machine_key(device)}.json"


def remember_measurement(result: dict, device) -> Path:
    """Store ``make bench``'s engine measurement (its ``fastest_agreeing``) for ``--engine auto``."""
    from hypercolumns.data.files import write_json_atomic

    return write_json_atomic(result, measurement_path(device), indent=2)


def resolve_engine(name: str, device) -> str:
    """``name``, checked; ``auto``: the fastest engine that agreed with fp32 torch in the last
    measurement on this machine (same device model, library versions and threads)."""
    if name != "auto":
        return check_engine(name, device)
    import json

    path = measurement_path(device)
    if not path.is_file():
        raise InputError(f"--engine auto: no engine measurement for this machine in {path.parent}; run "
                         "`make bench` (its engines section: `hypercolumns bench --sections engines`) once, "
                         f"or name an engine ({', '.join(available_engines(device))})")
    return check_engine(json.loads(path.read_text())["fastest_agreeing"], device)


def memory_format(engine: str, device) -> torch.memory_format:
    """The layout a torch engine runs in."""
    if engine == "torch-nchw" or torch.device(device).type != "cpu":
        return torch.contiguous_format
    return torch.channels_last


class OnnxForward:
    """The network's forward in onnxruntime: one exported graph and session per set of layers."""

    def __init__(self, network: torch.nn.Module, crop_size: int, threads: int | None = None):
        self.network, self.crop_size = network, crop_size
        self.threads = threads or torch.get_num_threads()
        self.sessions: dict = {}

    def session(self, layers: tuple):
        if layers not in self.sessions:
            import onnxruntime

            graph = io.BytesIO()
            example = torch.zeros(1, 3, self.crop_size, self.crop_size)
            with torch.no_grad():
                torch.onnx.export(_Outputs(self.network, layers).eval(), (example,), graph,
                                  input_names=["crops"], output_names=list(layers),
                                  dynamic_axes={"crops": {0: "n"}, **{name: {0: "n"} for name in layers}},
                                  opset_version=17, dynamo=False)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            self.sessions[layers] = onnxruntime.InferenceSession(graph.getvalue(), options,
                                                                 providers=["CPUExecutionProvider"])
        return self.sessions[layers]

    def __call__(self, crops: torch.Tensor, layers) -> dict:
        layers = tuple(layers)
        outputs = self.session(layers).run(list(layers), {"crops": np.ascontiguousarray(crops.numpy(), np.float32)})
        return {name: torch.from_numpy(value) for name, value in zip(layers, outputs)}


class _Outputs(torch.nn.Module):
    """The network as a module whose outputs are the asked layers, in order (what ONNX exports)."""

    def __init__(self, network, layers: tuple):
        super().__init__()
        self.network, self.layers = network, tuple(layers)

    def forward(self, crops):
        outputs = self.network(crops, list(self.layers))
        return tuple(outputs[name] for name in self.layers)
