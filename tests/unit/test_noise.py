"""Seedable noise: ``RandomNormalLike`` nodes rewritten into table look-ups at an offset."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ttsops.engines.noise import NOISE_INPUT, TABLE_SIZE, noise_offset, seedable_model


def _model(**attrs: Any) -> Any:
    """A graph ``x -> RandomNormalLike(x, **attrs) -> y`` plus a pass-through ``x2``."""
    from onnx import TensorProto, helper

    dtype = attrs.get("dtype", TensorProto.FLOAT)
    node = helper.make_node("RandomNormalLike", ["x"], ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "noise",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3000])],
        [helper.make_tensor_value_info("y", dtype, [None, 3000])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)


def _run(proto: Any, offset: int, rows: int = 2) -> Any:
    import onnxruntime

    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    x = np.zeros((rows, 3000), dtype=np.float32)
    return session.run(None, {"x": x, NOISE_INPUT: np.array(offset, dtype=np.int64)})[0]


def test_same_offset_same_noise_other_offset_other_noise() -> None:
    """The rewritten node gives the same values for an offset, different ones for another."""
    proto = _model()
    assert seedable_model(proto) == 1
    a, b, c = _run(proto, 10), _run(proto, 10), _run(proto, 11)
    assert a.shape == (2, 3000) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(a.ravel()[1:], c.ravel()[:-1])  # one step along the same table


def test_mean_scale_and_dtype_are_respected() -> None:
    """``mean``, ``scale`` and ``dtype`` of the node shape the noise as onnxruntime would."""
    from onnx import TensorProto

    proto = _model(mean=5.0, scale=0.1, dtype=TensorProto.DOUBLE)
    seedable_model(proto)
    y = _run(proto, 0, rows=10)
    assert y.dtype == np.float64
    assert abs(float(y.mean()) - 5.0) < 0.01
    assert abs(float(y.std()) - 0.1) < 0.01


def test_the_table_wraps_around() -> None:
    """An offset near the end of the table wraps to its start instead of failing."""
    proto = _model()
    seedable_model(proto)
    y = _run(proto, TABLE_SIZE - 5)
    assert np.array_equal(y.ravel()[5:10], _run(proto, 0).ravel()[:5])


def test_a_model_without_noise_is_left_alone() -> None:
    """A graph with no ``RandomNormalLike`` is unchanged and gains no offset input."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    proto = helper.make_model(graph, ir_version=8)
    before = proto.SerializeToString()
    assert seedable_model(proto) == 0
    assert proto.SerializeToString() == before


@pytest.mark.parametrize("seed", [0, 1, -3, 2**70])
def test_offsets_follow_the_seed(seed: int) -> None:
    """A seed always maps a (piece, run) to the same offset in the table; pieces differ."""
    offsets = {noise_offset(seed, piece, 0) for piece in range(20)}
    assert noise_offset(seed, 3, 0) == noise_offset(seed, 3, 0)
    assert len(offsets) == 20
    assert all(0 <= o < TABLE_SIZE for o in offsets)


def test_no_seed_gives_fresh_offsets() -> None:
    """Without a seed the offset is drawn at random each time."""
    assert len({noise_offset(None, 0, 0) for _ in range(20)}) > 15
