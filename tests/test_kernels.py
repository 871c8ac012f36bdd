"""Independent tests for the numpy RNN kernels in mr_rnn.kernels.network.

The kernels are checked against tests/reference.py, a deliberately naive
float64 implementation written from PyTorch's documented equations for
torch.nn.RNN / LSTM / GRU (see the docstring there for the equations and
where they were checked), and against central finite differences.

Sizes are tiny (B=3, T=5, D=3, H=4, V=6, O=3) so the whole file runs in well
under a minute on two cores.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

from mr_rnn.kernels import network  # noqa: E402

NetworkSpec = network.NetworkSpec
Batch = network.Batch

B, T, D, H, V, O = 3, 5, 3, 4, 6, 3
CELLS = ("rnn", "lstm", "gru")
HEADS = ("per_step", "last_step")
LOSSES = ("xent", "mse")
LAYERS = (1, 2)
GATES = {"rnn": 1, "lstm": 4, "gru": 3}

MASKED_LENGTHS = (5, 3, 1)  # variable lengths, including a length-1 sequence
FULL_LENGTHS = (5, 5, 5)


# --------------------------------------------------------------------------- helpers


def make_spec(cell="lstm", head="per_step", loss="xent", layers=1, token=False):
    return NetworkSpec(
        cell=cell,
        input_size=V if token else D,
        hidden=H,
        layers=layers,
        output_size=O,
        token_input=token,
        head=head,
        loss=loss,
    )


def expected_shapes(spec):
    """Parameter names and shapes exactly as PyTorch's nn.RNN/LSTM/GRU + nn.Linear 'head'."""
    G = GATES[spec.cell]
    shapes = {}
    for k in range(spec.layers):
        d_in = spec.input_size if k == 0 else spec.hidden
        shapes[f"rnn.weight_ih_l{k}"] = (G * spec.hidden, d_in)
        shapes[f"rnn.weight_hh_l{k}"] = (G * spec.hidden, spec.hidden)
        shapes[f"rnn.bias_ih_l{k}"] = (G * spec.hidden,)
        shapes[f"rnn.bias_hh_l{k}"] = (G * spec.hidden,)
    shapes["head.weight"] = (spec.output_size, spec.hidden)
    shapes["head.bias"] = (spec.output_size,)
    return shapes


def random_params(spec, seed, scale=0.6):
    """float64 params independent of init_params, large enough to exercise the nonlinearities."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.uniform(-scale, scale, size=shape)
        for name, shape in expected_shapes(spec).items()
    }


def make_batch(spec, seed, lengths, dtype=np.float64):
    """Left-aligned batch with padding values 0, as the API specifies."""
    rng = np.random.default_rng(seed)
    nb = len(lengths)
    mask = np.zeros((nb, T), dtype=bool)
    for b, L in enumerate(lengths):
        mask[b, :L] = True
    if spec.token_input:
        x = rng.integers(0, spec.input_size, size=(nb, T)).astype(np.int64)
        x[~mask] = 0
    else:
        x = rng.normal(size=(nb, T, spec.input_size)).astype(dtype)
        x[~mask] = 0.0
    Ocls = spec.output_size
    if spec.loss == "xent":
        if spec.head == "per_step":
            y = rng.integers(0, Ocls, size=(nb, T)).astype(np.int64)
            y[~mask] = 0
        else:
            y = rng.integers(0, Ocls, size=(nb,)).astype(np.int64)
    else:
        if spec.head == "per_step":
            y = rng.normal(size=(nb, T, Ocls)).astype(dtype)
            y[~mask] = 0.0
        else:
            y = rng.normal(size=(nb, Ocls)).astype(dtype)
    return Batch(x=x, mask=mask, y=y)


def sub_batch(batch, rows, t_max=None):
    t_max = batch.mask.shape[1] if t_max is None else t_max
    return Batch(
        x=batch.x[rows, :t_max].copy(),
        mask=batch.mask[rows, :t_max].copy(),
        y=(batch.y[rows, :t_max] if batch.y.ndim >= 2 and batch.y.shape[:2] == batch.mask.shape
           else batch.y[rows]).copy(),
    )


def copy_params(params):
    return {k: np.array(v, copy=True) for k, v in params.items()}


def rel_err(a, b, floor=1e-3):
    """max|a − b| / max(max(|a| + |b|), floor) — relative error of a whole array.

    The floor only matters for arrays whose gradient is (almost) entirely zero;
    there it turns the check into an absolute one at floor * 1e-6.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a) + np.abs(b))), floor))


