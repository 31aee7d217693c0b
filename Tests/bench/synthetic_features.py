#!/usr/bin/env python3
"""Writes a synthetic userrep features file (the format of `userrep features export`, see
schemas/features-file.md) for training benchmarks: N rows of a planted low-rank structure plus noise.
Usage: synthetic_features.py MANIFEST OUT ROWS [RANK]   (needs numpy; writes in chunks, little memory)
"""
import json, struct, sys
import numpy as np

manifest_path, out, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
rank = int(sys.argv[4]) if len(sys.argv) > 4 else 32
manifest = json.load(open(manifest_path))
d = manifest["layers"][0]
ids = [b"u%d" % i for i in range(rows)]
id_bytes = sum(len(i) for i in ids)
feat, offs = rows * d * 4, (rows + 1) * 8
header = {
    "features": {"dtype": "F32", "shape": [rows, d], "data_offsets": [0, feat]},
    "user_id_offsets": {"dtype": "I64", "shape": [rows + 1], "data_offsets": [feat, feat + offs]},
    "user_id_bytes": {"dtype": "U8", "shape": [id_bytes], "data_offsets": [feat + offs, feat + offs + id_bytes]},
    "__metadata__": {"format": "userrep-features-1", "rows": str(rows), "input_size": str(d), "embedding_batch_id": manifest["embedding_batch_id"],
                     "model_batch_id": manifest["batch_id"], "as_of_ms": "newest-event", "manifest": json.dumps(manifest)},
}
h = json.dumps(header, sort_keys=True).encode()
h += b" " * ((8 - (len(h) + 8) % 8) % 8)
rng = np.random.default_rng(1)
basis = rng.standard_normal((rank, d)).astype(np.float32) / np.sqrt(rank)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for start in range(0, rows, 65536):
        n = min(65536, rows - start)
        z = rng.standard_normal((n, rank)).astype(np.float32)
        f.write((z @ basis + 0.1 * rng.standard_normal((n, d)).astype(np.float32)).astype("<f4").tobytes())
    f.write(np.cumsum([0] + [len(i) for i in ids], dtype="<i8").tobytes())
    f.write(b"".join(ids))
print(f"wrote {out}: {rows} x {d}")
