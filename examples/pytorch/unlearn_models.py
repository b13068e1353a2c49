"""unlearn's architectures as PyTorch modules, parameter for parameter: a checkpoint unlearn writes
(`save(model, "m.safetensors")`) is a PyTorch state dict under these names, and a state dict of these
modules loads in unlearn (`load_model("m.safetensors", data, #{ arch: "resnet18" })`, or
`unlearn forget --arch resnet18`).

    import torch
    from safetensors.torch import load_file, save_file
    from unlearn_models import ConvNet, ResNet18

    model = ResNet18(in_channels=3, num_classes=10)
    model.load_state_dict(load_file("original.safetensors"))   # unlearn -> PyTorch
    save_file(model.state_dict(), "mine.safetensors")          # PyTorch -> unlearn

Instance norm is GroupNorm(C, C) with affine weights, as in the reference code: there are no
running statistics, and train and eval mode compute the same function.
"""
import torch
from torch import nn
from torch.nn import functional as F


def norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(channels, channels, eps=1e-5, affine=True)


class ConvBlock(nn.Module):
    def __init__(self, cin: int, width: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, width, 3, padding=1, bias=True)
        self.norm = norm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class ConvNet(nn.Module):
    """ConvNet-`depth` (3 in the reference): conv 3x3 -> instance norm -> ReLU -> avg-pool 2x2,
    `depth` times, then a linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 128, depth: int = 3, image_size=(32, 32)):
        super().__init__()
        self.features = nn.ModuleList(ConvBlock(in_channels if i == 0 else width, width) for i in range(depth))
        h, w = image_size
        for _ in range(depth):
            h, w = h // 2, w // 2
        self.classifier = nn.Linear(width * h * w, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.features:
            x = block(x)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = norm(planes)
        self.shortcut = shortcut(cin, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = norm(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = norm(planes * 4)
        self.shortcut = shortcut(cin, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + self.shortcut(x))


def shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), norm(cout))


class ResNet(nn.Module):
    """CIFAR ResNet with instance norm: a 3x3 stem without max-pool, four stages of widths
    64/128/256/512, global average pooling, a linear classifier."""

    def __init__(self, block, counts, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = norm(64)
        cin = 64
        for stage, (planes, n) in enumerate(zip([64, 128, 256, 512], counts)):
            blocks = []
            for i in range(n):
                blocks.append(block(cin, planes, 2 if stage > 0 and i == 0 else 1))
                cin = planes * block.expansion
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.classifier = nn.Linear(512 * block.expansion, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            y = layer(y)
        return F.adaptive_avg_pool2d(y, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def ResNet18(in_channels: int = 3, num_classes: int = 10) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], in_channels, num_classes)


def ResNet50(in_channels: int = 3, num_classes: int = 10) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], in_channels, num_classes)
