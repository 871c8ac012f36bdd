"""Average mode's arithmetic, against a computation by hand: two map tasks with
known data each take their own SGD-with-momentum steps from the broadcast
weights; the round's result is every task's weights and momentum buffer
averaged with the task's number of targets as its weight."""
import gzip

import numpy as np

from helpers import sequence_records, write_jsonl
from mr_rnn.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig
from mr_rnn.data.batching import make_batch
from mr_rnn.data.records import Sequence
from mr_rnn.data.schema import DataSchema
from mr_rnn.driver.runner import run_job
from mr_rnn.jobs.mr_average_step import MRAverageStep
from mr_rnn.tasks.totals import STATS_KEY
from mr_rnn.kernels.network import loss_and_grads
from mr_rnn.model import Model

LR, MU, BATCH = 0.1, 0.9, 4


def by_hand(model, records):
    """One task: momentum SGD (torch's: b = mu b + g; p -= lr b) over its
    mini-batches of BATCH records, g the batch's mean gradient, one pass in the
    order of the permutation of pass 0 that LocalTraining documents (seeded by
    (seed, pass))."""
    p = {n: a.astype(np.float64).copy() for n, a in model.params.items()}
    b = {n: np.zeros_like(a) for n, a in p.items()}
    batches = [records[start:start + BATCH] for start in range(0, len(records), BATCH)]
    order = np.random.default_rng([model.config.seed, 0, 0x0DE]).permutation(len(batches))
    targets = 0
    for i in order:
        seqs = [Sequence(np.array(r['x']), np.array(r['y'])) for r in batches[i]]
        batch = make_batch(seqs, False, False, np.float64)
        result = loss_and_grads(p, model.spec, batch)
        targets += result.count
        for n in p:
            b[n] = MU * b[n] + result.grads[n] / result.count
            p[n] = p[n] - LR * b[n]
    return p, b, targets


def test_average_mode_weights_and_state_are_the_target_weighted_average_of_two_tasks(tmp_path):
    first = sequence_records(6, seed=1, dim=2, classes=3)
    second = sequence_records(10, seed=2, dim=2, classes=3)
    paths = []
    for name, records in (('a', first), ('b', second)):     # gzip: a file is never split,
        plain = write_jsonl(tmp_path / f'{name}.jsonl', records)   # so one map task each
        with open(plain, 'rb') as f, gzip.open(f'{plain}.gz', 'wb') as z:
            z.write(f.read())
        paths.append(f'{plain}.gz')
    config = TrainConfig(model=ModelConfig(cell='gru', hidden=3, dtype='float64'),
                         data=DataConfig(format='jsonl'), batch_size=BATCH, mode='average',
                         optimizer=OptimizerConfig(name='momentum', lr=LR, momentum=MU),
                         # plain averaging: the outer optimizer's special case SGD with lr 1,
                         # the inner state averaged too, one pass over each shard
                         outer_optimizer='sgd', outer_lr=1.0, inner_state='average',
                         local_epochs=1.0)
    model = Model.initial(config, DataSchema('jsonl', 'classify', False, 2, False, 3))
    checkpoint = str(tmp_path / 'iter-000000.npz')
    model.save(checkpoint)

    output, _ = run_job(MRAverageStep, ['--format', 'jsonl', '--checkpoint', checkpoint, *paths],
                        ['-r', 'local'])
    blocks = dict(output)
    stats = blocks.pop(STATS_KEY).scalars

    p1, b1, n1 = by_hand(model, first)
    p2, b2, n2 = by_hand(model, second)
    assert (n1, n2) == (6, 10) and stats['count'] == 16
    assert stats['max_steps'] == 3          # ceil(10 / 4) steps in the larger task
    assert set(blocks) == set(model.params)
    for name, block in blocks.items():
        expected_param = (n1 * p1[name] + n2 * p2[name]) / (n1 + n2)
        expected_buffer = (n1 * b1[name] + n2 * b2[name]) / (n1 + n2)
        np.testing.assert_allclose(block.arrays['param'], expected_param, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(block.arrays['optim.momentum_buffer'], expected_buffer,
                                   rtol=1e-12, atol=1e-15)
        # and it is neither task's result, nor their plain mean
        for other in (p1[name], p2[name], (p1[name] + p2[name]) / 2):
            assert not np.allclose(block.arrays['param'], other, rtol=1e-6, atol=0)

