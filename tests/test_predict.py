"""mr-rnn predict (a map-only MapReduce job), sampling, forecasting and the
normalisation statistics that csv models carry.

Each prediction is checked against a computation in one process, written
here from the definitions: softmax of our forward pass for classes, the next
token after a text line for language models, and values put back into the
data's units for csv series.
"""
import json
import os

import numpy as np
import pytest

from helpers import random_model, sequence_records, write_jsonl
from mr_rnn.cli import main
from mr_rnn.config import DataConfig, ModelConfig, TrainConfig
from mr_rnn.data.schema import DataSchema, merge_moments, schema_from_facts
from mr_rnn.driver.runner import run_job
from mr_rnn.inference.generate import forecast, sample_text
from mr_rnn.jobs.mr_describe_data import MRDescribeData
from mr_rnn.kernels.network import forward, step
from mr_rnn.model import Model
from mr_rnn.inference.predictions import softmax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CO2 = os.path.join(ROOT, 'sample_data', 'timeseries', 'co2_mauna_loa_weekly.csv')


def predict_lines(capsys, tmp_path, *argv, output=None):
    """Run mr-rnn predict; return its JSON lines (from stdout or --output's part files)."""
    extra = ['--output', str(output)] if output else []
    assert main(['predict', *argv, *extra]) == 0
    if output is None:
        text = capsys.readouterr().out
    else:
        text = ''.join(open(os.path.join(output, name)).read()
                       for name in sorted(os.listdir(output)) if name.startswith('part-'))
    return [json.loads(line) for line in text.splitlines()]


def line_ids(path):
    """Both names base.RecordJob gives a line without an id: FILE:LINE, or
    FILE at byte OFFSET in a split that does not start the file."""
    ids, offset = {}, 0
    with open(path, 'rb') as f:
        for n, line in enumerate(f, start=1):
            ids[n] = (f'{path}:{n}', f'{path} at byte {offset}')
            offset += len(line)
    return ids


# ── classification: class and probabilities per record ──

@pytest.fixture(scope='module')
def classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp('classify')
    records = sequence_records(30, seed=11, dim=3, classes=3)
    for i in range(0, 30, 4):
        del records[i]['id']             # named by file and line instead
    for i in range(1, 30, 5):
        del records[i]['y']              # data to score has no labels
    data = write_jsonl(folder / 'data.jsonl', records)
    with open(data, 'a') as f:
        f.write('{"x": [[1, 2]], "y": 0}\n')           # two features: the model wants three
    config = TrainConfig(model=ModelConfig(cell='gru', hidden=6, layers=2, dtype='float64'),
                         batch_size=4, max_bad_fraction=0.1)
    model = random_model(config, DataSchema('jsonl', 'classify', False, 3, False, 3))
    model.save(str(folder / 'model.npz'))
    return str(folder / 'model.npz'), data, model, records


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_class_probabilities_equal_softmax_of_forward(classifier, capsys, tmp_path, runner):
    ckpt, data, model, records = classifier
    output = tmp_path / 'predictions' if runner == 'local' else None
    lines = predict_lines(capsys, tmp_path, ckpt, data, '-r', runner, output=output)
    assert len(lines) == len(records) + 1                # one line per input line
    ids = line_ids(data)
    got = {line['id']: line for line in lines}
    for n, r in enumerate(records, start=1):
        names = [r['id']] if 'id' in r else ids[n]
        line = next(got[name] for name in names if name in got)
        x = np.array([r['x']])
        p = softmax(forward(model.params, model.spec, x, np.ones(x.shape[:2], bool))[0])
        np.testing.assert_allclose(line['probabilities'], p, rtol=1e-12, atol=0)
        assert line['class'] == int(np.argmax(p))
    bad = [line for line in lines if 'error' in line]
    assert len(bad) == 1 and bad[0]['id'] in ids[len(records) + 1]
    assert 'dense:2' in bad[0]['error']


# ── language model: the k most likely next tokens after each line ──

VOCAB = ('<unk>', '\n', ' ', 'a', 'b', 'c', 'd')


@pytest.fixture(scope='module')
def char_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp('text')
    schema = DataSchema('text', 'lm', True, len(VOCAB), True, len(VOCAB), vocab=VOCAB)
    config = TrainConfig(model=ModelConfig(cell='lstm', hidden=8, dtype='float64'),
                         data=DataConfig(format='text', seq_len=4), batch_size=2)
    model = random_model(config, schema, seed=4, scale=1.5)
    model.save(str(folder / 'model.npz'))
    return str(folder / 'model.npz'), model


