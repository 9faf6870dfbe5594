"""The one training loop: a :class:`Trainer` whose steps can be overridden (after deepinv's).

DnCNN's recipe by default: Adam (lr 1e-3), MultiStepLR (x0.1 at epoch 30), batch 128 of 40x40
patches (stride 10, scales 1/0.9/0.8/0.7, 8 orientations), sigma 25/255, 50 epochs, with the
noise of any strategy of :data:`~denoise_adv.training.STRATEGIES`.

Exact resume: the patch, orientation and noise of item ``i`` in epoch ``e`` come from the
``"patch"`` stream ``(seed, e, i)`` (:mod:`denoise_adv.seeding`), the shuffling of epoch ``e``
from the sampler's ``(seed, e)``, adversarial training's random start of step ``s`` from the
``"train-attack"`` stream; a checkpoint stores weights, optimizer, scheduler, epoch, position in
the epoch and the log, so a resumed run continues as if never stopped (a run killed with SIGKILL
loses only the steps since its last checkpoint). A non-finite loss stops the run with a
:class:`FloatingPointError` and leaves the last good checkpoint in place.

One writer per folder: :meth:`Trainer.run` holds ``OUT``'s lock (:mod:`denoise_adv._lock`) from
the check of ``OUT`` to the last file, so a second run into the same folder (``--resume`` and
``--overwrite`` included) is refused with :class:`~denoise_adv._lock.OutputInUseError` while
the first is alive, and stale temporaries are deleted only while the lock is held.

Fine-tuning: ``init`` starts from any model spec (:mod:`.finetune`); the architecture comes
from it. ``freeze_batchnorm`` keeps BatchNorm layers in eval mode throughout (their running
statistics do not move).

Non-blind models (``takes_sigma``: FFDNet, DRUNet) get the noise level as their map in every
forward of training, the adversarial strategy's in-loop attack included: for a blind range, the
level each sample's noise was drawn at (:class:`~denoise_adv.data.PatchDataset`'s ``levels``);
for fixed levels, the nominal ``sigma`` -- also for TS and mixed noise, whose departures from
the nominal level are what those strategies train the model to absorb (its map at test time
is the nominal level too). Validation denoises at ``sigma``.

Scale-out: under ``torchrun --nproc_per_node N`` (gloo on the CPU, nccl on CUDA) the same code
uses DistributedDataParallel and a DistributedSampler; the batch size is the global one, split
evenly; rank 0 alone writes files.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from .. import seeding
from .._amp import autocast
from .._io import (
    atomic_torch_save,
    load_weights,
    remove_stale_temporaries,
    resolve_device,
    writable_folder,
    write_json,
)
from .._lock import OutputLock
from ..data import PatchDataset, center_crop, iter_images
from ..metrics import psnr
from ..models import as_denoiser, build, save_checkpoint, takes_sigma
from ..noise import gaussian_noise
from ..report import write_csv
from .config import TrainConfig
from .finetune import resolve_init
from .strategies import strategy_noise

__all__ = ["CHECKPOINT", "FINAL", "TrainState", "Trainer", "train"]

CHECKPOINT = "checkpoint.pt"
FINAL = "model.pt"
_OUTPUTS = (CHECKPOINT, FINAL, "log.csv", "log.json")


@dataclass
class TrainState:
    """Where a run stands: what a checkpoint stores besides weights and optimizer."""

    epoch: int = 0
    position: int = 0  # batches done in the current epoch
    global_step: int = 0
    steps_log: list[dict[str, Any]] = field(default_factory=list)
    epochs_log: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  # wall-clock training time, summed over resumptions


class Trainer:
    """Train a denoiser as ``config`` says. Override a step to change one part.

    Steps, in order: :meth:`setup` (:meth:`build_model`, :meth:`build_optimizer`,
    :meth:`build_dataset`, :meth:`build_validation`, resume); then per batch
    :meth:`get_batch`, :meth:`compute_loss`, :meth:`step`; per epoch :meth:`validate`;
    :meth:`save_checkpoint` as configured; :meth:`finish` writes the final files.

    Args:
        config: the run's :class:`TrainConfig`. With ``config.out = None`` nothing is written.
        train_images: clean (C, H, W) images to train on instead of ``config.data``.
        val_images: clean validation images instead of ``config.val_data``.
        resume: continue from ``OUT/checkpoint.pt``.
        overwrite: start over even if ``OUT`` holds a run (else that raises).

    Example:
        >>> images = [torch.rand(1, 48, 48)]
        >>> config = TrainConfig(model_kwargs={"depth": 3, "features": 4}, batch_size=4,
        ...                      max_steps=2, progress=False)
        >>> trainer = Trainer(config, train_images=images, val_images=[])
        >>> trainer.run()["steps"]
        2
    """

    def __init__(self, config: TrainConfig, train_images: Sequence[torch.Tensor] | None = None,
                 val_images: Sequence[torch.Tensor] | None = None, resume: bool = False,
                 overwrite: bool = False) -> None:
        self.config, self._source = resolve_init(config)
        self.config.validate()
        self.train_images = None if train_images is None else list(train_images)
        self.val_images = None if val_images is None else list(val_images)
        self.resume, self.overwrite = bool(resume), bool(overwrite)
        self.out = None if config.out is None else Path(config.out)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.main_process = self.rank == 0
        self.state = TrainState()

    # ------------------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Build everything the loop needs; resume or refuse to overwrite a run."""
        config = self.config
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self._owns_group = True  # and leaves it (run); a caller's own group stays
        if config.batch_size % self.world:
            raise ValueError(f"batch_size ({config.batch_size}) must be divisible by the number "
                             f"of processes ({self.world})")
        self.device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
        self._check_out()
        self.model = self.build_model()
        self.optimizer, self.scheduler = self.build_optimizer()
        if self.resume:
            self.load_checkpoint()
        self.takes_sigma = takes_sigma(self.model)
        self.denoiser = as_denoiser(self.model, config.sigma)  # validation: at config.sigma
        net = self.model if self.takes_sigma else self.denoiser  # called with the batch's map
        self.net = net if self.world == 1 else nn.parallel.DistributedDataParallel(
            net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.dataset = self.build_dataset()
        self.sampler = torch.utils.data.DistributedSampler(
            self.dataset, num_replicas=self.world, rank=self.rank, shuffle=True, seed=config.seed)
        self.validation = self.build_validation() if self.main_process else None
        self.autocast = autocast(config.amp, self.device)

    def _check_out(self) -> None:
        if self.out is None:
            if self.resume:
                raise ValueError("resume needs an output folder (out)")
            return
        writable_folder(self.out, "out", create=False)  # before any work, not at the first save
        # One writer per folder, for the whole run (released by run()); temporaries are
        # deleted only once the lock is held: then no live process owns them.
        self._lock = OutputLock(self.out).acquire_on_main(self.main_process)
        if self.main_process:
            remove_stale_temporaries(self.out, _OUTPUTS)
        started = any((self.out / name).exists() for name in (CHECKPOINT, FINAL))
        if started and not (self.resume or self.overwrite):
            raise ValueError(f"{self.out} already holds a training run: resume it (--resume) or "
                             "start over (--overwrite)")

    def build_model(self) -> nn.Module:
        """The model: built from the registry, seeded, with ``config.init``'s weights (whose
        architecture the config already holds, see :func:`.finetune.resolve_init`)."""
        config = self.config
        torch.manual_seed(config.seed)  # weight initialisation: the same on every rank
        model = build(config.model, channels=config.channels, **config.model_kwargs)
        if self._source is not None and not self.resume:  # (resuming: the checkpoint's)
            model.load_state_dict(self._source.state_dict())
        model = model.to(self.device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def build_optimizer(self) -> tuple[torch.optim.Optimizer, Any]:
        """Adam or SGD, with the MultiStepLR schedule (stepped per epoch)."""
        config = self.config
        kind = torch.optim.Adam if config.optimizer == "adam" else torch.optim.SGD
        optimizer = kind(self.model.parameters(), lr=config.lr)
        milestones = [int(m) for m in config.milestones]
        return optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones,
                                                               config.gamma)

    def build_dataset(self) -> PatchDataset:
        """DnCNN-style patches of the training images with the strategy's noise."""
        config = self.config
        images = self.train_images if self.train_images is not None else [
            image for _, image in iter_images(config.data, config.channels,
                                              max_pixels=config.max_pixels)]
        sigma = tuple(config.blind_range) if config.blind else config.sigma
        noise = strategy_noise(config.strategy, sigma, config.ts_iterations,
                               config.ts_method, config.blind_range)
        # a non-blind model's map needs the level drawn for each sample of a blind range
        levels = self.takes_sigma and isinstance(getattr(noise, "sigma", None), tuple)
        return PatchDataset(images, config.patch_size, config.stride, config.scales,
                            noise=noise, seed=config.seed, levels=levels)

    def build_validation(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Noisy/clean validation images (noise from the ``"validation"`` stream), or None."""
        config = self.config
        if self.val_images is not None:
            images = self.val_images
        elif config.val_data:
            images = [image for _, image in iter_images(config.val_data, config.channels,
                                                        max_pixels=config.max_pixels)]
        else:
            return None
        if not images:
            return None
        if config.val_crop:
            images = [center_crop(image, config.val_crop) for image in images]
        if len({tuple(i.shape) for i in images}) != 1:
            raise ValueError("validation images must share one size; set val_crop")
        clean = torch.stack(images)
        stream = seeding.generator(config.seed, "validation")  # the noise owner's sampler
        return clean + gaussian_noise(clean.shape, config.sigma, stream), clean

    # ------------------------------------------------------------------------ the loop
    def get_batch(self, noisy: torch.Tensor, clean: torch.Tensor,
                  levels: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, float | torch.Tensor | None]:
        """Move a batch to the device and give it its noise map (:meth:`noise_map`); the
        adversarial strategy attacks the noisy batch (through the same map).

        Returns:
            ``(noisy, clean, sigma)``, ``sigma`` as :meth:`noise_map` gives it.
        """
        noisy, clean = noisy.to(self.device), clean.to(self.device)
        sigma = self.noise_map(levels)
        if self.config.channels_last:
            noisy = noisy.contiguous(memory_format=torch.channels_last)
        if self.config.strategy == "adversarial":
            noisy = self._attack(sigma)(noisy, clean)
        return noisy, clean, sigma

    def noise_map(self, levels: torch.Tensor | None = None) -> float | torch.Tensor | None:
        """The level a non-blind model is told: ``levels`` (the (B,) levels each sample's
        noise was drawn at, for a blind range) on the device as (B, 1, 1, 1), else the nominal
        ``config.sigma``; ``None`` for fixed-level models."""
        if not self.takes_sigma:
            return None
        if levels is None:
            return self.config.sigma
        return levels.to(self.device, torch.float32).view(-1, 1, 1, 1)

    def _attack(self, sigma: float | torch.Tensor | None = None):
        """The in-loop attack of step ``global_step``, on the model told ``sigma``."""
        from ..attacks import AttackSpec

        c = self.config
        target = self.denoiser if sigma is None else as_denoiser(self.model, sigma)
        spec = AttackSpec(c.adv_norm, c.adv_eps, c.adv_alpha, c.adv_steps)
        return spec.build(target, seeding.generator(c.seed, "train-attack",
                                                    self.state.global_step))

    def compute_loss(self, noisy: torch.Tensor, clean: torch.Tensor,
                     sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """Mean squared error of the clean estimate (fp32 reduction under autocast); a
        non-blind model is told ``sigma`` (``None``: :meth:`noise_map`'s nominal level)."""
        if self.takes_sigma and sigma is None:
            sigma = self.noise_map()
        with self.autocast:
            output = self.net(noisy) if sigma is None else self.net(noisy, sigma)
        return nn.functional.mse_loss(output.float(), clean)

    def train_mode(self, training: bool = True) -> None:
        """Set the model's mode; with ``freeze_batchnorm`` its BatchNorm layers stay in eval
        mode (normalising with, and never updating, their running statistics)."""
        self.model.train(training)
        if training and self.config.freeze_batchnorm:
            for module in self.model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def step(self, loss: torch.Tensor) -> None:
        """One optimizer step; a non-finite loss stops the run before the weights change."""
        value = loss.item()
        if not torch.isfinite(loss):
            where = f"; the last good checkpoint is {self.out / CHECKPOINT}" if (
                self.out and (self.out / CHECKPOINT).exists()) else ""
            raise FloatingPointError(f"training diverged at step {self.state.global_step + 1}: "
                                     f"loss is {value}{where}; lower the learning rate")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.state.position += 1
        self.state.global_step += 1
        self.state.steps_log.append({"step": self.state.global_step, "epoch": self.state.epoch,
                                     "loss": value, "lr": self.optimizer.param_groups[0]["lr"]})

    @torch.no_grad()
    def validate(self) -> float | None:
        """Mean validation PSNR of the clamped output, or None without validation images."""
        if self.validation is None:
            return None
        was_training = self.model.training
        self.train_mode(False)
        scores = [psnr(self.denoiser(n[None].to(self.device)).float().clamp(0, 1),
                       c[None].to(self.device)).item() for n, c in zip(*self.validation)]
        self.train_mode(was_training)
        return float(sum(scores) / len(scores))

    def _run_epoch(self, bar: tqdm) -> bool:
        """Train from the current position to the end of the epoch; True when max_steps hit."""
        config, state = self.config, self.state
        local_batch = config.batch_size // self.world
        self.dataset.set_epoch(state.epoch)
        self.sampler.set_epoch(state.epoch)
        order = list(self.sampler)[state.position * local_batch:]
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=local_batch, sampler=order,
                                             num_workers=config.workers)
        self.train_mode()
        for batch in loader:  # (noisy, clean) or, with per-sample levels, (noisy, clean, level)
            self.step(self.compute_loss(*self.get_batch(*batch)))
            bar.update(1)
            bar.set_postfix(loss=f"{state.steps_log[-1]['loss']:.5f}")
            if config.checkpoint_every and state.global_step % config.checkpoint_every == 0:
                self.save_checkpoint()
            if config.max_steps is not None and state.global_step >= config.max_steps:
                return True
        return False

    def _end_epoch(self, bar: tqdm) -> None:
        state = self.state
        summary: dict[str, Any] = {"epoch": state.epoch, "steps": state.global_step,
                                   "lr": self.optimizer.param_groups[0]["lr"]}
        val = self.validate()
        if val is not None:
            summary["val_psnr"] = val
            if self.config.progress and self.main_process:
                bar.write(f"epoch {state.epoch}: validation PSNR {val:.3f} dB")
        state.epochs_log.append(summary)
        self.scheduler.step()
        state.epoch, state.position = state.epoch + 1, 0

    def _seconds(self) -> float:
        return self.state.seconds + time.monotonic() - self._started

    def run(self) -> dict[str, Any]:
        """Set up, train to the end (or ``max_steps``), write the final files; returns the
        summary written to ``log.json``."""
        self._started = time.monotonic()
        try:
            result = self._run()
        finally:
            self.release()
        self._leave_group()
        return result

    def _leave_group(self) -> None:
        """Destroy the process group this trainer joined, once every process has passed
        :meth:`finish`'s barrier. Left to interpreter exit, gloo's worker threads are torn
        down during finalization, racing the other process's exit: under load that aborted
        (SIGABRT, "terminate called without an active exception"). Only after success: a
        failed rank may leave others inside a collective, where destroying can deadlock."""
        if getattr(self, "_owns_group", False) and dist.is_initialized():
            dist.destroy_process_group()
            self._owns_group = False

    def release(self) -> None:
        """Release ``OUT``'s lock (:meth:`run` does; call it after :meth:`setup` alone)."""
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.release()

    def _run(self) -> dict[str, Any]:
        self.setup()
        config, state = self.config, self.state
        batches = -(-len(self.sampler) // (config.batch_size // self.world))
        done = config.max_steps is not None and state.global_step >= config.max_steps
        bar = tqdm(total=config.max_steps or config.epochs * batches, initial=state.global_step,
                   desc="train", disable=not (config.progress and self.main_process))
        while state.epoch < config.epochs and not done:
            done = self._run_epoch(bar)
            if state.position >= batches:  # the epoch ran to its end
                self._end_epoch(bar)
            self.save_checkpoint()
        bar.close()
        return self.finish()

    # ------------------------------------------------------------------------ files
    def save_checkpoint(self) -> None:
        """Write ``OUT/checkpoint.pt`` (everything needed to resume) and ``OUT/log.csv``."""
        if self.out is None or not self.main_process:
            return
        state = self.state
        atomic_torch_save({
            "config": self.config.to_dict(), "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "epoch": state.epoch, "position": state.position, "global_step": state.global_step,
            "steps_log": state.steps_log, "epochs_log": state.epochs_log,
            "seconds": self._seconds()}, self.out / CHECKPOINT)
        if state.steps_log:
            write_csv(state.steps_log, self.out / "log.csv")

    def load_checkpoint(self) -> None:
        """Restore weights, optimizer, scheduler and :class:`TrainState` from the checkpoint."""
        path = self.out / CHECKPOINT
        if not path.is_file():  # load_weights checks too, but without saying resuming needs it
            raise FileNotFoundError(f"cannot resume: no checkpoint at {path}")
        try:
            saved = load_weights(path, "training checkpoint", self.device)
        except ValueError as exc:  # its message already names the file and the reason
            raise ValueError(f"cannot resume: {exc}") from None
        try:
            changed = self.config.trajectory_changes(saved["config"])
        except Exception as exc:  # plain values, but not what save_checkpoint writes
            raise ValueError(f"cannot resume: {path} is not a training checkpoint "
                             f"({type(exc).__name__}: {exc})") from None
        if changed:
            raise ValueError(f"cannot resume {path}: {', '.join(changed)} differ from the run "
                             "it was saved by")
        recorded = saved["config"].get("init_sha256")
        if recorded and recorded != self.config.init_sha256:
            raise ValueError(f"cannot resume {path}: init {self.config.init} is no longer the "
                             f"model the run started from (sha256 {recorded[:12]}..., now "
                             f"{str(self.config.init_sha256)[:12]}...)")
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.state = TrainState(saved["epoch"], saved["position"], saved["global_step"],
                                saved["steps_log"], saved["epochs_log"], saved.get("seconds", 0.0))

    def finish(self) -> dict[str, Any]:
        """Write ``OUT/model.pt`` and ``OUT/log.json``; return the summary."""
        config, state = self.config, self.state
        result = {"config": config.to_dict(), "world_size": self.world,
                  "epochs": state.epochs_log, "steps": state.global_step,
                  "seconds": self._seconds(), "device": str(self.device),
                  "final_loss": state.steps_log[-1]["loss"] if state.steps_log else None}
        if self.out is not None and self.main_process:
            val = next((e["val_psnr"] for e in reversed(state.epochs_log) if "val_psnr" in e),
                       None)
            meta = {"strategy": config.strategy, "sigma": config.sigma, "steps": state.global_step,
                    "seed": config.seed, "data": config.data, "val_psnr": val,
                    "init": config.init, "init_sha256": config.init_sha256,
                    "train_seconds": result["seconds"], "device": result["device"],
                    "config": json.dumps(config.to_dict())}
            save_checkpoint(self.model, self.out / FINAL, meta)
            write_json(self.out / "log.json", result)
        if self.world > 1:
            dist.barrier()
        self.model.eval()
        return result


def train(config: TrainConfig, resume: bool = False, overwrite: bool = False,
          train_images: Sequence[torch.Tensor] | None = None,
          val_images: Sequence[torch.Tensor] | None = None) -> dict[str, Any]:
    """Train as ``config`` says (see :class:`Trainer`); returns the ``log.json`` summary.

    Writes to ``config.out``: ``checkpoint.pt`` (everything needed to resume), ``model.pt``
    (the final model, a :func:`denoise_adv.models.save_checkpoint` file), ``log.csv`` (loss and
    learning rate per step) and ``log.json`` (config, validation PSNR per epoch).
    """
    return Trainer(config, train_images, val_images, resume, overwrite).run()