def kernel_loss(params, spec, batch):
    return float(network.loss_and_grads(params, spec, batch).loss_sum)


def finite_difference_grads(params, spec, batch, eps=1e-5):
    """Central differences of the kernel's loss_sum on every parameter entry."""
    p = copy_params(params)
    fd = {}
    for name, arr in p.items():
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            orig = arr[idx]
            arr[idx] = orig + eps
            lp = kernel_loss(p, spec, batch)
            arr[idx] = orig - eps
            lm = kernel_loss(p, spec, batch)
            arr[idx] = orig
            g[idx] = (lp - lm) / (2 * eps)
        fd[name] = g
    return fd


def case_id(*parts):
    return "-".join(str(p) for p in parts)


# --------------------------------------------------------------------------- 1. reference


REF_CASES = list(itertools.product(CELLS, HEADS, LOSSES, LAYERS, (False, True), (False, True)))


@pytest.mark.parametrize(
    "cell,head,loss,layers,token,masked",
    REF_CASES,
    ids=[case_id(c, h, lo, f"L{n}", "tok" if t else "dense", "masked" if m else "full")
         for c, h, lo, n, t, m in REF_CASES],
)
def test_forward_and_loss_match_naive_reference(cell, head, loss, layers, token, masked):
    spec = make_spec(cell, head, loss, layers, token)
    params = random_params(spec, seed=11)
    batch = make_batch(spec, seed=12, lengths=MASKED_LENGTHS if masked else FULL_LENGTHS)

    out = np.asarray(network.forward(params, spec, batch.x, batch.mask))
    expected = ref.forward(params, spec, batch.x, batch.mask)
    if head == "per_step":
        assert out.shape == (B, T, O)
        # Outputs at padded steps are unspecified; compare the real steps only.
        np.testing.assert_allclose(out[batch.mask], expected[batch.mask], rtol=1e-10, atol=1e-12)
    else:
        assert out.shape == (B, O)
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)

    res = network.loss_and_grads(params, spec, batch)
    ref_sum, ref_count = ref.loss(params, spec, batch)
    np.testing.assert_allclose(float(res.loss_sum), ref_sum, rtol=1e-10)
    assert int(res.count) == ref_count
    assert res.count == ref_count  # exact integer count


def test_loss_count_follows_documented_rule():
    lengths = MASKED_LENGTHS
    for head, loss, expected in [
        ("per_step", "xent", sum(lengths)),
        ("last_step", "xent", len(lengths)),
        ("per_step", "mse", sum(lengths) * O),
        ("last_step", "mse", len(lengths) * O),
    ]:
        spec = make_spec("rnn", head, loss, 1, False)
        params, batch = random_params(spec, 1), make_batch(spec, 2, lengths)
        res = network.loss_and_grads(params, spec, batch)
        assert int(res.count) == expected, (head, loss)
        # the sum is over exactly those targets: the reference's sum, from the definitions
        ref_sum, ref_count = ref.loss(params, spec, batch)
        assert ref_count == expected
        np.testing.assert_allclose(float(res.loss_sum), ref_sum, rtol=1e-10)


