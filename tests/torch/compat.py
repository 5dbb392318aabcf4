#!/usr/bin/env python3
"""The Python side of the LibTorch compatibility test (tests/torch/torch_tests.cpp).

Uses Python's torch and a small safetensors writer and reader of its own (the format of
docs/format.md: 8-byte little-endian header size, JSON header, data), not this library.

  compat.py probe       exit 0 when torch can be imported
  compat.py write DIR   DIR/py_model.safetensors: the state dict of a small model;
                        DIR/py_io.safetensors: "input" and the model's "output" on it
  compat.py check DIR   loads DIR/cpp_model.safetensors into the same model (strict), runs it
                        on "input" of DIR/cpp_io.safetensors, compares with its "output"
"""
import json
import struct
import sys

DTYPES = {}  # torch dtype -> safetensors name, filled once torch is imported


def model(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def write(path, tensors, metadata=None):
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.dim() > 0 else t.reshape(1).numpy().tobytes()
        if sys.byteorder != "little" and t.element_size() > 1:
            raise SystemExit("this writer is little-endian only")
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def read(torch, path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    by_name = {v: k for k, v in DTYPES.items()}
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        dtype = by_name[e["dtype"]]
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = flat.reshape(e["shape"]).clone()
    return out


def main():
    import torch
    DTYPES.update({torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
                   torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"})
    if sys.argv[1] == "probe":
        return 0
    d = sys.argv[2]
    if sys.argv[1] == "write":
        torch.manual_seed(7)
        m = model(torch)
        m.train()
        m(torch.randn(16, 4))  # running statistics that are not the defaults
        m.eval()
        x = torch.randn(5, 4)
        with torch.no_grad():
            y = m(x)
        write(d + "/py_model.safetensors", m.state_dict(), {"format": "pt"})
        write(d + "/py_io.safetensors", {"input": x, "output": y})
        return 0
    if sys.argv[1] == "check":
        m = model(torch)
        sd = read(torch, d + "/cpp_model.safetensors")
        if set(sd) != set(m.state_dict()):
            print("keys differ:", sorted(set(sd) ^ set(m.state_dict())))
            return 1
        m.load_state_dict(sd, strict=True)
        m.eval()
        io = read(torch, d + "/cpp_io.safetensors")
        with torch.no_grad():
            y = m(io["input"])
        diff = (y - io["output"]).abs().max().item()
        print("C++ -> Python: max abs difference", diff)
        return 0 if torch.allclose(y, io["output"], rtol=1e-6, atol=1e-6) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
