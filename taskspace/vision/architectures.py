"""The networks an agent can be: ``build_model(architecture, ...)``.

* ``resnet18`` / ``resnet50``: torchvision ResNets with the CIFAR stem (3x3 conv, stride 1, no max-pool),
  as in the paper; the stock 7x7/stride-2 stem and max-pool would shrink a 32x32 image to 8x8 at once.
* ``digits_cnn``: a three-conv network for 8x8 digits (the offline demo), small enough to train in seconds.

The penultimate layer (the globally pooled vector before the classifier) is the agent's feature:
every network has ``features(x)`` and ``feature_width``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import TaskspaceError
from .train_config import ARCHITECTURES


class CifarResNet(nn.Module):
    """A torchvision ResNet with the CIFAR stem. ``features`` gives the pooled penultimate vector."""

    def __init__(self, architecture: str, num_classes: int, in_channels: int = 3):
        super().__init__()
        import torchvision

        net = getattr(torchvision.models, architecture)(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.net = net

    @property
    def feature_width(self) -> int:
        return self.net.fc.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net  # torchvision's ResNet._forward_impl without the final fc
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return torch.flatten(n.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.fc(self.features(x))


class DigitsCNN(nn.Module):
    """conv-conv-pool-conv on 8x8 inputs, global average pool to ``4 * width`` features, linear classifier."""

    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 32):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(in_channels, width),
            *block(width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(4 * width, num_classes)

    @property
    def feature_width(self) -> int:
        return self.fc.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


def build_model(architecture: str, num_classes: int, in_channels: int, width: int = 32) -> nn.Module:
    if architecture in ("resnet18", "resnet50"):
        return CifarResNet(architecture, num_classes, in_channels)
    if architecture == "digits_cnn":
        return DigitsCNN(num_classes, in_channels, width)
    raise TaskspaceError(f"architecture: {architecture!r} is not one of {', '.join(ARCHITECTURES)}")