def test_last_step_head_uses_last_real_step_not_final_index():
    """last_step output of a padded sequence equals the output of the same sequence trimmed."""
    for cell in CELLS:
        spec = make_spec(cell, "last_step", "mse", 2, False)
        params = random_params(spec, 3)
        batch = make_batch(spec, 4, MASKED_LENGTHS)
        out = np.asarray(network.forward(params, spec, batch.x, batch.mask))
        per_step_spec = make_spec(cell, "per_step", "mse", 2, False)
        per_step = np.asarray(network.forward(params, per_step_spec, batch.x, batch.mask))
        for b, L in enumerate(MASKED_LENGTHS):
            np.testing.assert_allclose(out[b], per_step[b, L - 1], rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- 2. gradients


def _grad_cases():
    cases = []
    for cell, head, loss, layers, masked in itertools.product(
        CELLS, HEADS, LOSSES, LAYERS, (True, False)
    ):
        # Language-model case (per_step xent) with token input; dense input otherwise.
        token = head == "per_step" and loss == "xent"
        cases.append((cell, head, loss, layers, token, masked))
    # Also cover token input for a classifier and dense input for per_step xent (1 layer).
    for cell in CELLS:
        cases.append((cell, "last_step", "xent", 1, True, True))
        cases.append((cell, "per_step", "xent", 1, False, True))
    return cases


GRAD_CASES = _grad_cases()


@pytest.mark.parametrize(
    "cell,head,loss,layers,token,masked",
    GRAD_CASES,
    ids=[case_id(c, h, lo, f"L{n}", "tok" if t else "dense", "masked" if m else "full")
         for c, h, lo, n, t, m in GRAD_CASES],
)
def test_gradient_matches_finite_differences(cell, head, loss, layers, token, masked):
    """Relative error per parameter array: max|g − g_fd| / max(|g| + |g_fd|) < 1e-6 (float64)."""
    spec = make_spec(cell, head, loss, layers, token)
    params = random_params(spec, seed=21)
    batch = make_batch(spec, seed=22, lengths=MASKED_LENGTHS if masked else FULL_LENGTHS)

    res = network.loss_and_grads(params, spec, batch)
    assert set(res.grads) == set(params)
    fd = finite_difference_grads(params, spec, batch)
    errors = {}
    for name in params:
        g = np.asarray(res.grads[name])
        assert g.shape == params[name].shape, name
        errors[name] = rel_err(g, fd[name])
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, f"worst {worst}: rel err {errors[worst]:.3g}; all: {errors}"


def test_loss_and_grads_does_not_modify_params_or_batch():
    spec = make_spec("gru", "per_step", "xent", 2, True)
    params = random_params(spec, 5)
    batch = make_batch(spec, 6, MASKED_LENGTHS)
    p0 = copy_params(params)
    x0, m0, y0 = batch.x.copy(), batch.mask.copy(), batch.y.copy()
    network.loss_and_grads(params, spec, batch)
    network.forward(params, spec, batch.x, batch.mask)
    for k in p0:
        np.testing.assert_array_equal(params[k], p0[k])
    np.testing.assert_array_equal(batch.x, x0)
    np.testing.assert_array_equal(batch.mask, m0)
    np.testing.assert_array_equal(batch.y, y0)


# --------------------------------------------------------------------------- 3. padding


PAD_CASES = list(itertools.product(CELLS, HEADS, LOSSES, LAYERS, (False, True)))


@pytest.mark.parametrize(
    "cell,head,loss,layers,token",
    PAD_CASES,
    ids=[case_id(c, h, lo, f"L{n}", "tok" if t else "dense") for c, h, lo, n, t in PAD_CASES],
)
def test_padding_values_change_neither_loss_nor_grads(cell, head, loss, layers, token):
    spec = make_spec(cell, head, loss, layers, token)
    params = random_params(spec, seed=31)
    batch = make_batch(spec, seed=32, lengths=MASKED_LENGTHS)
    base = network.loss_and_grads(params, spec, batch)

    rng = np.random.default_rng(33)
    pad = ~batch.mask
    x2 = batch.x.copy()
    if token:
        x2[pad] = rng.integers(0, spec.input_size, size=int(pad.sum()))
    else:
        x2[pad] = rng.normal(scale=50.0, size=(int(pad.sum()), spec.input_size))  # large, finite
    y2 = batch.y.copy()
    if head == "per_step":
        if loss == "xent":
            y2[pad] = rng.integers(0, spec.output_size, size=int(pad.sum()))
        else:
            y2[pad] = rng.normal(scale=50.0, size=(int(pad.sum()), spec.output_size))
    assert not np.array_equal(x2, batch.x)
    changed = Batch(x=x2, mask=batch.mask.copy(), y=y2)
    res = network.loss_and_grads(params, spec, changed)

    assert np.isfinite(float(res.loss_sum))
    np.testing.assert_allclose(float(res.loss_sum), float(base.loss_sum), rtol=1e-12, atol=0)
    assert int(res.count) == int(base.count)
    for name in params:
        np.testing.assert_allclose(
            res.grads[name], base.grads[name], rtol=1e-12, atol=1e-14, err_msg=name
        )

    out1 = np.asarray(network.forward(params, spec, batch.x, batch.mask))
    out2 = np.asarray(network.forward(params, spec, changed.x, changed.mask))
    if head == "per_step":
        np.testing.assert_allclose(out2[batch.mask], out1[batch.mask], rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_allclose(out2, out1, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- 4. batch independence


BATCH_CASES = list(itertools.product(CELLS, HEADS, LOSSES, (False, True)))


@pytest.mark.parametrize(
    "cell,head,loss,token",
    BATCH_CASES,
    ids=[case_id(c, h, lo, "tok" if t else "dense") for c, h, lo, t in BATCH_CASES],
)
def test_batch_loss_and_grads_equal_sum_over_single_sequences(cell, head, loss, token):
    spec = make_spec(cell, head, loss, 2, token)
    params = random_params(spec, seed=41)
    batch = make_batch(spec, seed=42, lengths=MASKED_LENGTHS)
    full = network.loss_and_grads(params, spec, batch)

    for trim in (False, True):
        total = 0.0
        count = 0
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        for b, L in enumerate(MASKED_LENGTHS):
            # trim=True also drops the padding columns (T = length of that sequence).
            single = sub_batch(batch, [b], t_max=L if trim else None)
            r = network.loss_and_grads(params, spec, single)
            total += float(r.loss_sum)
            count += int(r.count)
            for k in grads:
                grads[k] += np.asarray(r.grads[k], dtype=np.float64)
        np.testing.assert_allclose(total, float(full.loss_sum), rtol=1e-10)
        assert count == int(full.count)
        for k in params:
            np.testing.assert_allclose(
                grads[k], full.grads[k], rtol=1e-10, atol=1e-13, err_msg=f"{k} trim={trim}"
            )


@pytest.mark.parametrize(
    "cell,head,loss,token",
    BATCH_CASES,
    ids=[case_id(c, h, lo, "tok" if t else "dense") for c, h, lo, t in BATCH_CASES],
)
def test_rows_of_any_lengths_in_any_order_give_the_sum_over_single_sequences(
        cell, head, loss, token):
    # unsorted lengths with padding: loss_and_grads sorts the rows and skips the
    # recurrent products of ended rows; a row alone (trimmed) has no padding
    lengths = (2, 5, 1, 3, 5)
    spec = make_spec(cell, head, loss, 2, token)
    params = random_params(spec, seed=43)
    batch = make_batch(spec, seed=44, lengths=lengths)
    full = network.loss_and_grads(params, spec, batch)
    assert network.longest_first(batch)[1] == [5, 4, 3, 2, 2]
    singles = [network.loss_and_grads(params, spec, sub_batch(batch, [b], t_max=L))
               for b, L in enumerate(lengths)]
    np.testing.assert_allclose(full.loss_sum, sum(r.loss_sum for r in singles), rtol=1e-10)
    assert full.count == sum(r.count for r in singles)
    for k in params:
        np.testing.assert_allclose(full.grads[k], sum(r.grads[k] for r in singles),
                                   rtol=1e-10, atol=1e-13, err_msg=k)


# --------------------------------------------------------------------------- 5. init_params


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("token", (False, True), ids=("dense", "tok"))
def test_init_params_names_and_shapes_match_pytorch(cell, token):
    spec = make_spec(cell, "per_step", "xent", 2, token)
    params = network.init_params(spec, 0)
    shapes = expected_shapes(spec)
    assert set(params) == set(shapes)
    for name, shape in shapes.items():
        assert tuple(params[name].shape) == shape, name
        assert np.all(np.isfinite(params[name])), name


@pytest.mark.parametrize("cell", CELLS)
def test_init_params_dtype_defaults_to_float32_and_honours_float64(cell):
    spec = make_spec(cell, "last_step", "mse", 2, False)
    p32 = network.init_params(spec, 0)
    p32b = network.init_params(spec, 0, dtype=np.float32)
    p64 = network.init_params(spec, 0, dtype=np.float64)
    for name in expected_shapes(spec):
        assert p32[name].dtype == np.float32, name
        assert p32b[name].dtype == np.float32, name
        assert p64[name].dtype == np.float64, name


@pytest.mark.parametrize("cell", CELLS)
def test_init_params_deterministic_for_seed_and_different_across_seeds(cell):
    spec = make_spec(cell, "per_step", "xent", 2, True)
    a = network.init_params(spec, 123)
    b = network.init_params(spec, 123)
    c = network.init_params(spec, 124)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # Different seeds: every weight matrix differs (biases may be a constant init).
    for name in a:
        if "weight" in name:
            assert not np.array_equal(a[name], c[name]), name
    # Weights are not degenerate (all-equal / all-zero would make hidden units symmetric).
    for name in a:
        if "weight" in name:
            assert np.std(a[name]) > 0, name


# --------------------------------------------------------------------------- 6. float32


F32_CASES = [
    ("rnn", "per_step", "xent", True),
    ("lstm", "per_step", "xent", True),
    ("gru", "per_step", "xent", True),
    ("rnn", "last_step", "mse", False),
    ("lstm", "last_step", "xent", False),
    ("gru", "per_step", "mse", False),
]


@pytest.mark.parametrize(
    "cell,head,loss,token", F32_CASES, ids=[case_id(*c) for c in F32_CASES]
)
def test_float32_loss_and_grads_finite_and_close_to_float64(cell, head, loss, token):
    spec = make_spec(cell, head, loss, 2, token)
    p32 = network.init_params(spec, 7, dtype=np.float32)
    # Make the test non-trivial even if init is small: add a float32 random offset.
    rnd = random_params(spec, 8, scale=0.3)
    p32 = {k: (p32[k] + rnd[k].astype(np.float32)).astype(np.float32) for k in p32}
    p64 = {k: v.astype(np.float64) for k, v in p32.items()}
    b32 = make_batch(spec, 9, MASKED_LENGTHS, dtype=np.float32)
    b64 = Batch(
        x=b32.x if token else b32.x.astype(np.float64),
        mask=b32.mask,
        y=b32.y if loss == "xent" else b32.y.astype(np.float64),
    )
    r32 = network.loss_and_grads(p32, spec, b32)
    r64 = network.loss_and_grads(p64, spec, b64)

    assert np.isfinite(float(r32.loss_sum))
    np.testing.assert_allclose(float(r32.loss_sum), float(r64.loss_sum), rtol=1e-3)
    assert int(r32.count) == int(r64.count)
    for name in p32:
        g32 = np.asarray(r32.grads[name])
        g64 = np.asarray(r64.grads[name])
        assert g32.shape == g64.shape, name
        assert np.all(np.isfinite(g32)), name
        # Elementwise rtol 1e-3, with an absolute slack of 1e-3 of the array's scale for
        # entries that are near zero through cancellation.
        scale = max(float(np.max(np.abs(g64))), 1e-6)
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-3 * scale, err_msg=name)

    out32 = np.asarray(network.forward(p32, spec, b32.x, b32.mask))
    assert np.all(np.isfinite(out32[b32.mask] if head == "per_step" else out32))
