"""``hypercolumns bench-inference``: per box, conv-trick vs explicit hypercolumn inference.

On oracle boxes of the val images, the CNN runs once; then the same layer
outputs go through the conv trick (convolutions on the native maps, upsample,
sigmoid, Eq. 3) and through the explicit computation (every location's
upsampled hypercolumn times every cell's classifier), both in float32.  Both
are timed in this one run; the outputs are compared.

Then ``segment`` on many images (:func:`measure_many_images`): the val images' ground-truth
boxes segmented one image at a time and by ``Segmenter.segment_many`` (images read ahead,
boxes of consecutive images batched together, masks and RLE on CPU threads), each against the
bare CNN forward of the same crops: the share of the CNN's rate that ``segment`` keeps (goal on a GPU:
>= 0.8).
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


def measure_many_images(segmenter: Segmenter, records: list, batch_size: int = 16) -> dict:
    """Seconds per box of the bare forward, of one image at a time and of ``segment_many`` (the mean of two
    runs each, in turn), on the ground-truth boxes of ``records`` (each image read from its file; RLE
    encoded)."""
    from hypercolumns.pipelines.bench.bench_features import time_bare_forward

    records = [record for record in records if record.instances]
    boxes = sum(len(record.instances) for record in records)
    cnn = segmenter.cnn
    crops = torch.cat([cnn.crops(record.load_image(), cnn.expand(record.boxes())) for record in records])
    bare = time_bare_forward(cnn, crops, segmenter.grid.layers, batch_size)

    def one_at_a_time():
        for record in records:
            segmenter.segment(record.load_image(), record.boxes(), "__all__", image_key=record.image_id).rles()

    def many():
        items = ((record.image_id, record.load_image(), record.boxes(), "__all__", record.image_id)
                 for record in records)
        for _, _, result in segmenter.segment_many(items, batch_size=batch_size):
            result.rles()

    alone = streamed = 0.0
    for _ in range(2):   # in turn, so that neither one runs only on the other's warmed caches
        alone += timed(one_at_a_time, cnn.device)[1] / 2
        streamed += timed(many, cnn.device)[1] / 2
    return {"images": len(records), "boxes": boxes, "batch_size": batch_size,
            "bare_forward_ms_per_box": 1e3 * bare, "one_at_a_time_ms_per_box": 1e3 * alone / boxes,
            "segment_many_ms_per_box": 1e3 * streamed / boxes,
            "one_at_a_time_rate_vs_forward": bare * boxes / alone,
            "segment_many_rate_vs_forward": bare * boxes / streamed}


def print_many_images(result: dict) -> None:
    print(f"segment on {result['images']} images, {result['boxes']} ground-truth boxes, batch {result['batch_size']}:")
    print(f"  bare CNN forward        {result['bare_forward_ms_per_box']:8.1f} ms/box")
    print(f"  one image at a time     {result['one_at_a_time_ms_per_box']:8.1f} ms/box "
          f"({result['one_at_a_time_rate_vs_forward']:.0%} of the forward's rate)")
    print(f"  segment_many            {result['segment_many_ms_per_box']:8.1f} ms/box "
          f"({result['segment_many_rate_vs_forward']:.0%}; goal on a GPU: >= 80%)")


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
