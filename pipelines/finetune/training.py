"""``hypercolumns finetune``: train CNN and grid together through Eq. 3 (the paper's Hyp+FT).

Starts from the ImageNet weights and a liblinear grid (``train-grid``) and
minimises :func:`pipelines.loss.interpolated_logistic_loss` over the
training boxes of stage one (same boxes, same crops) with SGD and momentum:
a small learning rate for the CNN and a larger one for the heads.  To keep a
CPU run within minutes the layers below ``--train-from`` stay frozen and the
run has a fixed iteration budget.

Batches are drawn from a generator seeded by ``(seed, iteration)``, and a
checkpoint (model, optimiser, iteration, loss history) is written atomically
every ``--checkpoint-every`` iterations, so a killed run resumes from its last
checkpoint and ends with the same weights as an uninterrupted one.  The
result is a weights file (with its sha256) and a grid file of the usual
schema, so ``segment`` and ``eval-sds`` use it unchanged, plus a loss curve.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from hypercolumns.classifiers.model_file import load_grid, save_grid
from hypercolumns.data.files import atomic_file
from hypercolumns.extract.box_sampling import image_rng
from hypercolumns.extract.cnn import FrozenCNN, load_cnn
from hypercolumns.extract.features import ImageCache, plan_boxes
from hypercolumns.extract.targets import figure_ground_target
from hypercolumns.extract.weights import Weights, save_weights, state_dict_sha256
from hypercolumns.pipelines.finetune.loss import area_weights, interpolated_logistic_loss
from hypercolumns.pipelines.finetune.network import HypercolumnNet


@dataclass
class FinetuneOptions:
    iterations: int = 60
    batch_size: int = 8
    # the loss sums over 2,500 locations per box: at lr_heads 1e-3 / lr_cnn 1e-5 the batch
    # loss rose from ~330 to ~1000 within 47 iterations here; 1e-5 / 1e-7 stays stable
    lr_cnn: float = 1e-7
    lr_heads: float = 1e-5
    momentum: float = 0.9
    weight_decay: float = 1e-3
    train_from: str = "conv4_1"
    checkpoint_every: int = 10
    seed: int = 0


def trainable_network(network, train_from: str):
    """Make the layers from ``train_from`` on trainable; earlier ones stay frozen."""
    start = network.taps[train_from][1] - 1 if train_from.startswith("conv") else network.taps[train_from][1]
    for index, module in enumerate(network.features):
        module.requires_grad_(index >= start)
    network.train()
    return network


def build_optimizer(net: HypercolumnNet, options: FinetuneOptions) -> torch.optim.Optimizer:
    cnn_params = [p for p in net.cnn.parameters() if p.requires_grad]
    head_params = list(net.heads.parameters()) + [net.bias]
    return torch.optim.SGD([{"params": cnn_params, "lr": options.lr_cnn},
                            {"params": head_params, "lr": options.lr_heads}],
                           momentum=options.momentum, weight_decay=options.weight_decay)


def make_batch(iteration: int, jobs: list, records: list, images: ImageCache, cnn: FrozenCNN,
               options: FinetuneOptions):
    """Crops, full 50x50 targets and per-box weights of one iteration's boxes (deterministic)."""
    rng = image_rng(options.seed, f"finetune:{iteration}")
    picks = rng.choice(len(jobs), options.batch_size, replace=False)
    crops, targets, boxes = [], [], []
    for pick in picks:
        job = jobs[pick]
        record = records[job.record]
        expanded = cnn.expand(job.box[None])
        crops.append(cnn.crops(images.get(job.record), expanded))
        targets.append(figure_ground_target(record.instances[job.instance].mask, expanded[0], record.void))
        boxes.append(job.box)
    return (torch.cat(crops), torch.from_numpy(np.stack(targets)).long(),
            area_weights(torch.as_tensor(np.stack(boxes), dtype=torch.float32)))


def checkpoint_path(out: Path) -> Path:
    return Path(out) / "checkpoint.pt"


def save_checkpoint(out: Path, net, optimizer, iteration: int, losses: list) -> None:
    path = checkpoint_path(out)
    with atomic_file(path) as tmp:
        torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                    "iteration": iteration, "losses": losses}, tmp)


