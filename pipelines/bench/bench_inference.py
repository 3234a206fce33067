"""``hypercolumns bench-inference``: per box, conv-trick vs explicit hypercolumn inference.

On oracle boxes of the val images, the CNN runs once; then the same layer
outputs go through the conv trick (convolutions on the native maps, upsample,
sigmoid, Eq. 3) and through the explicit computation (every location's
upsampled hypercolumn times every cell's classifier), both in float32.  Both
are timed in this one run; the outputs are compared.
"""
from __future__ import annotations

from pathlib import Path

import torch

from hypercolumns.data.boxes import xywh_to_xyxy
from hypercolumns.pipelines.bench.report import timed, write_bench_json
from hypercolumns.pipelines.inference.conv_trick import ConvTrickPredictor, explicit_heatmaps
from hypercolumns.pipelines.inference.segment import Segmenter


def measure_inference(segmenter: Segmenter, records: list, boxes: int = 8) -> dict:
    """CNN forward, conv trick and explicit inference, ms per box, on one val image's oracle boxes."""
    from hypercolumns.pipelines.experiments.oracle import coco_annotations, oracle_detections

    record = max(records, key=lambda r: len(r.instances))
    coco = coco_annotations([record], record.path.parents[1])
    box_array = xywh_to_xyxy([d["bbox"] for d in oracle_detections(coco)])[:boxes]
    image = record.load_image()
    expanded = segmenter.cnn.expand(box_array)
    model, cnn = segmenter.model, segmenter.cnn
    outputs, cnn_time = timed(lambda: cnn.box_outputs(image, expanded, segmenter.grid.layers), cnn.device,
                               warm_up=True)
    predictor = ConvTrickPredictor(model, cnn.name)
    conv_maps, conv_time = timed(lambda: predictor(outputs, "__all__"), cnn.device, repeats=3, warm_up=True)
    explicit_maps, explicit_time = timed(
        lambda: explicit_heatmaps(outputs, model.spec, cnn.name, model, "__all__", dtype=torch.float32),
        cnn.device, warm_up=True)
    n = len(box_array)
    return {"device": str(cnn.device), "image": str(record.image_id), "K": model.K,
            "layer_spec": str(model.spec), "boxes": n,
            "cnn_forward_ms_per_box": cnn_time / n * 1e3,
            "conv_trick_ms_per_box": conv_time / n * 1e3,
            "explicit_ms_per_box": explicit_time / n * 1e3,
            "explicit_over_conv_trick": explicit_time / conv_time,
            "conv_trick_over_cnn_forward": conv_time / cnn_time,
            "max_abs_difference": float((conv_maps - explicit_maps).abs().max())}


def print_inference(result: dict) -> None:
    print(f"{result['boxes']} boxes of {result['image']}, K = {result['K']}, "
          f"spec {result['layer_spec']}, {result['device']}")
    print(f"CNN forward (for reference)  {result['cnn_forward_ms_per_box']:8.1f} ms/box")
    print(f"conv trick                   {result['conv_trick_ms_per_box']:8.1f} ms/box")
    print(f"explicit hypercolumns        {result['explicit_ms_per_box']:8.1f} ms/box")
    print(f"explicit / conv trick = {result['explicit_over_conv_trick']:.1f}x; conv trick / CNN "
          f"forward = {result['conv_trick_over_cnn_forward']:.3f}; max |difference| of the "
          f"heatmaps = {result['max_abs_difference']:.2e}")


def bench_inference(data_root: Path, model: Path, out: Path, boxes: int = 8, device=None) -> list:
    """:func:`measure_inference` on the val records, printed and written to ``out``."""
    from hypercolumns.data.datasets import load_val_records

    segmenter = Segmenter(model, device=device)
    result = measure_inference(segmenter, load_val_records(data_root), boxes)
    print_inference(result)
    return write_bench_json(result, out, "bench-inference")
