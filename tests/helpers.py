"""Small helpers shared by the tests that drive whole training runs."""
import json
import os
import threading

import numpy as np

from mr_rnn.cli import main
from mr_rnn.kernels.network import init_params
from mr_rnn.model import Model


def write_jsonl(path, records):
    with open(path, 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')
    return str(path)


def sequence_records(n, seed=0, dim=3, classes=4, max_len=7):
    """Variable-length dense sequences with a class label: exercises masking."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        T = int(rng.integers(1, max_len + 1))
        x = rng.normal(size=(T, dim)).round(6).tolist()
        records.append({'id': f'r{i}', 'x': x, 'y': int(rng.integers(classes))})
    return records


def train(run_dir, inputs, *flags):
    """mr-rnn train in-process; returns the exit code."""
    return main(['train', *inputs, '--out', str(run_dir), *flags])


def load_arrays(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k != '__meta__'}


def max_relative_difference(a, b):
    assert a.keys() == b.keys()
    worst = 0.0
    for name in a:
        scale = max(np.abs(a[name]).max(), np.abs(b[name]).max(), 1e-300)
        worst = max(worst, float(np.abs(a[name] - b[name]).max() / scale))
    return worst


def metrics(run_dir):
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f]


def write_vocab_documents(path, n=300, seed=3):
    """Documents of a long-tailed vocabulary with many ties of count, labelled
    by class name: a vocabulary that any runner's split and reducers could get
    wrong (docs/design.md §3.8)."""
    rng = np.random.default_rng(seed)
    words = [f'w{i}' for i in range(2000)]
    with open(path, 'w') as f:
        for i in range(n):
            top = int(rng.choice([20, 200, 2000]))
            text = ' '.join(words[int(j)] for j in rng.integers(0, top, int(rng.integers(1, 30))))
            f.write(json.dumps({'x': text + ' .', 'y': 'ab'[i % 2]}) + '\n')
    return str(path)


# describe the data and stop: the checkpoint iter-000000 holds its schema
VOCAB_FLAGS = ['--max-iter', '0', '--hidden', '2', '--embed', '2', '--max-vocab', '300',
               '--dtype', 'float64']


def text_schema_of(run_dir):
    """(vocabulary, class names, tokenizer settings) a run's describe job learned."""
    with np.load(os.path.join(run_dir, 'checkpoints', 'iter-000000.npz'),
                 allow_pickle=False) as npz:
        schema = json.loads(npz['__meta__'].tobytes())['schema']
    return schema['vocab'], schema['classes'], schema['tokens']


def random_model(config, schema, seed=0, scale=0.8):
    """A model of ``config`` and ``schema`` with weights drawn uniformly from
    [-scale, scale], in its own dtype: outputs far from the initial weights'."""
    model = Model.initial(config, schema)
    rng = np.random.default_rng(seed)
    model.params = {n: rng.uniform(-scale, scale, p.shape).astype(p.dtype)
                    for n, p in model.params.items()}
    return model


def free_when_ended(proc, fifo):
    """If the driver ends while a test waits for a task held on ``fifo``
    (MR_RNN_TEST_HOLD_TASK), open the fifo's other end ourselves, so that the
    wait ends (and the test fails on proc.poll())."""
    def watch():
        proc.wait()
        fds.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    fds = []
    threading.Thread(target=watch, daemon=True).start()
    return fds


def uniform_params(spec, seed, bound):
    """A network's float64 weights drawn uniform in ±bound: larger than the
    initial ones, so that every gate and head output is far from trivial."""
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(-bound, bound, p.shape)
            for name, p in init_params(spec, 0, np.float64).items()}
