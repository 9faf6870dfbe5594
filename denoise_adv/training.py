"""The training recipe behind ``denoise-adv train``: DnCNN's by default, every part configurable.

Adam (lr 1e-3), MultiStepLR (x0.1 at epoch 30), batch 128 of 40x40 patches (stride 10, scales
1/0.9/0.8/0.7, 8 orientations), sigma 25/255, for 50 epochs, with any strategy of
:data:`denoise_adv.train.STRATEGIES`.

Exact resume: patches, orientations and noise of item ``i`` in epoch ``e`` come from
``(seed, e, i)``, the shuffling of epoch ``e`` from ``(seed, e)``, the attack's random start of
step ``s`` from ``(seed, s)``; a checkpoint stores the weights, optimizer, scheduler, epoch,
position in the epoch and the log, so ``resume=True`` continues as if never stopped (a run killed
with SIGKILL loses only the steps since its last checkpoint).

Scale-out: under ``torchrun --nproc_per_node N`` (gloo on the CPU, nccl on CUDA) the same code
uses DistributedDataParallel and a DistributedSampler; the batch size is the global one, split
evenly; rank 0 alone writes files.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from . import seeding
from ._io import atomic_open, atomic_torch_save
from .data import PatchDataset, iter_images
from .metrics import psnr
from .models import as_denoiser, build, save_checkpoint
from .report import write_csv
from .train import STRATEGIES, strategy_noise

__all__ = ["TrainConfig", "train"]

CHECKPOINT = "checkpoint.pt"
FINAL = "model.pt"
#: Options that may change between a run and its resumption (they do not steer the trajectory).
_RESUME_FREE = ("out", "max_steps", "progress", "workers", "checkpoint_every", "init")


@dataclass
class TrainConfig:
    """Everything a training run depends on (all levels in [0, 1] units).

    Attributes mirror ``denoise-adv train`` options; see ``denoise-adv train --help``.
    """

    out: str = "runs/train"
    model: str = "dncnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    init: str | None = None
    channels: int = 1
    strategy: str = "normal"
    sigma: float = 25 / 255
    data: str = "builtin:train"
    val_data: str | None = "builtin:test"
    val_crop: int | None = 128
    patch_size: int = 40
    stride: int = 10
    scales: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7)
    batch_size: int = 128
    epochs: int = 50
    max_steps: int | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    milestones: tuple[int, ...] = (30,)
    gamma: float = 0.1
    ts_iterations: float = 10
    ts_method: str = "exact"
    blind_range: tuple[float, float] = (0.0, 55 / 255)
    adv_norm: str = "linf"
    adv_eps: float = 2 / 255
    adv_alpha: float = 0.5 / 255
    adv_steps: int = 3
    seed: int = 0
    checkpoint_every: int = 0
    workers: int = 0
    device: str = "auto"
    amp: str | None = None
    channels_last: bool = False
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Raise :class:`ValueError` naming the first bad field."""
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        for name in ("batch_size", "epochs", "patch_size", "stride", "adv_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.sigma < 0 or self.lr <= 0:
            raise ValueError("sigma must be >= 0 and lr > 0")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.amp not in (None, "bf16"):
            raise ValueError(f"amp must be None or 'bf16', got {self.amp!r}")
        if self.adv_norm not in ("linf", "l2"):
            raise ValueError(f"adv_norm must be 'linf' or 'l2', got {self.adv_norm!r}")
        if self.checkpoint_every < 0:
            raise ValueError("checkpoint_every must be >= 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown training option(s): {sorted(unknown)}")
        tuples = {"scales", "milestones", "blind_range"}
        return cls(**{k: tuple(v) if k in tuples and v is not None else v
                      for k, v in values.items()})


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    return torch.device(name)


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _validation_set(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not config.val_data:
        return None
    images = []
    for _, image in iter_images(config.val_data, config.channels):
        if config.val_crop:
            c = config.val_crop
            top, left = max(0, (image.shape[1] - c) // 2), max(0, (image.shape[2] - c) // 2)
            image = image[:, top:top + c, left:left + c]
        images.append(image)
    sizes = {tuple(i.shape) for i in images}
    if len(sizes) != 1:
        raise ValueError("validation images must share one size; set val_crop")
    clean = torch.stack(images)
    noise = torch.randn(clean.shape, generator=seeding.generator(config.seed, "validation"))
    return clean + config.sigma * noise, clean


def _load_init(model: nn.Module, path: str) -> None:
    """Start from the weights of the model checkpoint ``path`` (same architecture)."""
    from .models import load_checkpoint

    source, _ = load_checkpoint(path)
    try:
        model.load_state_dict(source.state_dict())
    except RuntimeError as exc:
        raise ValueError(f"init checkpoint {path} does not fit the configured model: "
                         f"{str(exc).splitlines()[0]}") from None


def _attack(model: nn.Module, config: TrainConfig, step: int):
    from .attacks import AttackSpec

    spec = AttackSpec(config.adv_norm, config.adv_eps, config.adv_alpha, config.adv_steps)
    return spec.build(model, seeding.generator(config.seed, "train-attack", step))


def train(config: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train a denoiser as ``config`` says; returns the summary written to ``log.json``.

    Writes to ``config.out``: ``checkpoint.pt`` (everything needed to resume), ``model.pt`` (the
    final model, a :func:`denoise_adv.models.save_checkpoint` file), ``log.csv`` (loss and
    learning rate per step) and ``log.json`` (config, validation PSNR per epoch).
    """
    config.validate()
    world, rank, local_rank = _distributed()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = _device(config.device, local_rank)
    if config.batch_size % world:
        raise ValueError(f"batch_size ({config.batch_size}) must be divisible by the number of "
                         f"processes ({world})")
    out = Path(config.out)
    main_process = rank == 0

    torch.manual_seed(config.seed)  # weight initialisation: the same on every rank
    model = build(config.model, channels=config.channels, **config.model_kwargs).to(device)
    if config.init and not resume:
        _load_init(model, config.init)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones),
                                                     config.gamma)

    epoch, position, global_step, steps_log, epochs_log = 0, 0, 0, [], []
    if resume:
        path = out / CHECKPOINT
        if not path.is_file():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {path}")
        state = torch.load(path, map_location=device, weights_only=True)
        saved = TrainConfig.from_dict(state["config"]).to_dict()
        wanted = config.to_dict()
        differ = sorted(k for k in wanted if k not in _RESUME_FREE and saved[k] != wanted[k])
        if differ:
            raise ValueError(f"cannot resume {path}: {', '.join(differ)} differ from the run "
                             "it was saved by")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, position, global_step = state["epoch"], state["position"], state["global_step"]
        steps_log, epochs_log = state["steps_log"], state["epochs_log"]

    denoiser = as_denoiser(model, config.sigma)
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            denoiser, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        net = denoiser
    train_images = [img for _, img in iter_images(config.data, config.channels)]
    dataset = PatchDataset(train_images, config.patch_size, config.stride, config.scales,
                           noise=strategy_noise(config.strategy, config.sigma,
                                                config.ts_iterations, config.ts_method,
                                                config.blind_range),
                           seed=config.seed)
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank,
                                                  shuffle=True, seed=config.seed)
    local_batch = config.batch_size // world
    validation = _validation_set(config) if main_process else None
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp == "bf16")

    def save_state() -> None:
        if not main_process:
            return
        atomic_torch_save({
            "config": config.to_dict(), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": epoch, "position": position, "global_step": global_step,
            "steps_log": steps_log, "epochs_log": epochs_log}, out / CHECKPOINT)
        if steps_log:
            write_csv(steps_log, out / "log.csv")

    done = config.max_steps is not None and global_step >= config.max_steps
    batches_per_epoch = -(-len(sampler) // local_batch)
    bar = tqdm(total=config.max_steps or config.epochs * batches_per_epoch,
               initial=global_step, desc="train", disable=not (config.progress and main_process))
    while epoch < config.epochs and not done:
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        order = list(sampler)[position * local_batch:]
        loader = torch.utils.data.DataLoader(dataset, batch_size=local_batch, sampler=order,
                                             num_workers=config.workers)
        model.train()
        for noisy, clean in loader:
            noisy, clean = noisy.to(device), clean.to(device)
            if config.channels_last:
                noisy = noisy.contiguous(memory_format=torch.channels_last)
            if config.strategy == "adversarial":
                noisy = _attack(denoiser, config, global_step)(noisy, clean)
            with autocast:
                loss = nn.functional.mse_loss(net(noisy).float(), clean)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            position += 1
            global_step += 1
            steps_log.append({"step": global_step, "epoch": epoch, "loss": loss.item(),
                              "lr": optimizer.param_groups[0]["lr"]})
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.5f}")
            if config.checkpoint_every and global_step % config.checkpoint_every == 0:
                save_state()
            if config.max_steps is not None and global_step >= config.max_steps:
                done = True
                break
        if position >= batches_per_epoch:  # the epoch ran to its end
            summary = {"epoch": epoch, "steps": global_step, "lr": optimizer.param_groups[0]["lr"]}
            if validation is not None:
                summary["val_psnr"] = _validate(denoiser, validation, device)
            epochs_log.append(summary)
            scheduler.step()
            epoch, position = epoch + 1, 0
            if main_process and config.progress and "val_psnr" in summary:
                bar.write(f"epoch {summary['epoch']}: validation PSNR {summary['val_psnr']:.3f} dB")
        save_state()
    bar.close()

    result = {"config": config.to_dict(), "world_size": world, "epochs": epochs_log,
              "steps": global_step,
              "final_loss": steps_log[-1]["loss"] if steps_log else None}
    if main_process:
        meta = {"strategy": config.strategy, "sigma": config.sigma, "steps": global_step,
                "seed": config.seed, "data": config.data,
                "val_psnr": epochs_log[-1].get("val_psnr") if epochs_log else None,
                "config": json.dumps(config.to_dict())}
        save_checkpoint(model, out / FINAL, meta)
        with atomic_open(out / "log.json", "w") as f:
            json.dump(result, f, indent=2)
    if world > 1:
        dist.barrier()
    return result


@torch.no_grad()
def _validate(model: nn.Module, validation: tuple[torch.Tensor, torch.Tensor],
              device: torch.device) -> float:
    was_training = model.training
    model.eval()
    noisy, clean = validation
    scores = [psnr(model(n[None].to(device)).float().clamp(0, 1), c[None].to(device)).item()
              for n, c in zip(noisy, clean)]
    model.train(was_training)
    return float(sum(scores) / len(scores))