def test_next_tokens_follow_the_whole_line(char_model, capsys, tmp_path):
    ckpt, model = char_model
    prompts = ['ab', 'dab ca', '', 'cccc bad a', 'x?a']       # '' primes with a newline
    data = tmp_path / 'prompts.txt'
    data.write_text(''.join(p + '\n' for p in prompts))
    lines = predict_lines(capsys, tmp_path, ckpt, str(data), '--top-k', '3')
    ids = line_ids(str(data))
    got = {line['id']: line for line in lines}
    assert len(lines) == len(prompts)
    for n, prompt in enumerate(prompts, start=1):
        line = next(got[name] for name in ids[n] if name in got)
        tokens = [VOCAB.index(c) if c in VOCAB else 0 for c in (prompt or '\n')]
        logits, _ = step(model.params, model.spec, np.array([tokens]))
        p = softmax(logits[0, -1])
        order = np.argsort(-p, kind='stable')[:3]
        assert [t['token'] for t in line['next']] == [VOCAB[i] for i in order]
        np.testing.assert_allclose([t['p'] for t in line['next']], p[order], rtol=1e-12)


def test_sampling_with_top_k_one_is_greedy(char_model):
    _, model = char_model
    text, tokens = '', [VOCAB.index(c) for c in 'ab']
    logits, state = step(model.params, model.spec, np.array([tokens]))
    for _ in range(12):
        token = int(np.argmax(logits[0, -1]))
        text += VOCAB[token] if token else '?'
        logits, state = step(model.params, model.spec, np.array([[token]]), state)
    for seed in (0, 1):
        assert sample_text(model, 'ab', 12, temperature=1.0, seed=seed, k=1) == text


def test_sampling_with_top_k_draws_only_from_the_k_most_likely(char_model):
    _, model = char_model
    text = sample_text(model, 'ab', 40, temperature=2.0, seed=3, k=2)
    tokens = [VOCAB.index(c) for c in 'ab']
    logits, state = step(model.params, model.spec, np.array([tokens]))
    for c in text:
        allowed = np.argsort(-logits[0, -1], kind='stable')[:2]
        token = VOCAB.index(c)
        assert token in allowed
        logits, state = step(model.params, model.spec, np.array([[token]]), state)
    assert len(set(text)) > 1               # it did sample, not always the top token


# ── csv series: the next rows, in the data's own units ──

WINDOW, HORIZON = 4, 2


@pytest.fixture(scope='module')
def co2_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp('co2')
    path = folder / 'co2.csv'
    with open(CO2) as f:
        path.write_text(''.join(f.readlines()[:60]))           # a short series
    values = np.loadtxt(str(path), delimiter=',', skiprows=1, usecols=1)
    schema = DataSchema('csv', 'regress', False, 1, False, HORIZON, columns=('co2_ppm',),
                        target_columns=('co2_ppm',),
                        norm={'co2_ppm': [values.mean(), values.std(ddof=1)]})
    config = TrainConfig(model=ModelConfig(cell='rnn', hidden=5, layers=2, dtype='float64'),
                         data=DataConfig(format='csv', window=WINDOW, horizon=HORIZON),
                         batch_size=8)
    model = random_model(config, schema, seed=9)
    model.save(str(folder / 'model.npz'))
    return str(folder / 'model.npz'), str(path), model, values


def expected_next_rows(model, window_values):
    mean, std = model.schema.norm['co2_ppm']
    x = ((np.asarray(window_values) - mean) / std)[None, :, None]
    return forward(model.params, model.spec, x, np.ones(x.shape[:2], bool))[0] * std + mean


def test_csv_predictions_are_in_data_units_for_every_window(co2_model, capsys, tmp_path):
    ckpt, path, model, values = co2_model
    lines = predict_lines(capsys, tmp_path, ckpt, path, output=tmp_path / 'out')
    # every window, including the last one, whose next rows are not in the file yet
    assert len(lines) == len(values) - WINDOW + 1
    got = {line['id']: line['values']['co2_ppm'] for line in lines}
    for s in range(len(values) - WINDOW + 1):
        last_line = s + WINDOW + 1                            # + 1: the header
        np.testing.assert_allclose(got[f'{path}:{last_line}'],
                                   expected_next_rows(model, values[s:s + WINDOW]), rtol=1e-12)


