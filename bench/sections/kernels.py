"""Kernel throughput: tokens/s of one layer forward + backward (float32,
T = 50) for RNN, LSTM and GRU at H 128/256/512 and B 32/256, against
torch.nn's cells when torch is importable, and as a fraction of the float32
matmul peak measured between the repetitions."""
import numpy as np

from measure import heading, interleaved, verdict

SHAPES = [(128, 32), (128, 256), (256, 32), (256, 256), (512, 32), (512, 256)]   # (H, B)
GATES = {'rnn': 1, 'lstm': 4, 'gru': 3}
# the targets: ours / torch at least this, at H 128 and at H >= 256
NEED = {False: 0.6, True: 0.8}


def layer_flops(G, H, D, B, T):
    """Multiply-adds x2 of one layer's forward + backward without dx:
    input projection, recurrent products forward and backward, dW_ih, dW_hh."""
    return 2.0 * T * B * G * (2 * D + 3 * H)


def matmul_peak_call(n):
    a = np.random.default_rng(1).random((n, n), dtype=np.float32)
    b = np.random.default_rng(2).random((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    return (lambda: np.matmul(a, b, out=out)), 2.0 * n ** 3


def numpy_layer(cell, H, B, T):
    from mr_rnn.kernels import cells, network
    spec = network.NetworkSpec(cell, H, H, 1, 1, False, 'per_step', 'mse')
    p = network.init_params(spec, 0, np.float32)
    x = np.random.default_rng(0).standard_normal((T, B, H)).astype(np.float32)
    dh = np.random.default_rng(1).standard_normal((T, B, H)).astype(np.float32)
    w_hh, b_hh = p['rnn.weight_hh_l0'], p['rnn.bias_hh_l0']

    def run():
        # as network.loss_and_grads does it: dW_ih in one product per gate
        xp = network._input_projection(p, spec, 0, x)
        _, cache, _ = cells.layer_forward(cell, xp, w_hh, b_hh)
        dxp, dw_hh, db_hh = cells.layer_backward(cell, dh, cache, w_hh)
        dxp3 = dxp.reshape(dxp.shape[0], T * B, H)
        return np.matmul(dxp3.transpose(0, 2, 1), x.reshape(T * B, H)), dxp3.sum(axis=1)
    return run


def torch_layer(torch, cell, H, B, T):
    cls = {'rnn': torch.nn.RNN, 'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}[cell]
    module = cls(H, H)                                   # (T, B, H) layout, float32
    x = torch.randn(T, B, H)
    dh = torch.randn(T, B, H)

    def run():
        module.zero_grad(set_to_none=True)
        out, _ = module(x)
        out.backward(dh)
    return run


def measure(ctx):
    shapes = [(16, 4)] if ctx.smoke else SHAPES
    T = 5 if ctx.smoke else 50
    peak_call, peak_flops = matmul_peak_call(128 if ctx.smoke else 1024)
    rows = []
    for cell in GATES:
        for H, B in shapes:
            funcs = [numpy_layer(cell, H, B, T), peak_call]
            if ctx.torch is not None:
                funcs.append(torch_layer(ctx.torch, cell, H, B, T))
            for f in funcs:
                f()                                      # warm up
            flops = layer_flops(GATES[cell] * H, H, H, B, T)
            reps = 2 if ctx.smoke else max(3, min(15, int(2e10 / flops) + 1))
            times = interleaved(funcs, reps)
            row = {'cell': cell, 'H': H, 'B': B, 'T': T, 'reps': reps,
                   'tok_s': B * T / times[0], 'gflops': flops / times[0] / 1e9,
                   'peak_gflops': peak_flops / times[1] / 1e9}
            row['of_peak'] = row['gflops'] / row['peak_gflops']
            if ctx.torch is not None:
                row['torch_tok_s'] = B * T / times[2]
                row['vs_torch'] = times[2] / times[0]
            rows.append(row)
            print(f"  kernel {cell} H={H} B={B}: {row['tok_s']:.0f} tok/s, "
                  f"{row['of_peak']:.2f} of peak" +
                  (f", {row['vs_torch']:.2f}x torch" if 'vs_torch' in row else ''), flush=True)
    return rows


def targets(rows):
    out = []
    for cell in ('lstm', 'gru'):
        for big, need in NEED.items():
            sel = [r for r in rows if r['cell'] == cell and (r['H'] >= 256) == big]
            if not sel:
                continue
            what = f"{cell.upper()} H {'≥ 256' if big else '128'}: ≥ {need}× torch"
            if 'vs_torch' in sel[0]:
                worst = min(r['vs_torch'] for r in sel)
                out.append((what, f'worst {worst:.2f}×', verdict(worst >= need)))
            else:
                worst = min(r['of_peak'] for r in sel)
                out.append((what, f'torch absent; worst {worst:.2f} of matmul peak',
                            'not measured'))
    return out


def markdown(rows):
    torch_present = 'vs_torch' in rows[0]
    lines = heading('Kernel throughput (one layer, forward + backward, float32, T = '
                    f"{rows[0]['T']}, input size = H)")
    if not torch_present:
        lines += ['torch is **not importable** here, so there is no torch column: throughput '
                  'is given as a fraction of the float32 matmul peak, measured between the '
                  'kernel repetitions (n × n @ n × n).', '']
    lines += ['| cell | H | B | tokens/s | GFLOP/s | of matmul peak | torch tokens/s | ours / torch |',
              '|---|---|---|---|---|---|---|---|']
    for r in rows:
        t = f"{r['torch_tok_s']:.0f} | {r['vs_torch']:.2f}" if torch_present else 'absent | —'
        lines.append(f"| {r['cell']} | {r['H']} | {r['B']} | {r['tok_s']:.0f} | {r['gflops']:.1f} | "
                     f"{r['of_peak']:.2f} (peak {r['peak_gflops']:.0f}) | {t} |")
    return lines