def finetune(net: HypercolumnNet, cnn: FrozenCNN, jobs: list, records: list, out: Path,
             options: FinetuneOptions, stop_after: int | None = None, log=print) -> list:
    """Run (or resume) fine-tuning; returns the loss of every iteration.

    ``stop_after`` ends the run early after that many iterations of this call
    (tests use it to simulate a crash between checkpoints).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    optimizer = build_optimizer(net, options)
    start, losses = 0, []
    if checkpoint_path(out).is_file():
        state = torch.load(checkpoint_path(out), map_location=cnn.device, weights_only=False)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, losses = state["iteration"], state["losses"]
        log(f"resuming from {checkpoint_path(out)} at iteration {start}")
    images = ImageCache(records, keep=16)
    done = 0
    for iteration in range(start, options.iterations):
        crops, targets, weights = make_batch(iteration, jobs, records, images, cnn, options)
        crops, targets, weights = crops.to(cnn.device), targets.to(cnn.device), weights.to(cnn.device)
        loss = interpolated_logistic_loss(net.scores(crops), targets, net.K, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (iteration + 1) % options.checkpoint_every == 0 or iteration + 1 == options.iterations:
            save_checkpoint(out, net, optimizer, iteration + 1, losses)
        log(f"iteration {iteration + 1}/{options.iterations}: loss {losses[-1]:.1f}")
        done += 1
        if stop_after is not None and done >= stop_after:
            break
    return losses


def export(net: HypercolumnNet, cnn: FrozenCNN, model, out: Path, options: FinetuneOptions,
           losses: list) -> tuple[Path, Path]:
    """Write the fine-tuned weights (with sha256) and the grid file that names them."""
    state = {k: v.detach().cpu() for k, v in net.cnn.state_dict().items()}
    weights = Weights(cnn.weights.network, state, cnn.weights.input, state_dict_sha256(state),
                      f"fine-tuned from {cnn.weights.sha256[:16]} ({options.iterations} iterations)")
    out = Path(out)
    weights_path = save_weights(weights, "finetuned-cnn", out)
    config = replace(model.feature_config, weights_sha256=weights.sha256)  # the shards' hash kept
    grid = net.to_grid_model(config, {"finetune": asdict(options), "losses": losses,
                                      "weights_file": str(weights_path.relative_to(out))})
    return weights_path, save_grid(grid, Path(out) / f"grid-K{net.K}-ft.h5")


def plot_losses(losses: list, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot(np.arange(1, len(losses) + 1), losses, lw=1, label="batch loss")
    if len(losses) >= 5:
        smooth = np.convolve(losses, np.ones(5) / 5, mode="valid")
        axes.plot(np.arange(5, len(losses) + 1), smooth, lw=2, label="mean of 5")
    axes.set_xlabel("iteration")
    axes.set_ylabel("loss per box (sum over locations)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def run_finetune(data_root: Path, model: Path, out: Path, options: FinetuneOptions | None = None,
                 device=None, exclude_images=()) -> tuple[Path, Path]:
    """Fine-tune from the grid file ``model`` on the training boxes of ``data_root``, into ``out``.

    ``options`` default to :class:`FinetuneOptions`'s; ``exclude_images``: image ids
    whose boxes are not trained on (a cross-validation fold's).  Writes the weights, the
    grid that names them, the loss curve and the checkpoint; prints them and
    returns the weights' and the grid's paths.
    """
    from hypercolumns.data.datasets import load_training_records

    out, options = Path(out), options or FinetuneOptions()
    grid = load_grid(model)
    cnn = load_cnn(grid.feature_config, device=device).per_box  # crops, whatever the grid's source
    torch.manual_seed(options.seed)
    network = trainable_network(cnn.network.to(memory_format=torch.contiguous_format), options.train_from)
    net = HypercolumnNet(network, grid).to(cnn.device)
    records = load_training_records(data_root)
    excluded = {str(i) for i in exclude_images}
    jobs = [job for job in plan_boxes(records, grid.feature_config) if str(records[job.record].image_id) not in excluded]
    start = time.perf_counter()
    losses = finetune(net, cnn, jobs, records, out, options)
    seconds = time.perf_counter() - start
    weights_path, grid_path = export(net, cnn, grid, out, options, losses)
    curve = plot_losses(losses, out / "loss.png")
    print(f"fine-tuned {options.iterations} iterations of {options.batch_size} boxes on {cnn.device} "
          f"in {seconds:.0f} s; loss {np.mean(losses[:5]):.1f} -> {np.mean(losses[-5:]):.1f} "
          "(first / last 5 iterations)")
    print(f"wrote {weights_path}, {grid_path}, {curve}, {checkpoint_path(out)}")
    return weights_path, grid_path