def test_forecast_is_in_data_units(co2_model):
    ckpt, path, model, values = co2_model
    rows = forecast(model, path, 5)
    mean, std = model.schema.norm['co2_ppm']
    # the first HORIZON rows are one forward pass on the last window
    np.testing.assert_allclose(np.ravel(rows[:HORIZON]), expected_next_rows(model, values[-WINDOW:]),
                               rtol=1e-12)
    # a head that always predicts the normalised value beta forecasts mean + beta * std
    flat = Model(model.config, model.schema, dict(model.params), model.optim_state)
    flat.params['head.weight'] = np.zeros_like(model.params['head.weight'])
    flat.params['head.bias'] = np.array([0.5, -1.0])
    rows = forecast(flat, path, 4)
    np.testing.assert_allclose(np.ravel(rows), [mean + 0.5 * std, mean - std] * 2, rtol=1e-12)
    assert 300 < mean < 400                                   # ppm: the data's own units


def fed_back(model, values, steps, feed=lambda predicted, window: predicted):
    """The forecast computed here, one forward pass at a time (expected_next_rows),
    not by generate.forecast: each pass predicts HORIZON rows from the newest
    WINDOW rows, and ``feed`` says what goes into the window after it (the
    predicted rows, as the README says)."""
    window, rows = list(values[-WINDOW:]), []
    while len(rows) < steps:
        predicted = list(expected_next_rows(model, window[-WINDOW:]))
        rows += predicted
        window += feed(predicted, window)
    return rows[:steps]


def test_cli_forecast_feeds_its_predictions_back_past_the_horizon(co2_model, capsys):
    """Seven rows with --horizon 2 and --window 4: rows 3-4 come from a window
    holding two predicted rows, rows 5-7 from predicted rows only. The random
    two-layer model answers differently to any other feed-back, so the rows
    past the horizon tell the right one from another."""
    ckpt, path, model, values = co2_model
    assert main(['sample', ckpt, '--history', path, '--length', '7']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'co2_ppm' and len(out) == 8
    got = [float(v) for v in out[1:]]
    # printed to the thousandth of a ppm: within half of that
    np.testing.assert_allclose(got, fed_back(model, values, 7), rtol=0, atol=5.01e-4)
    # the model notices the feed-back: fed the last observed row again, or the
    # predictions in the other order, it forecasts other rows past the horizon
    for wrong in (lambda p, w: [values[-1]] * len(p), lambda p, w: p[::-1]):
        other = fed_back(model, values, 7, wrong)
        assert other[:HORIZON] == pytest.approx(got[:HORIZON], abs=5.01e-4)
        # by a tenth of a ppm at least: 200 times the tolerance above
        assert max(abs(a - b) for a, b in zip(other[HORIZON:], got[HORIZON:])) > 0.1


# ── normalisation statistics: the same from 1 map task and from 4 ──

def describe_norm(paths, runner):
    output, _ = run_job(MRDescribeData, ['--format', 'csv', *paths], runner)
    return schema_from_facts(dict(output)['facts'], DataConfig(format='csv')).norm


def test_normalisation_from_one_and_four_mappers_agrees(tmp_path):
    with open(CO2) as f:
        header, *rows = f.readlines()
    paths = []
    for i, (a, b) in enumerate([(0, 300), (300, 1100), (1100, 1150), (1150, len(rows))]):
        paths.append(str(tmp_path / f'part-{i}.csv'))
        with open(paths[-1], 'w') as f:
            f.write(header + ''.join(rows[a:b]))
    one = describe_norm([CO2], ['-r', 'inline'])                  # one file: one map task
    four = describe_norm(paths, ['-r', 'local', '--num-cores', '4'])   # a task per file
    values = np.loadtxt(CO2, delimiter=',', skiprows=1, usecols=1)
    for mean, std in (one['co2_ppm'], four['co2_ppm']):
        assert mean == pytest.approx(values.mean(), rel=1e-12)
        assert std == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert four['co2_ppm'] == pytest.approx(one['co2_ppm'], rel=1e-12)


def test_chan_merge_of_shards_equals_one_pass():
    rng = np.random.default_rng(0)
    values = 1e6 + rng.normal(size=1000)     # a large mean: the case a naive formula loses
    shards = np.split(values, [1, 10, 400, 999])

    def moments(v):
        return [[len(v), float(v.mean()), float(((v - v.mean()) ** 2).sum())]]
    merged = moments(shards[0])
    for shard in shards[1:]:
        merged = merge_moments(merged, moments(shard))
    n, mean, m2 = merged[0]
    assert n == len(values)
    assert mean == pytest.approx(values.mean(), rel=1e-12)
    assert m2 / (n - 1) == pytest.approx(values.var(ddof=1), rel=1e-9)
