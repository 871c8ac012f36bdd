"""A round's map, combine and reduce are plain functions (mr_rnn/tasks/): called
on records without mrjob, they give the inline runner's next checkpoint."""
import itertools
import subprocess
import sys

import numpy as np
import pytest

from helpers import load_arrays, sequence_records, train, write_jsonl
from mr_rnn.data.routing import Routing
from mr_rnn.data.task_input import line_records
from mr_rnn.model import Model
from mr_rnn.tasks import average_step, gradient_step
from mr_rnn.tasks.round import round_result
from mr_rnn.tasks.totals import combine, reduce_blocks

FLAGS = ['--hidden', '6', '--dtype', 'float64', '--batch-size', '8', '--lr', '0.05', '--quiet']


def shuffle(pairs):
    """(key, [values of that key]) in sorted key order, as a shuffle delivers them."""
    pairs = sorted(pairs, key=lambda kv: kv[0])
    for key, group in itertools.groupby(pairs, key=lambda kv: kv[0]):
        yield key, [value for _, value in group]


def map_reduce(map_tasks, reduce_block):
    """An in-memory MapReduce: each map task's output combined per key, then
    every key's combined packets reduced -> [(key, packet)]."""
    combined = [pair for task in map_tasks for key, packets in shuffle(task.finish())
                for pair in combine(key, packets)]
    return [pair for key, packets in shuffle(combined)
            for pair in reduce_blocks(key, packets, reduce_block)]


def fed(task, files):
    """``task`` after every record of ``files``, read as a map task reads them."""
    for path in files:
        for record in line_records(path, task.read_line):
            task.add(record)
    return task


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp('round')
    return [write_jsonl(folder / f'part-{k}.jsonl', sequence_records(40, seed=20 + k))
            for k in range(2)]


def assert_same_model(got, want):
    assert set(got.params) == set(want.params)
    for name in want.params:
        np.testing.assert_allclose(got.params[name], want.params[name], rtol=1e-12, atol=1e-15)
        assert set(got.optim_state[name]) == set(want.optim_state[name])
        for kind, value in want.optim_state[name].items():
            np.testing.assert_allclose(got.optim_state[name][kind], value, rtol=1e-12,
                                       atol=1e-15)
    assert (got.iteration, got.optim_step) == (want.iteration, want.optim_step)


def test_gradient_round_as_plain_functions_gives_the_inline_runners_checkpoint(files, tmp_path):
    run = tmp_path / 'run'
    assert train(run, files, *FLAGS, '--max-iter', '1', '--clip-norm', '0.5') == 0
    model = Model.load(str(run / 'checkpoints' / 'iter-000000.npz'))
    # --clip-norm: the reduce is two steps, every block clipped by the global norm
    first = map_reduce([fed(gradient_step.GradientMap(model, Routing()), [f]) for f in files],
                       lambda key, total: gradient_step.reduce_share_norms(model, key, total))
    second = [pair for key, packets in shuffle(first) for pair in reduce_blocks(
        key, packets, lambda k, total: gradient_step.reduce_clip_and_update(model, k, total))]
    result = round_result(dict(second), with_val=False)
    assert result.train.records == 80 and result.grad_norm > 0
    assert_same_model(result.next_model(model),
                      Model.load(str(run / 'checkpoints' / 'iter-000001.npz')))


def test_a_block_updated_and_read_back_in_slabs_is_bit_for_bit_the_whole_block(
        files, tmp_path, monkeypatch):
    """A block larger than optim.SLAB_BYTES leaves the reducer as slabs of its
    rows (tasks/gradient_step.updated_block); the driver puts them together
    into the checkpoint the whole block gives."""
    from mr_rnn.kernels import optim
    flags = [*FLAGS, '--max-iter', '2', '--optimizer', 'adam']
    assert train(tmp_path / 'whole', files, *flags) == 0
    monkeypatch.setattr(optim, 'SLAB_BYTES', 8 * 6 * 2)        # two rows of weight_hh
    model = Model.load(str(tmp_path / 'whole' / 'checkpoints' / 'iter-000000.npz'))
    pairs = map_reduce([fed(gradient_step.GradientMap(model, Routing()), files)],
                       lambda key, total: gradient_step.reduce_update(model, key, total))
    slabs = [p for k, p in pairs if k == 'rnn.weight_hh_l0']
    assert len(slabs) == len(model.params['rnn.weight_hh_l0']) // 2 > 1
    assert [p.scalars.get('start') for p in slabs] == list(range(0, 2 * len(slabs), 2))
    assert train(tmp_path / 'slabs', files, *flags) == 0
    for k in (1, 2):
        whole = load_arrays(tmp_path / 'whole' / 'checkpoints' / f'iter-00000{k}.npz')
        cut = load_arrays(tmp_path / 'slabs' / 'checkpoints' / f'iter-00000{k}.npz')
        assert whole.keys() == cut.keys()
        for name in whole:
            assert np.array_equal(whole[name], cut[name]), name


def test_average_round_as_plain_functions_gives_the_inline_runners_checkpoint(files, tmp_path):
    run = tmp_path / 'run'
    assert train(run, files, *FLAGS, '--max-iter', '1', '--mode', 'average',
                 '--local-steps', '7') == 0
    model = Model.load(str(run / 'checkpoints' / 'iter-000000.npz'))
    # inline, one core: one map task reads both files in order
    outputs = map_reduce([fed(average_step.AverageMap(model, Routing()), files)],
                         lambda key, total: average_step.reduce_average(model, key, total))
    result = round_result(dict(outputs), with_val=False)
    assert result.steps == 7 and result.grad_norm is None
    assert_same_model(result.next_model(model),
                      Model.load(str(run / 'checkpoints' / 'iter-000001.npz')))


def test_the_round_functions_import_nothing_of_mrjob():
    code = ('import sys; import mr_rnn.tasks.gradient_step, mr_rnn.tasks.average_step, '
            'mr_rnn.tasks.evaluate, mr_rnn.tasks.describe, mr_rnn.tasks.predict, '
            'mr_rnn.tasks.round, mr_rnn.data.task_input; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "mrjob"))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]'
