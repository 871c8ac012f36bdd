"""When a run stops: no progress counted from the best loss, divergence only
for NaN, inf or a sustained blow-up, and a final line that names the rule."""
import math
import os

import numpy as np
import pytest

from helpers import metrics, sequence_records, train, write_jsonl
from mr_rnn.config import TrainConfig
from mr_rnn.config import PATIENCE_FULL_BATCH, PATIENCE_NOISY
from mr_rnn.driver.stopping import effective_patience
from mr_rnn.driver.train import Trainer


def rows(losses, val=None):
    return [{'iteration': i, 'train_loss': loss, 'val_loss': None if val is None else val[i]}
            for i, loss in enumerate(losses)]


def first_stop(losses, config):
    """The number of rows after which should_stop first gives a reason (None: never)."""
    for n in range(1, len(losses) + 1):
        reason = Trainer.should_stop(rows(losses[:n]), config)
        if reason:
            return n, reason
    return None, None


def test_a_noisy_plateau_does_not_stop_before_the_patience_counted_from_the_best():
    rng = np.random.default_rng(0)
    # falls to its best (0.5) at round 10, then noise around 0.52 that never beats it:
    # every other round looks like progress to a round-to-round rule
    falling = list(np.linspace(1.0, 0.5, 11))
    noisy = list(0.52 + 0.015 * np.sin(np.arange(40) * 2.5) + 0.002 * rng.random(40))
    assert min(noisy) > 0.5
    losses = falling + noisy
    for patience in (3, 7, 15):
        config = TrainConfig(tol=1e-4, patience=patience)
        n, reason = first_stop(losses, config)
        assert n - 1 == 10 + patience                # exactly `patience` rounds after the best
        assert f'for {patience} rounds since round 10' in reason
        assert 'best 0.5000' in reason


def test_improvements_smaller_than_tol_add_up_until_they_count():
    # 0.1 % better every round: each step is below tol 0.5 %, five of them are not
    losses = [1.0 * 0.999 ** k for k in range(30)]
    n, reason = first_stop(losses, TrainConfig(tol=5e-3, patience=8))
    assert n is None, reason
    # and when the creep is slower than tol over the whole patience, it stops
    flat = [1.0 * 0.9999 ** k for k in range(30)]
    n, _ = first_stop(flat, TrainConfig(tol=5e-3, patience=8))
    assert n == 9


def test_validation_loss_is_judged_when_there_is_one():
    train_losses = [1.0 - 0.01 * k for k in range(12)]          # always improving
    val = [1.0, 0.8, 0.7] + [0.75] * 9                          # best at round 2
    config = TrainConfig(patience=4)
    assert Trainer.should_stop(rows(train_losses[:6], val[:6]), config) is None
    reason = Trainer.should_stop(rows(train_losses[:7], val[:7]), config)
    assert reason.startswith('no improvement of the val loss') and 'since round 2' in reason


def test_default_patience_is_longer_for_noisy_rounds():
    assert effective_patience(TrainConfig()) == PATIENCE_FULL_BATCH
    assert effective_patience(TrainConfig(sample_fraction=0.5)) == PATIENCE_NOISY
    assert effective_patience(TrainConfig(mode='average')) == PATIENCE_NOISY
    assert effective_patience(TrainConfig(mode='average', patience=2)) == 2
    assert PATIENCE_NOISY > PATIENCE_FULL_BATCH >= 10


def test_a_spike_that_recovers_is_not_divergence():
    config = TrainConfig()                    # factor 10, 3 rounds in a row
    before = [0.69, 0.3, 0.05, 0.01, 0.004]
    # an Adam spike from 0.004 to 0.75 (190x the best, above the first loss) for two rounds
    assert Trainer.diverged(0.75, rows(before), config) == 0
    assert Trainer.diverged(0.9, rows(before + [0.75]), config) == 0
    assert Trainer.diverged(0.02, rows(before + [0.75, 0.9]), config) == 0     # recovered
    # the same spike lasting a third round is a blow-up
    assert Trainer.diverged(0.8, rows(before + [0.75, 0.9]), config) == 3
    # far above the best but not above the untrained model's loss is never one
    assert Trainer.diverged(0.6, rows(before + [0.6] * 6), config) == 0


