"""LoRAX network: a frozen ConViT with one LoRA adapter per task (spec continual.md section 1).

Pure PyTorch (no Lightning): the Lightning module owns the task loop, the optimizer and the memory, and
calls :meth:`LoRAXNetwork.add_task`, :meth:`LoRAXNetwork.trainable_parameters` and :func:`lorax_loss`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from torch import nn

CONVIT_SIZES = ("tiny", "small", "base")

DEFAULT_TARGET_MODULES = r"blocks\.[0-9]\.attn\.(qk|v)"
"""PEFT ``re.fullmatch`` pattern: the ``attn.qk`` and ``attn.v`` projections of GPSA blocks 0-9.

These are the effective targets of the reference config (its YAML regex keeps a literal ``r"`` that disables
the other alternatives), and the only set that reproduces the paper's 2.50/1.40/0.60 M parameter column.
"""


class LoRAXNetwork(nn.Module):
    """Frozen timm ConViT + one PEFT LoRA adapter per task + a growing linear head + a diversity head.

    For ``t + 1`` tasks and embedding width ``D`` (192 tiny, 432 small, 768 base):

    * features: ``E = [e_0, ..., e_t]`` (B, D(t+1)), where ``e_k`` is the CLS feature of a full backbone pass
      with only adapter ``task{k}`` active (``t + 1`` passes per image);
    * logits: ``head(E)`` (B, 2(t+1)); class ``2k`` = real of task ``k``, ``2k + 1`` = fake of task ``k``;
    * diversity logits (``t > 0`` only): ``div_head(e_t)`` (B, 3): old classes / new real / new fake.

    Tasks may also bring another number of classes (``n_initial_classes``, ``add_task(n_new_classes)``; e.g.
    one real and one class per generator of an AI-GenBench window); the diversity head then has
    ``n_new_classes + 1`` outputs (old classes, then each new class), as in DER.

    Only the newest adapter, the whole head and the diversity head are trainable; the ConViT weights and the
    older adapters are frozen; adapters are never merged. Each LoRA matrix adds ``r * (d_in + d_out)``
    parameters, so the default targets give 2,457,600 (base), 1,382,400 (small) and 614,400 (tiny) per task.

    The module keeps the default train/eval behaviour, so LoRA dropout is active in train mode as in the
    reference. To restore a checkpoint taken after task ``t``, build the network and call :meth:`add_task`
    ``t`` times before ``load_state_dict``.

    Args:
        size: ConViT variant, "tiny", "small" or "base".
        pretrained: load timm's ImageNet-1k weights (HF hub ``timm/convit_<size>.fb_in1k``).
        pretrained_path: a local checkpoint of the timm ConViT (``.pth``/``.safetensors``, optionally under a
            ``model``/``state_dict`` key); takes precedence over ``pretrained``. An ImageNet ``head.*`` is
            dropped.
        target_modules: PEFT ``target_modules`` (regex string, matched with ``re.fullmatch``, or a list of
            module-name suffixes).
        r: LoRA rank.
        lora_alpha: LoRA alpha (scaling ``alpha / r``; the reference uses 16 / 64 = 0.25).
        lora_dropout: dropout on the adapter input.
        img_size: input side of the ConViT (224 for the released weights; small values for tests).
        n_initial_classes: classes of the first task (2 on CDDB).
    """

    def __init__(
        self,
        size: str = "base",
        *,
        pretrained: bool = True,
        pretrained_path: str | Path | None = None,
        target_modules: str | list[str] = DEFAULT_TARGET_MODULES,
        r: int = 64,
        lora_alpha: int = 16,
        lora_dropout: float = 0.1,
        img_size: int = 224,
        n_initial_classes: int = 2,
    ) -> None:
        super().__init__()
        if n_initial_classes < 1:
            raise ValueError(f"n_initial_classes must be >= 1; got {n_initial_classes}")
        backbone = create_convit_backbone(
            size, pretrained=pretrained, pretrained_path=pretrained_path, img_size=img_size
        )
        self.size = size
        self.embed_dim = int(backbone.num_features)
        self._lora_config = LoraConfig(
            target_modules=target_modules, r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, bias="none"
        )
        self.backbone = get_peft_model(backbone, copy.deepcopy(self._lora_config), adapter_name="task0")
        self.head = _kaiming_linear(self.embed_dim, n_initial_classes)
        self.register_module("div_head", None)
        self._n_tasks = 1
        self._activate(0)

    @property
    def n_tasks(self) -> int:
        """Number of tasks (adapters) so far."""
        return self._n_tasks

    @property
    def n_classes(self) -> int:
        """Number of output classes (``2 * n_tasks`` with two classes per task)."""
        return self.head.out_features

    @property
    def adapter_names(self) -> list[str]:
        """``["task0", ..., f"task{n_tasks - 1}"]``."""
        return [f"task{k}" for k in range(self._n_tasks)]

    def targeted_module_names(self) -> list[str]:
        """Names (relative to the ConViT) of the modules that carry LoRA adapters."""
        return sorted(self.backbone.targeted_module_names)

    def add_task(self, n_new_classes: int = 2) -> None:
        """Start a new task ``t``: add adapter ``task{t}``, grow the head, make a fresh diversity head.

        With ``C`` old classes and ``n`` new ones, the new head ``W'`` (C + n, D(t+1)) gets kaiming-uniform
        weights (``nonlinearity='linear'``) and zero bias, then ``W'[:C, :Dt] = W`` and ``b'[:C] = b``: old
        classes keep their weights on the old features and get random weights on the new feature columns. The
        diversity head is a new ``nn.Linear(D, n + 1)`` (3 on CDDB). Afterwards only the new adapter and the
        heads are trainable.
        """
        if n_new_classes < 1:
            raise ValueError(f"n_new_classes must be >= 1; got {n_new_classes}")
        t = self._n_tasks
        self.backbone.add_adapter(f"task{t}", copy.deepcopy(self._lora_config))
        old = self.head
        new = _kaiming_linear(self.embed_dim * (t + 1), old.out_features + n_new_classes)
        new = new.to(old.weight.device, old.weight.dtype)
        with torch.no_grad():
            new.weight[: old.out_features, : old.in_features] = old.weight
            new.bias[: old.out_features] = old.bias
        self.head = new
        self.div_head = nn.Linear(self.embed_dim, n_new_classes + 1).to(old.weight.device, old.weight.dtype)
        self._n_tasks = t + 1
        self._activate(t)

    def reset_first_head(self, n_classes: int) -> None:
        """Replace the (untrained) first-task head by a fresh one with ``n_classes`` outputs.

        For callers that learn the first task's number of classes only after building the network.

        Raises:
            ValueError: once a second task exists (the head then holds trained rows).
        """
        if self._n_tasks != 1:
            raise ValueError(f"the first head can only be reset before the second task (there are {self._n_tasks})")
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1; got {n_classes}")
        old = self.head
        self.head = _kaiming_linear(self.embed_dim, n_classes).to(old.weight.device, old.weight.dtype)
        self._activate(0)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Freeze everything but the newest adapter and the heads, and return those parameters.

        Returns:
            The newest adapter's LoRA matrices, then the head's and the diversity head's parameters.
        """
        self._activate(self._n_tasks - 1)
        return [p for p in self.parameters() if p.requires_grad]

    def lora_parameter_count(self, task: int | None = None) -> int:
        """Number of LoRA parameters of adapter ``task{task}`` (default: the newest)."""
        k = self._n_tasks - 1 if task is None else task
        if not 0 <= k < self._n_tasks:
            raise ValueError(f"task {task} does not exist; tasks are 0..{self._n_tasks - 1}")
        return sum(p.numel() for name, p in self.backbone.named_parameters() if _adapter_of(name) == f"task{k}")

    def features(self, x: torch.Tensor, n_tasks: int | None = None) -> torch.Tensor:
        """Concatenated CLS features of the adapters: ``E = [e_0, ..., e_t]``, shape (B, D(t+1)).

        Args:
            x: normalised images (B, 3, H, W).
            n_tasks: use only the first ``n_tasks`` adapters (default: all); e.g. the features of the network
                as it was at the end of an earlier task, for herding.
        """
        n = self._n_tasks if n_tasks is None else n_tasks
        if not 1 <= n <= self._n_tasks:
            raise ValueError(f"n_tasks must be in 1..{self._n_tasks}; got {n_tasks}")
        feats = []
        for k in range(n):
            self._activate(k)
            feats.append(self.backbone(x))
        if n != self._n_tasks:
            self._activate(self._n_tasks - 1)
        # The newest adapter is left active, as the optimizer expects.
        return torch.cat(feats, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class logits (B, 2(t+1)) and diversity logits (B, 3), the latter ``None`` for the first task."""
        e = self.features(x)
        logits = self.head(e)
        div_logits = self.div_head(e[:, -self.embed_dim :]) if self.div_head is not None else None
        return logits, div_logits

    def _activate(self, k: int) -> None:
        # PEFT's set_adapter also makes the activated adapter trainable; an old adapter must stay frozen while
        # its features are computed (no gradient, no optimizer state), so requires_grad is reset right after.
        self.backbone.set_adapter(f"task{k}")
        newest = f"task{self._n_tasks - 1}"
        for name, p in self.backbone.named_parameters():
            p.requires_grad_(_adapter_of(name) == newest)
        for p in self.head.parameters():
            p.requires_grad_(True)
        if self.div_head is not None:
            for p in self.div_head.parameters():
                p.requires_grad_(True)


def create_convit_backbone(
    size: str, *, pretrained: bool = False, pretrained_path: str | Path | None = None, img_size: int = 224
) -> nn.Module:
    """Build timm ``convit_<size>`` without classifier (``num_classes=0``, forward gives the CLS feature).

    Args:
        size: "tiny", "small" or "base".
        pretrained: download/load timm's ImageNet-1k weights (HF hub ``timm/convit_<size>.fb_in1k``).
        pretrained_path: local checkpoint to load instead (strict, ``head.*`` keys dropped).
        img_size: input side (the released weights are for 224; their position embedding fits no other size).

    Raises:
        ValueError: on an unknown size.
        FileNotFoundError: if ``pretrained_path`` does not exist.
        RuntimeError: if the pretrained weights cannot be obtained or do not fit the model.
    """
    if size not in CONVIT_SIZES:
        raise ValueError(f"unknown ConViT size {size!r}; expected one of {list(CONVIT_SIZES)}")
    # One ConViT builder for the plain detectors and LoRAX (hub weights, local weights, offline error).
    from algorithms.models.convit import CONVIT_TIMM_NAMES
    from algorithms.models.dinov2 import create_timm_backbone

    name = f"convit_{size}"
    return create_timm_backbone(
        CONVIT_TIMM_NAMES[name],
        model=name,
        pretrained=pretrained,
        pretrained_path=None if pretrained_path is None else str(pretrained_path),
        img_size=img_size,
    )


def div_targets(y: torch.Tensor, n_old_classes: int) -> torch.Tensor:
    """Diversity-head targets: ``0`` if ``y < n_old`` else ``y - (n_old - 1)`` (1 = new real, 2 = new fake).

    Args:
        y: class labels (B,).
        n_old_classes: number of classes of the previous tasks (``2t`` at task ``t``; must be >= 1).
    """
    if n_old_classes < 1:
        raise ValueError(
            f"n_old_classes must be >= 1 (the diversity head exists from the second task); got {n_old_classes}"
        )
    return torch.where(y < n_old_classes, torch.zeros_like(y), y - (n_old_classes - 1))


def lorax_loss(
    logits: torch.Tensor,
    div_logits: torch.Tensor | None,
    y: torch.Tensor,
    n_old_classes: int,
    div_weight: float = 0.1,
) -> torch.Tensor:
    """LoRAX training loss: ``CE(logits, y) + div_weight * CE(div_logits, div_targets(y, n_old))``.

    The second term is dropped when ``div_logits`` is ``None`` (first task).

    Args:
        logits: class logits (B, 2(t+1)).
        div_logits: diversity logits (B, 3) or ``None``.
        y: class labels (B,).
        n_old_classes: ``2t`` at task ``t``.
        div_weight: weight of the diversity term (0.1 in the reference).
    """
    loss = F.cross_entropy(logits, y)
    if div_logits is not None:
        loss = loss + div_weight * F.cross_entropy(div_logits, div_targets(y, n_old_classes))
    return loss


def _kaiming_linear(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    nn.init.kaiming_uniform_(layer.weight, nonlinearity="linear")
    nn.init.zeros_(layer.bias)
    return layer


def _adapter_of(param_name: str) -> str | None:
    # LoRA parameters are named "...<layer>.lora_A.<adapter>.weight"; the adapter is the component after it.
    parts = param_name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.startswith("lora_"):
            return parts[i + 1]
    return None


__all__ = [
    "CONVIT_SIZES",
    "DEFAULT_TARGET_MODULES",
    "LoRAXNetwork",
    "create_convit_backbone",
    "div_targets",
    "lorax_loss",
]
