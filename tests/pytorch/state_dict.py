"""Test helper: unlearn's architectures in PyTorch (examples/pytorch/unlearn_models.py) against
state dicts (tests/torchscript_tests.rs).

    state_dict.py logits ARCH STATE.safetensors X.npy OUT.npy C K H W
                  eval-mode logits of the state dict loaded (strictly) into ARCH, on X
    state_dict.py init ARCH OUT.safetensors C K H W
                  a PyTorch initialisation of ARCH (seed 0) saved as a state dict
"""
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "pytorch"))
from unlearn_models import ConvNet, ResNet18, ResNet50  # noqa: E402


def build(arch: str, c: int, k: int, h: int, w: int) -> torch.nn.Module:
    return {"convnet3": lambda: ConvNet(c, k, image_size=(h, w)), "resnet18": lambda: ResNet18(c, k),
            "resnet50": lambda: ResNet50(c, k)}[arch]()


if __name__ == "__main__":
    torch.set_num_threads(1)
    cmd, arch, *rest = sys.argv[1:]
    dims = [int(v) for v in rest[-4:]]
    if cmd == "logits":
        state, x, out = rest[:3]
        model = build(arch, *dims)
        model.load_state_dict(load_file(state))
        model.eval()
        with torch.no_grad():
            np.save(out, model(torch.from_numpy(np.load(x))).numpy())
    elif cmd == "init":
        torch.manual_seed(0)
        save_file(build(arch, *dims).state_dict(), rest[0])
    else:
        raise SystemExit(__doc__)
