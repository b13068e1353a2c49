"""A classifier trained in PyTorch, as a user's deployed model would be, for `unlearn forget`.

    python mnist_cnn.py export-builtin DIR [PER_DIGIT]
                                             the built-in MNIST digits (unlearn's cache) as an
                                             MNIST-layout folder: 80 % of every digit in train-*,
                                             the rest in t10k-* (file order, no randomness); only
                                             the first PER_DIGIT of each digit when given
    python mnist_cnn.py request N FILE       a deletion request: N distinct random indices (seed 1)
                                             into the training part (8,000 digits), one per line
    python mnist_cnn.py train DIR OUT        trains MnistCNN on DIR's training part and writes
                                             OUT/model.pt (TorchScript) and OUT/init.pt (the same
                                             architecture, untrained: what Retrain starts from)

The lines that matter for your own model are in `export`: put the model in eval mode, script it
(or trace it with an example batch) and save it; an untrained copy is optional.
"""
import gzip
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

MEAN, STD = 0.1307, 0.3081  # inputs are normalised so: `unlearn forget --mean 0.1307 --std 0.3081`


class MnistCNN(nn.Module):
    """Two conv blocks with batch norm, dropout, a linear classifier."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.25), nn.Linear(64 * 7 * 7, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def export(model: nn.Module, untrained: nn.Module, out: Path) -> None:
    model.eval()
    torch.jit.save(torch.jit.script(model), out / "model.pt")
    torch.jit.save(torch.jit.script(untrained.eval()), out / "init.pt")


def read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def export_builtin(out: Path, per_digit: int = 0) -> None:
    cache = Path(os.environ.get("UNLEARN_CACHE") or Path.home() / ".cache" / "unlearn")
    src = cache / "data" / "mnist-builtin"
    images, labels = read_idx(src / "digits-images-idx3-ubyte"), read_idx(src / "digits-labels-idx1-ubyte")
    train, test = [], []
    for digit in range(10):
        idx = np.flatnonzero(labels == digit)
        if per_digit > 0:
            idx = idx[:per_digit]
        cut = round(0.8 * len(idx))
        train.extend(idx[:cut])
        test.extend(idx[cut:])
    out.mkdir(parents=True, exist_ok=True)
    for part, idx in [("train", np.array(train)), ("t10k", np.array(test))]:
        write_idx(out / f"{part}-images-idx3-ubyte", images[idx])
        write_idx(out / f"{part}-labels-idx1-ubyte", labels[idx])
    print(f"{len(train)} training and {len(test)} test digits in {out}")


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, opt, epochs: int, batch: int, after_epoch=None) -> None:
    """Cross-entropy training in shuffled batches; the model is left in eval mode."""
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            b = perm[i : i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
        model.eval()
        if after_epoch is not None:
            after_epoch(epoch)


def train(data: Path, out: Path, epochs: int = 4) -> None:
    torch.manual_seed(0)
    load = lambda part: (
        (torch.from_numpy(read_idx(data / f"{part}-images-idx3-ubyte").copy()).float().unsqueeze(1) / 255 - MEAN) / STD,
        torch.from_numpy(read_idx(data / f"{part}-labels-idx1-ubyte").astype(np.int64)),
    )
    (x, y), (tx, ty) = load("train"), load("t10k")
    model = MnistCNN()
    untrained = MnistCNN()
    untrained.load_state_dict(model.state_dict())  # the initialisation this training started from
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    def report(epoch: int) -> None:
        with torch.no_grad():
            acc = (model(tx).argmax(1) == ty).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {100 * acc:.2f} %")

    fit(model, x, y, opt, epochs, 64, report)
    out.mkdir(parents=True, exist_ok=True)
    export(model, untrained, out)
    print(f"wrote {out / 'model.pt'} and {out / 'init.pt'}")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:] or ["help"]
    if cmd == "export-builtin" and len(args) in (1, 2):
        export_builtin(Path(args[0]), int(args[1]) if len(args) == 2 else 0)
    elif cmd == "request" and len(args) == 2:
        picked = np.sort(np.random.default_rng(1).choice(8000, int(args[0]), replace=False))
        Path(args[1]).write_text("\n".join(str(i) for i in picked) + "\n")
    elif cmd == "train" and len(args) == 2:
        train(Path(args[0]), Path(args[1]))
    else:
        raise SystemExit(__doc__)
