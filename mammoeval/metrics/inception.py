"""The FID Inception network (pytorch-fid's port of the TF Inception v3), loaded from a local file only.

Weights are never downloaded. They are looked up, in order: the explicit path argument
(`--inception-weights PATH`), the environment variable ``MAMMOEVAL_INCEPTION_WEIGHTS``, then the
torch hub cache (``torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth``, where
pytorch-fid stores them). The file's SHA-256 must start with ``6726825d`` unless the caller passes
another expected prefix. Images are grey: replicated to 3 channels, resized bilinearly to 299x299
(align_corners=False, as pytorch-fid) and scaled to [-1, 1]; the 2048-d output of the final average
pooling is the feature.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import torch
import torch.nn.functional as F

from mammoeval.core.errors import BadInputError, MissingWeightsError
from mammoeval.core.fsutil import load_torch_safe, sha256_file

INCEPTION_FILE: Final[str] = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_SHA256_PREFIX: Final[str] = "6726825d"
INCEPTION_INPUT_SIZE: Final[tuple[int, int]] = (299, 299)
"""Working resolution: every image is resized bilinearly to this size (the network's input)."""
INCEPTION_ENV: Final[str] = "MAMMOEVAL_INCEPTION_WEIGHTS"
INCEPTION_FIX: Final[str] = (
    f"place {INCEPTION_FILE} in {{hub}} (pytorch-fid's download location) or pass --inception-weights PATH "
    f"(or set {INCEPTION_ENV})"
)


def inception_fix() -> str:
    """Return the one-line instruction that makes the Inception weights available."""
    return INCEPTION_FIX.format(hub=Path(torch.hub.get_dir()) / "checkpoints")


def find_inception_weights(path: str | Path | None = None) -> Path:
    """Return the Inception weights file: `path`, else $MAMMOEVAL_INCEPTION_WEIGHTS, else the torch hub cache.

    Raises:
        BadInputError: an explicitly given path (argument or environment) does not exist.
        MissingWeightsError: no path was given and the hub cache has no weights.
    """
    given = path if path is not None else os.environ.get(INCEPTION_ENV) or None
    if given is not None:
        p = Path(given)
        if not p.is_file():
            raise BadInputError(p, "Inception weights file not found")
        return p
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if cached.is_file():
        return cached
    raise MissingWeightsError("Inception weights for FID", inception_fix())


def build_fid_inception() -> torch.nn.Module:
    """Return pytorch-fid's FID Inception v3 structure with uninitialised weights (no download)."""
    # lazy: torchvision and pytorch-fid cost 3 s at import and only an Inception metric needs them
    import torchvision
    from pytorch_fid import inception as pfi

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


_POOL_LAYERS: Final[tuple[str, ...]] = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2",
    "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
    "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool",
)


class InceptionExtractor:
    """2048-d FID Inception pool features of grey images.

    Args:
        weights: the state-dict file (see `find_inception_weights`).
        expected_sha256: required prefix of the file's SHA-256; None skips the check (tests with
            constructed weights).
        device: where the network runs.

    Raises:
        BadInputError: the file's hash does not match, or it is not a loadable state dict.
    """

    dim = 2048

    def __init__(self, weights: str | Path, *, expected_sha256: str | None = INCEPTION_SHA256_PREFIX,
                 device: str | torch.device = "cpu") -> None:
        self.path = Path(weights)
        self.weights_hash = sha256_file(self.path)
        if expected_sha256 is not None and not self.weights_hash.startswith(expected_sha256):
            raise BadInputError(self.path, f"SHA-256 {self.weights_hash[:8]}... does not start with "
                                           f"{expected_sha256}: not the FID Inception weights")
        self.name = f"inception-fid-{self.weights_hash[:8]}"
        self.device = torch.device(device)
        net = build_fid_inception()
        try:
            net.load_state_dict(load_torch_safe(self.path))
        except (RuntimeError, OSError, KeyError, ValueError) as e:
            raise BadInputError(self.path, f"not an FID Inception state dict ({str(e).splitlines()[0]})") from None
        self.net = net.eval().to(self.device)

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> torch.Tensor:
        """Return float32 [N, 2048] features of float [N, 1, H, W] grey images in [0, 1]."""
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"expected [N, 1, H, W] images, got {tuple(images.shape)}")
        x = images.to(self.device, torch.float32).expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=INCEPTION_INPUT_SIZE, mode="bilinear", align_corners=False)
        x = 2 * x - 1
        for name in _POOL_LAYERS:
            x = getattr(self.net, name)(x)
        return x.flatten(1).float().cpu()
