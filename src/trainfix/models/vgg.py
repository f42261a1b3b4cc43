"""VGG-16 with BatchNorm for 32x32 images, as LEAP uses it (vithursant/SPL-ADVisE
models/vgg_cifar.py): thirteen 3x3 convs (with bias) each followed by BN and ReLU, five 2x2 max
pools, then a classifier 512-512-num_classes with ReLU and Dropout 0.5. LEAP's embedding network
is this model with num_classes = 2. PyTorch default initialization. 15,253,578 parameters at 10
classes (kuangliu's variant, with a single Linear classifier, has 14,728,266).
"""

from __future__ import annotations

from torch import nn

from trainfix.models.network import FeaturesClassifier

# Conv output channels, "M" = 2x2 max pooling (Simonyan & Zisserman 2015, configuration D).
VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(FeaturesClassifier):
    """VGG with BatchNorm for small images; the flatten size is 512 * (image_size // 32)^2.

    Args:
        num_classes: number of logits.
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels (>= 32: five poolings).
        layers: conv widths and "M" poolings.
        hidden: width of the two hidden classifier layers (0: a single Linear layer).
        dropout: dropout probability after each hidden classifier layer.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        layers: tuple[int | str, ...] = VGG16_LAYERS,
        hidden: int = 512,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        features: list[nn.Module] = []
        channels, side = in_channels, image_size
        for layer in layers:
            if layer == "M":
                features.append(nn.MaxPool2d(2))
                side //= 2
            else:
                features += [nn.Conv2d(channels, layer, 3, padding=1), nn.BatchNorm2d(layer), nn.ReLU()]
                channels = layer
        if side < 1:
            pools = layers.count("M")
            raise ValueError(f"VGG: image_size={image_size} vanishes after {pools} poolings; accepted: >= {2**pools}")
        self.features = nn.Sequential(*features, nn.Flatten())
        flat = channels * side * side
        if hidden:
            self.classifier = nn.Sequential(
                nn.Linear(flat, hidden), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )  # fmt: skip
        else:
            self.classifier = nn.Sequential(nn.Linear(flat, num_classes))


def vgg16(num_classes: int, in_channels: int, image_size: int, hidden: int = 512, dropout: float = 0.5) -> VGG:
    """VGG-16 with BatchNorm, LEAP's classifier (hidden 512, dropout 0.5) by default."""
    return VGG(num_classes, in_channels, image_size, VGG16_LAYERS, hidden=hidden, dropout=dropout)