def test_a_sustained_blow_up_is_divergence_and_says_how_long():
    config = TrainConfig()
    history = rows([2.0, 1.0, 0.5, 30.0, 40.0])      # 30 > max(10 x 0.5, 2.0)
    assert Trainer.diverged(50.0, history, config) == 3
    assert Trainer.diverged(50.0, history, TrainConfig(divergence_rounds=1)) == 3
    assert Trainer.diverged(0.6, history, config) == 0


@pytest.mark.parametrize('loss', [math.nan, math.inf, -math.inf])
def test_nan_or_inf_is_divergence_at_once(loss):
    assert Trainer.diverged(loss, rows([1.0, 0.5]), TrainConfig()) == 1
    assert Trainer.diverged(loss, [], TrainConfig()) == 1


def _data(tmp_path):
    return write_jsonl(tmp_path / 'd.jsonl', sequence_records(24, seed=4))


def test_the_final_line_names_max_iter(tmp_path, capsys):
    assert train(tmp_path / 'run', [_data(tmp_path)], '--hidden', '4', '--max-iter', '2') == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith('done: loss') and 'stopped because --max-iter 2 reached' in out[-1]


def test_the_final_line_names_the_target_loss(tmp_path, capsys):
    assert train(tmp_path / 'run', [_data(tmp_path)], '--hidden', '4', '--max-iter', '5',
                 '--target-loss', '100') == 0
    out = capsys.readouterr().out.splitlines()
    assert 'stopped because target loss 100 reached (train loss' in out[-1]


def test_a_real_run_stops_after_the_patience_since_its_best_and_says_so(tmp_path, capsys):
    # a learning rate too small to move the loss by 5 % in any round: a plateau
    assert train(tmp_path / 'run', [_data(tmp_path)], '--hidden', '4', '--max-iter', '30',
                 '--lr', '1e-5', '--tol', '0.05', '--patience', '4') == 0
    out = capsys.readouterr().out.splitlines()
    history = metrics(tmp_path / 'run')
    assert len(history) == 6            # rounds 0..4 trained, then the final evaluation
    assert ('stopped because no improvement of the train loss by more than --tol 0.05 for 4 '
            'rounds since round 0 (best ') in out[-1]


@pytest.mark.parametrize('on_divergence', ['halve-lr', 'stop'])
def test_a_sustained_blow_up_goes_back_past_pruned_checkpoints(tmp_path, on_divergence):
    """With --keep-checkpoints 2 the checkpoint k-3 that a 3-round blow-up goes
    back to is gone: recovery uses the newest kept one before it (iter-000000)."""
    from mr_rnn.data.schema import DataSchema
    from mr_rnn.driver.train import Trainer, TrainingStopped
    from mr_rnn.model import Model
    config = TrainConfig(on_divergence=on_divergence)
    model = Model.initial(config, DataSchema('jsonl', 'classify', False, 2, False, 3))
    trainer = Trainer(str(tmp_path), [], echo=lambda *a: None, warn=lambda *a: None)
    os.makedirs(trainer.run.checkpoints)
    for k in range(6):
        model.iteration = k
        trainer.run.save(model)
    trainer.run.prune(2)
    assert trainer.run.iterations() == [0, 4, 5]
    if on_divergence == 'stop':
        with pytest.raises(TrainingStopped, match='last good checkpoint is .*iter-000000.npz'):
            trainer.recover(model, 50.0, rows([1.0] * 6), rounds=3)
    else:
        good, _ = trainer.recover(model, 50.0, rows([1.0] * 6), rounds=3)
        assert good.iteration == 0 and good.lr_scale == 0.5
    assert sorted(os.listdir(trainer.run.checkpoints)) == [
        'iter-000000.npz', 'iter-000004.npz.diverged', 'iter-000005.npz.diverged']
