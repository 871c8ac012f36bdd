"""When a run stops: no progress counted from the best loss, divergence only
for NaN, inf or a sustained blow-up, and a final line that names the rule."""
import math
import os

import numpy as np
import pytest

from helpers import metrics, sequence_records, train, write_jsonl
from mr_rnn.config import TrainConfig
from mr_rnn.config import PATIENCE_FULL_BATCH, PATIENCE_NOISY
from mr_rnn.driver.stopping import best_iteration, effective_patience
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
    # the patience of a configuration that stored none, written when the plateau rule
    # was on by default; a new one is off (0) unless asked for
    assert effective_patience(TrainConfig()) == 0
    assert effective_patience(TrainConfig(patience=None)) == PATIENCE_FULL_BATCH
    assert effective_patience(TrainConfig(patience=None, sample_fraction=0.5)) == PATIENCE_NOISY
    assert effective_patience(TrainConfig(patience=None, mode='average')) == PATIENCE_NOISY
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


# ── the defaults: run what was asked, stop early only on evidence chosen ──

def plateau_then_drop(seed=0):
    """A loss that falls to 0.5 at round 10, sits on a noisy plateau above it
    for 80 rounds (full-batch Adam oscillating around a saddle), then drops."""
    rng = np.random.default_rng(seed)
    falling = list(np.linspace(1.0, 0.5, 11))
    noisy = list(0.52 + 0.015 * np.sin(np.arange(80) * 2.5) + 0.002 * rng.random(80))
    dropping = list(np.linspace(0.45, 0.05, 30))
    return falling + noisy + dropping


def test_without_validation_data_a_noisy_plateau_then_a_drop_runs_on_by_default():
    losses = plateau_then_drop()
    config = TrainConfig()
    assert config.patience == 0
    assert first_stop(losses, config) == (None, None)
    # the rule that was the default before stops it on the plateau, 30 rounds after its best
    assert first_stop(losses, TrainConfig(patience=None))[0] - 1 == 10 + PATIENCE_FULL_BATCH
    # and asked for, the plateau rule judges the training loss
    n, reason = first_stop(losses, TrainConfig(patience=12))
    assert n - 1 == 10 + 12
    assert 'no improvement of the train loss' in reason and 'since round 10' in reason


def test_with_validation_data_the_default_runs_on_and_best_keeps_the_lowest_val_loss():
    # a validation plateau of 57 rounds does not stop a run by default
    train_losses = [1.0 - 0.001 * k for k in range(60)]                 # always improving
    val = [1.0, 0.8, 0.7] + [0.75] * 57                                  # best at round 2
    history = rows(train_losses, val)
    for n in range(1, 61):
        assert Trainer.should_stop(history[:n], TrainConfig()) is None
    assert best_iteration(history, TrainConfig()) == 2
    # asked for, the plateau rule judges the validation loss
    stops = [n for n in range(1, 61) if Trainer.should_stop(history[:n], TrainConfig(patience=9))]
    assert stops[0] - 1 == 2 + 9


def test_the_convergence_test_needs_a_loss_that_no_longer_moves():
    from mr_rnn.config import CONVERGED_ROUNDS, CONVERGED_RTOL
    config = TrainConfig()
    still = [1.0, 0.7, 0.6] + [0.55] * (PATIENCE_FULL_BATCH + 5)
    n, reason = first_stop(still, config)
    assert n == 3 + CONVERGED_ROUNDS and reason.startswith('the train loss converged')
    # a wobble of 1000 x the bound on every round is a plateau, not convergence
    wobble = [0.55 * (1 + 1000 * CONVERGED_RTOL * (k % 2)) for k in range(100)]
    assert first_stop(wobble, config) == (None, None)
    # and so is any plateau of the noisy kind
    assert first_stop(plateau_then_drop(), config) == (None, None)
    # average mode's inner loss and a sampled loss move with their samples: not judged
    for other in (TrainConfig(mode='average'), TrainConfig(sample_fraction=0.5)):
        assert first_stop(still, other) == (None, None)
    # a configuration that stored no patience keeps the rules it had, without the test
    n, reason = first_stop(still, TrainConfig(patience=None))
    assert reason.startswith('no improvement') and n - 1 == 3 + PATIENCE_FULL_BATCH


def _plateau_flags():
    # a learning rate too small to move the loss by 5 % in any round: a plateau
    return ['--hidden', '4', '--lr', '1e-5', '--tol', '0.05']


