#!/usr/bin/python3
"""Writes fuzz/corpus/<target>/ seed files (small, valid or nearly valid inputs).
Run with Debian's python3 (numpy): /usr/bin/python3 fuzz/make_corpus.py"""
import gzip, io, json, os, struct
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
SEP = b"\n--misd-fuzz-part--\n"

def npy(a, version=None):
    f = io.BytesIO()
    if version is None:
        np.save(f, a)
    else:
        np.lib.format.write_array(f, a, version=version)
    return f.getvalue()

def put(target, name, data):
    with open(os.path.join(here, "corpus", target, name), "wb") as f:
        f.write(data)

rng = np.random.default_rng(0)
f4 = lambda *s: rng.standard_normal(s).astype(np.float32)

# NPY
put("fuzz_npy", "f4_2x3.npy", npy(f4(2, 3)))
put("fuzz_npy", "f8_vector.npy", npy(np.array([0.5, -1.0, np.inf])))
put("fuzz_npy", "i8_labels.npy", npy(np.array([0, 3, 9], dtype=np.int64)))
put("fuzz_npy", "u1_correct.npy", npy(np.array([1, 0, 1], dtype=np.uint8)))
put("fuzz_npy", "bool.npy", npy(np.array([True, False])))
put("fuzz_npy", "f4_nchw.npy", npy(f4(1, 1, 2, 2)))
put("fuzz_npy", "v2_f4.npy", npy(f4(2), version=(2, 0)))
put("fuzz_npy", "scalar_f8.npy", npy(np.float64(1.5)))
put("fuzz_npy", "fortran_1d.npy", npy(np.asfortranarray(f4(3))))

# IDX: byte 0 = mode (bit 0: the harness gzips the rest, bit 1: labels)
images = struct.pack(">IIII", 0x803, 2, 2, 2) + bytes([0, 255, 1, 2, 3, 4, 5, 6])
labels = struct.pack(">II", 0x801, 3) + bytes([0, 9, 4])
put("fuzz_idx", "images_raw", b"\x00" + images)
put("fuzz_idx", "images_gz", b"\x01" + images)
put("fuzz_idx", "labels_raw", b"\x02" + labels)
put("fuzz_idx", "labels_gz", b"\x03" + labels)
put("fuzz_idx", "images_gzip_file", b"\x00" + gzip.compress(images, mtime=0))
put("fuzz_idx", "labels_gzip_file", b"\x02" + gzip.compress(labels, mtime=0))

# MLP directories: weights_0, biases_0, weights_1, biases_1, mean, std
w0, b0, w1, b1 = f4(3, 4), f4(3), f4(2, 3), f4(2)
put("fuzz_mlp_dir", "one_layer", SEP.join([npy(w0[:2]), npy(b0[:2])]))
put("fuzz_mlp_dir", "two_layers", SEP.join([npy(w0), npy(b0), npy(w1), npy(b1)]))
put("fuzz_mlp_dir", "normalized", SEP.join([npy(w0), npy(b0), npy(w1), npy(b1),
                                            npy(np.full(4, 0.5, np.float32)),
                                            npy(np.full(4, 0.25, np.float32))]))
put("fuzz_mlp_dir", "flat", SEP.join([npy(np.zeros((2, 4), np.float32)), npy(np.zeros(2, np.float32))]))

# Sequential directories: model.json, then layer_j weight/bias pairs
lin = {"input_shape": [4], "layers": [{"type": "linear", "in": 4, "out": 3}, {"type": "relu"},
                                        {"type": "linear", "in": 3, "out": 2}]}
put("fuzz_sequential_dir", "mlp", SEP.join([json.dumps(lin).encode(), npy(w0), npy(b0), b"", b"",
                                            npy(w1), npy(b1)]))
cnn = {"format": "misd-sequential-1", "input_shape": [1, 4, 4], "layers": [
    {"type": "normalize", "mean": [0.5], "std": [0.25]},
    {"type": "conv2d", "in": 1, "out": 2, "kernel": 3, "stride": 1, "padding": 1},
    {"type": "relu"}, {"type": "maxpool2d", "kernel": 2, "stride": 2},
    {"type": "flatten"}, {"type": "linear", "in": 8, "out": 2}]}
put("fuzz_sequential_dir", "cnn", SEP.join([json.dumps(cnn).encode(), b"", b"",
                                            npy(f4(2, 1, 3, 3)), npy(f4(2)), b"", b"", b"", b"",
                                            b"", b"", npy(f4(2, 8)), npy(f4(2))]))
gap = {"input_shape": [2, 3, 3], "layers": [{"type": "global_avgpool2d"}, {"type": "flatten"},
                                            {"type": "linear", "in": 2, "out": 2}]}
put("fuzz_sequential_dir", "gap", SEP.join([json.dumps(gap).encode(), b"", b"", b"", b"",
                                            npy(f4(2, 2)), npy(f4(2))]))

# CLI arguments, NUL-separated
for name, words in {
    "score": ["--model", "m", "--inputs", "x.npy", "--method", "rr-bs", "--out", "s.npy"],
    "equals": ["--temperature=2.5", "--budget=25", "--seed", "7", "--quick"],
    "bad_number": ["--temperature", "1e400", "--budget", "12x"],
    "repeated": ["--model", "a", "--model=b"],
    "split": ["--format", "table,json,,csv", "--help"],
}.items():
    put("fuzz_cli_args", name, b"\0".join(w.encode() for w in words))
