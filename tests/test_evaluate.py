"""mr-rnn evaluate as a MapReduce job: its numbers equal a computation in one
process, written here from the definitions, on the inline and local runners.

Classification: loss, accuracy, the confusion matrix and macro-F1.
Regression on csv: RMSE and MAE in the data's own units, per output and overall.
"""
import json
import math

import numpy as np
import pytest

from helpers import sequence_records, write_jsonl
from mr_rnn.cli import main
from mr_rnn.config import DataConfig, ModelConfig, TrainConfig
from mr_rnn.data.schema import DataSchema
from mr_rnn.kernels.network import forward
from mr_rnn.inference.metrics import classification_metrics, regression_metrics
from mr_rnn.model import Model

RUNNERS = ['inline', 'local']
CLASSES = 4


def random_model(config, schema, seed=0, scale=0.8):
    model = Model.initial(config, schema)
    rng = np.random.default_rng(seed)
    model.params = {n: rng.uniform(-scale, scale, p.shape) for n, p in model.params.items()}
    return model


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


# ── classification ──

@pytest.fixture(scope='module')
def classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp('classify')
    records = sequence_records(45, seed=5, dim=3, classes=CLASSES)
    data = write_jsonl(folder / 'data.jsonl', records)
    config = TrainConfig(model=ModelConfig(cell='lstm', hidden=6, layers=2, dtype='float64'),
                         batch_size=4)
    model = random_model(config, DataSchema('jsonl', 'classify', False, 3, False, CLASSES))
    model.save(str(folder / 'model.npz'))
    return str(folder / 'model.npz'), data, model, records


def expected_classification(model, records):
    """Loss, accuracy, confusion and macro-F1 from the definitions, record by record."""
    losses, confusion = [], np.zeros((CLASSES, CLASSES), int)
    for r in records:
        x = np.array([r['x']])
        logits = forward(model.params, model.spec, x, np.ones(x.shape[:2], bool))[0]
        log_p = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
        losses.append(-log_p[r['y']])
        confusion[r['y'], int(np.argmax(logits))] += 1
    f1s = []
    for c in range(CLASSES):
        tp, fp, fn = confusion[c, c], confusion[:, c].sum() - confusion[c, c], \
            confusion[c].sum() - confusion[c, c]
        if tp + fp + fn == 0:
            continue                   # a class nobody has nor predicts
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return {'loss': float(np.mean(losses)), 'accuracy': np.trace(confusion) / len(records),
            'confusion': confusion.tolist(), 'macro_f1': float(np.mean(f1s))}


@pytest.mark.parametrize('runner', RUNNERS)
def test_classification_metrics_equal_in_process_computation(classifier, capsys, runner):
    ckpt, data, model, records = classifier
    got = run_json(capsys, 'evaluate', ckpt, data, '-r', runner, '--json')
    want = expected_classification(model, records)
    assert got['records'] == got['targets'] == len(records) and got['bad_records'] == 0
    assert got['confusion'] == want['confusion']
    assert sum(map(sum, got['confusion'])) == len(records)
    for key in ('loss', 'accuracy', 'macro_f1'):
        assert got[key] == pytest.approx(want[key], rel=1e-12), key


def test_human_readable_evaluation_shows_the_confusion_matrix(classifier, capsys):
    ckpt, data, model, records = classifier
    assert main(['evaluate', ckpt, data]) == 0
    out = capsys.readouterr().out
    want = expected_classification(model, records)
    assert 'macro_f1' in out and 'confusion matrix (rows: true class' in out
    lines = out.splitlines()
    first = lines.index(next(ln for ln in lines if ln.startswith('confusion matrix')))
    for c, row in enumerate(want['confusion']):
        assert [int(v) for v in lines[first + 2 + c].split()[1:-1]] == row


