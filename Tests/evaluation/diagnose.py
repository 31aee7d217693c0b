#!/usr/bin/env python3
"""Independent checks of an evaluation run (numpy only; `pip install numpy`).

Usage: Tests/evaluation/diagnose.py WORK [OUT]
  WORK is a pipeline.sh directory (features.safetensors, its profiles, model/).
  Prints nDCG@50 against the most-played artist before the split (README "Evaluating a model")
  for the model (its encoder re-run here from the safetensors weights), the average embedding
  and each half of it, and, when WORK/planted-taste.vectors.jsonl exists, nDCG@50 against the
  planted clusters themselves. With OUT, writes each representation's top 8, 16 and 32 principal
  components as OUT/NAME-pcK.vectors.jsonl for `userrep evaluate --vectors`.
"""
import json
import os
import struct
import sys
from collections import Counter

import numpy as np


def safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": np.float32, "I64": np.int64, "U8": np.uint8}
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    return out, header.get("__metadata__", {})


def encode(model_dir, x):
    """The manifest's encoder in double precision: standardize, SELU hidden layers, linear code."""
    manifest = json.load(open(f"{model_dir}/manifest.json"))
    weights, _ = safetensors(f"{model_dir}/{manifest['weights']}")
    h = (x - weights["normalization.mean"]) / weights["normalization.std"]
    layers = len(manifest["layers"]) - 1
    for i in range(layers):
        h = h @ weights[f"encoder.{i}.weight"].T.astype(np.float64) + weights[f"encoder.{i}.bias"]
        if i < layers - 1:
            h = 1.0507009873554805 * np.where(h > 0, h, 1.6732632423543772 * (np.exp(np.minimum(h, 0)) - 1))
    return h


def ndcg(vectors, labels, k=50):
    """Mean nDCG@k of exact cosine neighbours; users without a label or a peer are not scored."""
    v = np.asarray(vectors, np.float64)
    norms = np.linalg.norm(v, axis=1)
    v = v / np.where(norms > 0, norms, 1)[:, None]
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    lab = np.array([-1 if x is None else x for x in labels])
    sizes = Counter(x for x in labels if x is not None)
    discount = 1 / np.log2(np.arange(2, k + 2))
    scores = []
    for i in range(len(v)):
        if lab[i] < 0 or sizes[lab[i]] < 2:
            continue
        top = np.argsort(-sim[i], kind="stable")[:k]
        scores.append(((lab[top] == lab[i]) * discount[: len(top)]).sum() / discount[: min(k, sizes[lab[i]] - 1)].sum())
    return float(np.mean(scores)), len(scores)


def main():
    work = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else None
    tensors, meta = safetensors(f"{work}/features.safetensors")
    x = tensors["features"].astype(np.float64)
    offsets, idbytes = tensors["user_id_offsets"], tensors["user_id_bytes"].tobytes()
    users = [idbytes[offsets[i] : offsets[i + 1]].decode() for i in range(len(offsets) - 1)]
    groups = {}
    for item in meta["feature_groups"].split(","):
        name, span = item.split(":")
        offset, size = span.split("+")
        groups[name] = (int(offset), int(size))

    def group(name):
        offset, size = groups[name]
        return x[:, offset : offset + size]

    profiles = [json.loads(line) for line in open(f"{work}/features.safetensors.profiles.jsonl")]
    ids = {}
    artist = [None if p["top_artist"]["6m"] is None else ids.setdefault(p["top_artist"]["6m"], len(ids)) for p in profiles]
    longest = max((n for n in groups if n.startswith("audio_mean_")), key=lambda n: {"1w": 0, "1m": 1, "6m": 2}.get(n[-2:], 3))
    suffix = longest[len("audio_mean_") :]
    representations = {
        "model": encode(f"{work}/model", x),
        "average embedding": np.hstack([group(f"audio_mean_{suffix}"), group(f"collaborative_mean_{suffix}")]),
        "its audio (content) half": group(f"audio_mean_{suffix}"),
        "its collaborative half": group(f"collaborative_mean_{suffix}"),
    }
    planted = None
    try:
        truth = {}
        for line in open(f"{work}/planted-taste.vectors.jsonl"):
            r = json.loads(line)
            truth[r["user_id"]] = r["vector"]
        planted = [int(np.argmax(truth[u])) for u in users]
        representations["planted taste"] = np.array([truth[u] for u in users])
    except FileNotFoundError:
        pass
    print(f"nDCG@50 on {len(users)} users: most-played artist" + (", planted taste cluster" if planted else ""))
    for name, v in representations.items():
        line = f"  {name:26s} {ndcg(v, artist)[0]:.4f}"
        if planted:
            line += f"   {ndcg(v, planted)[0]:.4f}"
        print(line)
    if out:
        os.makedirs(out, exist_ok=True)
        for name in ("model", "average embedding"):
            v = representations[name] - representations[name].mean(0)
            _, _, basis = np.linalg.svd(v, full_matrices=False)
            for k in (8, 16, 32):
                path = f"{out}/{name.split()[0]}-pc{k}.vectors.jsonl"
                with open(path, "w") as f:
                    for u, row in zip(users, v @ basis[:k].T):
                        f.write(json.dumps({"user_id": u, "vector": [round(float(a), 6) for a in row]}) + "\n")
                print("wrote", path)


if __name__ == "__main__":
    main()
