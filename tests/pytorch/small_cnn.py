"""Test helper: a small classifier trained and saved in real PyTorch, for the TorchScript tests
(tests/torchscript_tests.rs). Run with the project venv's Python.

    small_cnn.py train DIR    reads DIR/train_x.npy, train_y.npy, test_x.npy (float32 N x C x H x W,
                              int64 labels); trains SmallCNN briefly; writes DIR/scripted.pt
                              (torch.jit.script), DIR/traced.pt (torch.jit.trace), DIR/init.pt
                              (untrained, same architecture) and DIR/logits.npy (eval-mode logits
                              of test_x)
    small_cnn.py logits MODEL X OUT
                              eval-mode logits of the TorchScript MODEL on X.npy, to OUT.npy
    small_cnn.py wrong DIR CHANNELS CLASSES
                              writes DIR/wrong.pt: a scripted SmallCNN for CHANNELS and CLASSES
"""
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "pytorch"))
from mnist_cnn import fit  # noqa: E402


class SmallCNN(nn.Module):
    """Conv-BN-ReLU twice, global pooling, dropout, linear: batch norm and dropout on purpose."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(32, classes)

    @torch.jit.export
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x)))


def train(d: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.from_numpy(np.load(f"{d}/train_x.npy"))
    y = torch.from_numpy(np.load(f"{d}/train_y.npy")).long()
    test_x = torch.from_numpy(np.load(f"{d}/test_x.npy"))
    classes = int(y.max()) + 1
    model = SmallCNN(x.shape[1], classes)
    fit(model, x, y, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=5, batch=32)
    torch.jit.save(torch.jit.script(model), f"{d}/scripted.pt")
    torch.jit.save(torch.jit.trace(model, x[:2]), f"{d}/traced.pt")
    torch.manual_seed(1)
    torch.jit.save(torch.jit.script(SmallCNN(x.shape[1], classes).eval()), f"{d}/init.pt")
    with torch.no_grad():
        np.save(f"{d}/logits.npy", model(test_x).numpy())


def logits(model_path: str, x_path: str, out: str) -> None:
    torch.set_num_threads(1)
    model = torch.jit.load(model_path).eval()
    with torch.no_grad():
        np.save(out, model(torch.from_numpy(np.load(x_path))).numpy())


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "train":
        train(*args)
    elif cmd == "logits":
        logits(*args)
    elif cmd == "wrong":
        d, channels, classes = args
        torch.jit.save(torch.jit.script(SmallCNN(int(channels), int(classes)).eval()), f"{d}/wrong.pt")
    else:
        raise SystemExit(f"unknown command {cmd}")
