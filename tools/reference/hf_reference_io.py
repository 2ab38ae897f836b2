"""Shared by the reference scripts of this folder: the safetensors format written and read by
hand (u64 little-endian header length, JSON header padded with spaces to a multiple of 8, raw
little-endian data), and the plain-tensor activations and layer norm of Hugging Face's models.
"""

import json
import math
import struct

import numpy as np
import torch

_ST_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}


def write_safetensors(path, tensors, dtype):
    """tensors: dict name -> np.ndarray (float32). Stored in `dtype` (F32, F16 or BF16)."""
    names = sorted(tensors)
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for n in names:
        if dtype == "BF16":  # float32 rounded to nearest even, high half kept
            bits = np.ascontiguousarray(tensors[n].astype(np.float32)).view(np.uint32).astype(np.uint64)
            arr = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").reshape(tensors[n].shape)
        else:
            arr = np.ascontiguousarray(tensors[n].astype(_ST_DTYPES[dtype]))
        b = arr.tobytes(order="C")
        header[n] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path, dtype=torch.float64):
    """Returns dict name -> torch tensor of `dtype` (float64 by default: the exact values of what
    is on disk). F32, F16 and BF16 are read; anything else is a ValueError naming the tensor."""
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    assert hlen % 8 == 0
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    body = data[8 + hlen:]
    out = {}
    end_max = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = body[b:e]
        if info["dtype"] == "BF16":  # the high half of a float32
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in _ST_DTYPES:
            arr = np.frombuffer(raw, dtype=_ST_DTYPES[info["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}; supported: F32, F16, BF16")
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        if arr.size != count:
            raise ValueError(f"{path}: tensor {name}: {arr.size} values for shape {info['shape']}")
        out[name] = torch.from_numpy(arr.astype(np.float64).reshape(info["shape"])).to(dtype)
        end_max = max(end_max, e)
    assert end_max == len(body), "trailing bytes in safetensors body"
    return out


def act_fn(name):
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "relu":
        return lambda x: torch.clamp(x, min=0.0)
    raise ValueError(f"activation_function {name!r} not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)")


def ref_layernorm(x, g, b, eps):
    mu = x.mean(dim=-1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * g + b
