"""Seedable noise for ONNX models: each ``RandomNormalLike`` becomes a table look-up.

VITS voices (Piper) draw their noise inside the graph with ``RandomNormalLike``.
onnxruntime seeds that kernel's generator once, when the session is created, and advances
it on every run, so no attribute value makes a *request* reproducible: the audio depends on
how many runs the session did before, and on their order across threads. So at load time
the graph is rewritten in memory (the bundle's files and digest stay as they are): every
``RandomNormalLike(X)`` becomes

    Reshape(Gather(TABLE, (Range(0, Size(X)) + offset + k_i) mod N), Shape(X)) * scale + mean

where ``TABLE`` is a constant of ``N`` standard-normal floats drawn once with numpy from a
fixed seed, ``offset`` a new int64 scalar graph input (:data:`NOISE_INPUT`) and ``k_i`` a
fixed per-node shift so two noise nodes never read the same stretch. The caller picks the
offset for each run: from a hash of (request seed, piece, run) for a seeded request, at
random otherwise — so a seed gives bit-identical audio, and no seed gives fresh noise per
piece as before. A noise tensor longer than ``N`` values (minutes of audio in one piece,
far beyond a piece's limit) would repeat the table; nothing audible comes of it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

__all__ = ["NOISE_INPUT", "TABLE_SIZE", "noise_offset", "seedable_model"]

NOISE_INPUT = "ttsops_noise_offset"
"""Name of the int64 scalar input that selects where in the noise table a run reads."""

TABLE_SIZE = 1 << 20
"""Standard-normal values in the table (4 MiB as float32)."""

_TABLE_SEED = 20240610
_SHIFT = 0x9E3779B9  # golden-ratio step: node shifts spread over the table
_PREFIX = "ttsops_noise"


def noise_offset(seed: int | None, piece: int, run: int) -> int:
    """Where run ``run`` of piece ``piece`` reads the table: hashed from ``seed``, else random."""
    if seed is None:
        return secrets.randbelow(TABLE_SIZE)
    digest = hashlib.blake2b(f"{seed}/{piece}/{run}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % TABLE_SIZE


def seedable_model(proto: Any) -> int:
    """Rewrite the ``RandomNormalLike`` nodes of ``proto`` (an ``onnx.ModelProto``) in place.

    Returns how many were replaced; when it is 0 the model is unchanged and has no
    :data:`NOISE_INPUT` input. Only the main graph is searched (VITS has no subgraphs).
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    targets = [
        n for n in graph.node if n.op_type == "RandomNormalLike" and n.domain in ("", "ai.onnx")
    ]
    if not targets:
        return 0
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    table = np.random.default_rng(_TABLE_SEED).standard_normal(TABLE_SIZE, dtype=np.float32)
    graph.initializer.extend(
        [
            numpy_helper.from_array(table, f"{_PREFIX}/table"),
            numpy_helper.from_array(np.array(TABLE_SIZE, dtype=np.int64), f"{_PREFIX}/n"),
            numpy_helper.from_array(np.array(1, dtype=np.int64), f"{_PREFIX}/one"),
        ]
    )
    graph.input.append(helper.make_tensor_value_info(NOISE_INPUT, TensorProto.INT64, []))
    replaced: dict[int, list[Any]] = {}
    for i, node in enumerate(targets):
        replaced[id(node)] = _table_noise(node, i, opset)
    new_nodes: list[Any] = []
    for node in graph.node:
        new_nodes.extend(replaced.get(id(node), [node]))
    del graph.node[:]
    graph.node.extend(new_nodes)
    return len(targets)


def _table_noise(node: Any, index: int, opset: int) -> list[Any]:
    """The nodes that compute node ``index``'s noise from the table, same output name."""
    from onnx import TensorProto, helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    mean = float(attrs.get("mean", 0.0))
    scale = float(attrs.get("scale", 1.0))
    dtype = attrs.get("dtype")
    src, out = node.input[0], node.output[0]
    p = f"{_PREFIX}/{index}"
    shift = (index * _SHIFT) % TABLE_SIZE
    nodes = [
        helper.make_node(
            "Constant",
            [],
            [f"{p}/shift"],
            value=helper.make_tensor(f"{p}/shift_value", TensorProto.INT64, [], [shift]),
        ),
        helper.make_node("Add", [NOISE_INPUT, f"{p}/shift"], [f"{p}/start"]),
        helper.make_node("Size", [src], [f"{p}/size"]),
        helper.make_node("Shape", [src], [f"{p}/shape"]),
        helper.make_node("Add", [f"{p}/start", f"{p}/size"], [f"{p}/limit"]),
        helper.make_node("Range", [f"{p}/start", f"{p}/limit", f"{_PREFIX}/one"], [f"{p}/raw"]),
        helper.make_node("Mod", [f"{p}/raw", f"{_PREFIX}/n"], [f"{p}/idx"]),
        helper.make_node("Gather", [f"{_PREFIX}/table", f"{p}/idx"], [f"{p}/flat"], axis=0),
        helper.make_node("Reshape", [f"{p}/flat", f"{p}/shape"], [f"{p}/normal"]),
    ]
    value = f"{p}/normal"
    if scale != 1.0:
        nodes.append(_scalar(f"{p}/scale", scale))
        nodes.append(helper.make_node("Mul", [value, f"{p}/scale"], [f"{p}/scaled"]))
        value = f"{p}/scaled"
    if mean != 0.0:
        nodes.append(_scalar(f"{p}/mean", mean))
        nodes.append(helper.make_node("Add", [value, f"{p}/mean"], [f"{p}/shifted"]))
        value = f"{p}/shifted"
    if dtype is not None and int(dtype) != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [value], [out], to=int(dtype)))
    elif dtype is None and opset >= 15:  # no dtype: the output takes the input's type
        nodes.append(helper.make_node("CastLike", [value, src], [out]))
    else:
        nodes.append(helper.make_node("Identity", [value], [out]))
    return nodes


def _scalar(name: str, value: float) -> Any:
    from onnx import TensorProto, helper

    return helper.make_node(
        "Constant",
        [],
        [name],
        value=helper.make_tensor(f"{name}_value", TensorProto.FLOAT, [], [value]),
    )
