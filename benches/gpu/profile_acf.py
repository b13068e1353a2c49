"""Kernel profile of one A-CF step as unlearn runs it (ResNet-18 with GroupNorm(C, C), NCHW fp32
with cuDNN's default TF32 convolutions; retain 64 + forget 256 in one forward with grad, unseen 256
in a separate no-grad forward; Adam), with torch.profiler: the same libtorch kernels our binary
launches. Prints the busy-GPU time per step against the wall time per step, and the top kernels."""
import json, os, time, torch, torch.nn as nn, torch.nn.functional as F

def gn(c):
    return nn.GroupNorm(c, c)  # instance norm as the reference writes it

class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.n1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), gn(cout)
        self.c2, self.n2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), gn(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), gn(cout))

    def forward(self, x):
        y = self.n2(self.c2(F.relu(self.n1(self.c1(x)))))
        return F.relu(y + (x if self.short is None else self.short(x)))

class ResNet18IN(nn.Module):
    """unlearn's src/models/resnet.rs, layer for layer."""
    def __init__(self, classes=10):
        super().__init__()
        self.stem, self.norm = nn.Conv2d(3, 64, 3, 1, 1, bias=False), gn(64)
        layers, cin = [], 64
        for cout, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
            layers.append(Block(cin, cout, stride)); cin = cout
        self.layers, self.fc = nn.Sequential(*layers), nn.Linear(512, classes)

    def forward(self, x):
        y = self.layers(F.relu(self.norm(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))

torch.backends.cudnn.allow_tf32 = True  # libtorch's default
torch.backends.cuda.matmul.allow_tf32 = False  # libtorch's default
dev = 'cuda'
m = ResNet18IN().to(dev)
opt = torch.optim.Adam(m.parameters(), 2.4e-4, foreach=False)  # libtorch C++ Adam: per-parameter ops
xr = torch.randn(64, 3, 32, 32, device=dev); yr = torch.randint(0, 10, (64,), device=dev)
xf = torch.randn(256, 3, 32, 32, device=dev); yf = torch.randint(0, 10, (256,), device=dev)
xu = torch.randn(256, 3, 32, 32, device=dev); yu = torch.randint(0, 10, (256,), device=dev)
def step():
    lo = m(torch.cat([xr, xf]))
    ce_r = F.cross_entropy(lo[:64], yr); ce_f = F.cross_entropy(lo[64:], yf, reduction='none')
    with torch.no_grad():
        ce_u = F.cross_entropy(m(xu), yu, reduction='none')
    loss = ce_r ** 2 + 34 * (ce_f.mean() - ce_u.mean()) ** 2
    opt.zero_grad(set_to_none=False); loss.backward(); opt.step()
for _ in range(10): step()
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(50): step()
torch.cuda.synchronize(); wall = (time.perf_counter() - t) / 50
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
    for _ in range(20): step()
    torch.cuda.synchronize()
ev = [e for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA or getattr(e, 'self_device_time_total', 0) > 0]
rows = []
for e in prof.key_averages():
    dt = getattr(e, 'self_device_time_total', None)
    if dt is None: dt = getattr(e, 'self_cuda_time_total', 0)
    if dt and dt > 0 and e.device_type == torch.autograd.DeviceType.CUDA:
        rows.append((dt / 20 / 1000, e.count // 20, e.key[:110]))
rows.sort(reverse=True)
busy = sum(r[0] for r in rows)
def cat(k):
    k = k.lower()
    if 'norm' in k or 'welford' in k or 'groupnorm' in k or 'compute_mean' in k or 'rowwise' in k: return 'group norm'
    if 'conv' in k or 'cudnn' in k or 'sm90' in k or 'xmma' in k or 'gemm' in k or 'cutlass' in k or 'implicit' in k or 'wgrad' in k or 'dgrad' in k: return 'convolution / matmul'
    if 'adam' in k or 'foreach' in k: return 'optimizer'
    return 'elementwise / other'
cats = {}
for ms, n, k in rows: cats[cat(k)] = cats.get(cat(k), 0) + ms
kernels_per_step = sum(r[1] for r in rows)
out = {'device': torch.cuda.get_device_name(0), 'wall_ms_per_step': round(wall * 1e3, 3), 'gpu_busy_ms_per_step': round(busy, 3),
       'kernels_per_step': kernels_per_step, 'by_category_ms': {k: round(v, 3) for k, v in cats.items()},
       'top_kernels': [{'ms': round(a, 3), 'calls': b, 'kernel': c} for a, b, c in rows[:30]]}
json.dump(out, open(os.path.join(os.environ.get('OUT', '.'), 'profile_acf.json'), 'w'), indent=1)
print(json.dumps({k: v for k, v in out.items() if k != 'top_kernels'}))
for r in rows[:25]: print(f"{r[0]:8.3f} ms {r[1]:5d}x  {r[2]}")