def test_macro_f1_of_a_known_confusion_matrix():
    # class 0: tp 2, fp 1, fn 1 -> F1 2/3; class 1: tp 3, fp 1, fn 0 -> 6/7;
    # class 2: tp 0, fp 0, fn 1 -> 0; class 3 never occurs: left out of the mean
    confusion = np.array([[2, 1, 0, 0], [0, 3, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    result = classification_metrics(confusion)
    assert result['f1'][:3] == pytest.approx([2 / 3, 6 / 7, 0.0])
    assert result['macro_f1'] == pytest.approx((2 / 3 + 6 / 7 + 0.0) / 3)


def test_regression_errors_scale_back_to_data_units():
    # two outputs, 2 vectors each: normalised errors (1, -2) and (3, 0); std 10 and 0.5
    sq, ab = np.array([1 + 9, 4 + 0]), np.array([1 + 3, 2 + 0])
    result = regression_metrics(sq, ab, count=4, scale=[10.0, 0.5])
    assert result['rmse_per_output'] == pytest.approx([10 * math.sqrt(5), 0.5 * math.sqrt(2)])
    assert result['mae_per_output'] == pytest.approx([20.0, 0.5])
    assert result['rmse'] == pytest.approx(math.sqrt((100 * 10 + 0.25 * 4) / 4))
    assert result['mae'] == pytest.approx((10 * 4 + 0.5 * 2) / 4)


# ── regression on csv series, in the data's own units ──

WINDOW, HORIZON = 3, 2


@pytest.fixture(scope='module')
def forecaster(tmp_path_factory):
    """Two csv files (two series, two map tasks), input columns a, b, target b."""
    folder = tmp_path_factory.mktemp('regress')
    rng = np.random.default_rng(7)
    series = [np.c_[100 + 5 * rng.normal(size=n), 0.01 * rng.normal(size=n).cumsum()]
              for n in (23, 17)]
    paths = []
    for i, rows in enumerate(series):
        path = folder / f'part-{i}.csv'
        path.write_text('t,a,b\n' + ''.join(f'{t},{float(a)!r},{float(b)!r}\n'
                                             for t, (a, b) in enumerate(rows)))
        paths.append(str(path))
    values = np.concatenate(series)
    norm = {'a': [values[:, 0].mean(), values[:, 0].std(ddof=1)],
            'b': [values[:, 1].mean(), values[:, 1].std(ddof=1)]}
    schema = DataSchema('csv', 'regress', False, 2, False, HORIZON, columns=('a', 'b'),
                        target_columns=('b',), norm=norm)
    config = TrainConfig(model=ModelConfig(cell='gru', hidden=5, dtype='float64'),
                         data=DataConfig(format='csv', window=WINDOW, horizon=HORIZON,
                                         columns=('a', 'b'), target=('b',)), batch_size=4)
    model = random_model(config, schema, seed=3)
    model.save(str(folder / 'model.npz'))
    return str(folder / 'model.npz'), paths, model, series


def expected_regression(model, series):
    """Every window of every series, predicted and compared in original units."""
    (mean_a, std_a), (mean_b, std_b) = model.schema.norm['a'], model.schema.norm['b']
    errors, normalised_sq = [], []
    for rows in series:
        z = (rows - [mean_a, mean_b]) / [std_a, std_b]
        for s in range(len(rows) - WINDOW - HORIZON + 1):
            x = z[None, s:s + WINDOW]
            pred = forward(model.params, model.spec, x, np.ones((1, WINDOW), bool))[0]
            target = rows[s + WINDOW:s + WINDOW + HORIZON, 1]
            errors.append(pred * std_b + mean_b - target)
            normalised_sq.append((pred - (target - mean_b) / std_b) ** 2)
    errors = np.array(errors)                                  # (windows, HORIZON)
    return {'loss': float(np.mean(normalised_sq)),
            'rmse': float(np.sqrt(np.mean(errors ** 2))), 'mae': float(np.mean(np.abs(errors))),
            'rmse_per': np.sqrt(np.mean(errors ** 2, axis=0)),
            'mae_per': np.mean(np.abs(errors), axis=0), 'windows': len(errors)}


@pytest.mark.parametrize('runner', RUNNERS)
def test_regression_rmse_and_mae_in_data_units_equal_in_process_computation(
        forecaster, capsys, runner):
    ckpt, paths, model, series = forecaster
    got = run_json(capsys, 'evaluate', ckpt, *paths, '-r', runner, '--json')
    want = expected_regression(model, series)
    assert got['targets'] == want['windows'] * HORIZON
    for key in ('loss', 'rmse', 'mae'):
        assert got[key] == pytest.approx(want[key], rel=1e-12), key
    assert list(got['per_output']) == ['b@+1', 'b@+2']
    for h, name in enumerate(got['per_output']):
        assert got['per_output'][name]['rmse'] == pytest.approx(want['rmse_per'][h], rel=1e-12)
        assert got['per_output'][name]['mae'] == pytest.approx(want['mae_per'][h], rel=1e-12)
    # the data's units, not the normalised ones: b's std is far from 1
    assert got['rmse'] != pytest.approx(got['rmse_normalised'], rel=0.1)