@pytest.mark.parametrize('val', [[], ['--val-fraction', '0.3']], ids=['train', 'val'])
def test_a_real_run_on_a_plateau_runs_to_max_iter_by_default(tmp_path, capsys, val):
    import json
    rounds = PATIENCE_FULL_BATCH + 3        # past the patience that was the default
    assert train(tmp_path / 'run', [_data(tmp_path)], *_plateau_flags(), *val,
                 '--max-iter', str(rounds)) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(metrics(tmp_path / 'run')) == rounds + 1
    assert f'stopped because --max-iter {rounds} reached' in out[-1]
    with open(tmp_path / 'run' / 'config.json') as f:
        assert json.load(f)['config']['patience'] == 0       # stored: no plateau rule


def test_a_real_run_whose_weights_no_longer_move_stops_as_converged(tmp_path, capsys):
    from mr_rnn.config import CONVERGED_ROUNDS
    # sgd at 1e-12 rounds every update away in float32: the loss is the same every round
    assert train(tmp_path / 'run', [_data(tmp_path)], '--hidden', '4', '--optimizer', 'sgd',
                 '--lr', '1e-12', '--max-iter', str(CONVERGED_ROUNDS + 10)) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(metrics(tmp_path / 'run')) == CONVERGED_ROUNDS + 1
    assert 'stopped because the train loss converged' in out[-1]


def test_the_final_line_names_the_checkpoint_the_model_commands_use(tmp_path, capsys):
    from mr_rnn.driver.run_dir import checkpoint_of
    data = _data(tmp_path)
    cases = {'plain': ([], 'the lowest training loss'),
             'val': (['--val-fraction', '0.3'], 'the lowest validation loss'),
             'average': (['--mode', 'average', '--local-steps', '2'], 'the newest checkpoint')}
    for name, (flags, why) in cases.items():
        run = tmp_path / name
        assert train(run, [data], '--hidden', '4', '--max-iter', '3', *flags) == 0
        line = capsys.readouterr().out.splitlines()[-1]
        used, _ = checkpoint_of(str(run))
        assert used == str(run / 'best.npz')
        iteration = iteration_of(used)
        assert (f'the model commands on this run folder use {used} (iteration {iteration}, '
                f'{why}') in line, line
        assert 'stopped because --max-iter 3 reached' in line      # no default plateau rule
        final = iteration_of(str(run / 'final.npz'))
        assert ('the same as final.npz' if final == iteration
                else f'final.npz is iteration {final}') in line


def iteration_of(path):
    from mr_rnn.model import Model
    return Model.load(path).iteration


def _as_written_before(run):
    """Rewrite a run's checkpoints and config.json as a run started when the
    plateau rule was on by default stored them: patience null."""
    import glob
    import json
    from dataclasses import replace
    from mr_rnn.model import Model
    for path in glob.glob(str(run / 'checkpoints' / '*.npz')):
        model = Model.load(path)
        model.config = replace(model.config, patience=None)
        model.save(path)
    with open(run / 'config.json') as f:
        description = json.load(f)
    description['config']['patience'] = None
    with open(run / 'config.json', 'w') as f:
        json.dump(description, f)


def test_resuming_a_run_that_stored_no_patience_keeps_the_plateau_rule_it_had(
        tmp_path, capsys, monkeypatch):
    from mr_rnn.driver import stopping
    # the rule's patience as it was, made short to keep the test quick
    monkeypatch.setattr(stopping, 'PATIENCE_FULL_BATCH', 4)
    run = tmp_path / 'run'
    assert train(run, [_data(tmp_path)], *_plateau_flags(), '--max-iter', '2') == 0
    _as_written_before(run)
    capsys.readouterr()
    assert train(run, [], '--resume', '--max-iter', '30') == 0
    out = capsys.readouterr().out
    assert ('this run was started when the plateau rule was on by default: it keeps it, '
            'stopping after 4 rounds without progress') in out
    assert 'stopped because no improvement of the train loss by more than --tol 0.05 for 4 ' \
           'rounds since round 0' in out.splitlines()[-1]
    assert len(metrics(run)) == 6
    # --patience given on resume replaces it: 0 runs to --max-iter
    assert train(run, [], '--resume', '--max-iter', '8', '--patience', '0') == 0
    out = capsys.readouterr().out
    assert 'plateau rule was on by default' not in out
    assert 'stopped because --max-iter 8 reached' in out.splitlines()[-1]


def test_resuming_a_new_run_keeps_its_stored_patience(tmp_path, capsys):
    run = tmp_path / 'run'
    assert train(run, [_data(tmp_path)], *_plateau_flags(), '--max-iter', '2',
                 '--patience', '3') == 0
    capsys.readouterr()
    assert train(run, [], '--resume', '--max-iter', '30') == 0
    out = capsys.readouterr().out
    assert 'plateau rule was on by default' not in out
    assert 'for 3 rounds since round 0' in out.splitlines()[-1]
