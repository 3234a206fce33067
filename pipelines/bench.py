"""``hypercolumns bench-inference``: per box, conv-trick vs explicit hypercolumn inference.

On oracle boxes of the val images, the CNN runs once; then the same layer
outputs go through the conv trick (convolutions on the native maps, upsample,
sigmoid, Eq. 3) and through the explicit computation (every location's
upsampled hypercolumn times every cell's classifier), both in float32.  Both
are timed in this one run; the outputs are compared.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hypercolumns.pipelines.conv_trick import ConvTrickPredictor, explicit_heatmaps
from hypercolumns.pipelines.segment import Segmenter


def timed(function, repeats: int = 3):
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
    return (time.perf_counter() - start) / repeats, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hypercolumns bench-inference", description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=Path("work/models/grid-K10.h5"))
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--boxes", type=int, default=8)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from hypercolumns.data.datasets import load_val_records
    from hypercolumns.pipelines.oracle import coco_annotations, oracle_detections

    segmenter = Segmenter(args.model, device=args.device)
    records = load_val_records(args.data_root)
    record = max(records, key=lambda r: len(r.instances))
    coco = coco_annotations([record], record.path.parents[1])
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in
                      (d["bbox"] for d in oracle_detections([record], coco))])[:args.boxes]
    image = record.load_image()
    expanded = segmenter.cnn.expand(boxes)
    cnn_time, outputs = timed(lambda: segmenter.layer_outputs(image, expanded), repeats=1)
    model, cnn = segmenter.model, segmenter.cnn
    predictor = ConvTrickPredictor(model, cnn.name)
    sync = torch.cuda.synchronize if cnn.device.type == "cuda" else (lambda: None)

    def conv_trick():
        result = predictor(outputs, "__all__")
        sync()
        return result

    def explicit():
        result = explicit_heatmaps(outputs, model.spec, cnn.name, model, "__all__", dtype=torch.float32)
        sync()
        return result

    conv_time, conv_maps = timed(conv_trick)
    explicit_time, explicit_maps = timed(explicit, repeats=1)
    difference = float((conv_maps - explicit_maps).abs().max())
    n = len(boxes)
    result = {"device": str(cnn.device), "K": model.K, "layer_spec": str(model.spec), "boxes": n,
              "cnn_forward_ms_per_box": cnn_time / n * 1e3,
              "conv_trick_ms_per_box": conv_time / n * 1e3,
              "explicit_ms_per_box": explicit_time / n * 1e3,
              "explicit_over_conv_trick": explicit_time / conv_time,
              "max_abs_difference": difference}
    print(f"{n} boxes of {record.image_id}, K = {model.K}, spec {model.spec}, {cnn.device}")
    print(f"CNN forward (for reference)  {result['cnn_forward_ms_per_box']:8.1f} ms/box")
    print(f"conv trick                   {result['conv_trick_ms_per_box']:8.1f} ms/box")
    print(f"explicit hypercolumns        {result['explicit_ms_per_box']:8.1f} ms/box")
    print(f"explicit / conv trick = {result['explicit_over_conv_trick']:.1f}x; "
          f"max |difference| of the heatmaps = {difference:.2e}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "bench-inference.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return 0
