"""Records built to break a reader: each is one counted, named bad record in
train, evaluate and predict, on the inline and local runners; never a failed
task. And one record cannot size the model."""
import json
import os

import numpy as np
import pytest

from helpers import metrics, sequence_records, train, write_jsonl
from mr_rnn.cli import main
from mr_rnn.counts import example_order
from mr_rnn.data.schema import merge_facts
from mr_rnn.codec.wire import Packet, add_packets
from mr_rnn.model import Model

MIB = 1 << 20

# (line, a word of the reason it is refused with)
HOSTILE = [
    (b'{"x": [[1, 2, 3]], "y": 1' + b'0' * 5000 + b'}', 'too large for a float'),
    (b'{"x": [[1, 2, 3]], "y": [' + b'7' * 5000 + b']}', 'too large for a float'),
    (b'[' * 100_000 + b']' * 100_000, 'nested too deeply'),
    (b'{"x": [[1, 2, 3]], "y": 1, "id": ' + b'{"a": ' * 100_000 + b'1' + b'}' * 100_001,
     'nested too deeply'),
    (b'{"x": [[1, 2, 3]], "y": 1, "id": "' + b'\\"[' * MIB + b'"', 'malformed JSON'),
    (b'{"x": [[1, 2, 3]], "y": 1, "id": "\xc3\x28"}', 'invalid UTF-8'),
    (b'{"x": [' + b'[1, 2, 3],' * (MIB // 10) + b'[1, 2]], "y": 1}', 'steps'),
]
GOOD = 40


@pytest.fixture(scope='module')
def hostile_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp('hostile')
    good = [json.dumps(r).encode() for r in sequence_records(GOOD, seed=4, dim=3, classes=3)]
    lines = good[:GOOD // 2] + [line for line, _ in HOSTILE] + good[GOOD // 2:]
    path = folder / 'data.jsonl'
    path.write_bytes(b'\n'.join(lines) + b'\n')
    first = GOOD // 2 + 1       # line number of the first hostile record
    return str(path), folder, first


def test_hostile_records_are_at_least_a_mebibyte_and_a_hundred_thousand_levels_deep():
    assert max(len(line) for line, _ in HOSTILE) >= MIB
    assert max(line.count(b'[') + line.count(b'{') for line, _ in HOSTILE) >= 100_000


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_train_counts_and_names_each_hostile_record(hostile_data, runner, capsys):
    path, folder, first = hostile_data
    run = folder / f'run-{runner}'
    assert train(run, [path], '--hidden', '3', '--max-iter', '1', '--batch-size', '8',
                 '--max-bad-fraction', '0.2', '-r', runner) == 0
    rows = metrics(run)
    assert [r['bad_records'] for r in rows] == [len(HOSTILE)] * 2
    assert [r['records'] for r in rows] == [GOOD + len(HOSTILE)] * 2
    err = capsys.readouterr().err
    for n, (_, reason) in enumerate(HOSTILE[:5]):       # the first five are named
        assert any(f'data.jsonl:{first + n}: ' in line and reason in line
                   for line in err.splitlines()), (first + n, reason, err)


def trained_run(folder, path):
    """One small run on the hostile data, trained once and shared by the
    evaluate and predict tests (the records it skips are what they read)."""
    run = folder / 'run-inline'
    if not (run / 'final.npz').exists():
        assert train(run, [path], '--hidden', '3', '--max-iter', '1',
                     '--max-bad-fraction', '0.2') == 0
    return run


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_evaluate_counts_each_hostile_record(hostile_data, runner, capsys):
    path, folder, _ = hostile_data
    run = trained_run(folder, path)
    capsys.readouterr()
    assert main(['evaluate', str(run / 'final.npz'), path, '--json', '-r', runner]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result['records'], result['bad_records']) == (GOOD + len(HOSTILE), len(HOSTILE))


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_predict_answers_each_hostile_record_with_its_error(hostile_data, runner, capsys):
    path, folder, first = hostile_data
    run = trained_run(folder, path)
    out = folder / f'predictions-{runner}'
    capsys.readouterr()
    assert main(['predict', str(run / 'final.npz'), path, '-r', runner,
                 '--output', str(out)]) == 0
    err = capsys.readouterr().err
    assert f'{GOOD + len(HOSTILE)} records, {len(HOSTILE)} bad' in err
    lines = [json.loads(line) for name in sorted(os.listdir(out)) if name.startswith('part-')
             for line in open(out / name)]
    errors = {line['id']: line['error'] for line in lines if 'error' in line}
    assert len(lines) == GOOD + len(HOSTILE) and len(errors) == len(HOSTILE)
    for n, (_, reason) in enumerate(HOSTILE):
        assert reason in errors[f'{path}:{first + n}'], errors


# ── one record cannot size the model ──

def test_one_record_with_a_huge_token_id_leaves_the_model_small_and_is_bad(tmp_path, capsys):
    rng = np.random.default_rng(0)
    records = [{'x': rng.integers(0, 4, 5).tolist(), 'y': int(rng.integers(0, 3))}
               for _ in range(60)]
    records.insert(30, {'x': [1, 131000, 2], 'y': 1})
    data = write_jsonl(tmp_path / 'tokens.jsonl', records)
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '8', '--max-iter', '1',
                 '--max-bad-fraction', '0.05') == 0
    model = Model.load(str(run / 'final.npz'))
    assert model.schema.input_size == 4
    assert os.path.getsize(run / 'final.npz') < 100_000
    assert [r['bad_records'] for r in metrics(run)] == [1, 1]
    assert 'tokens.jsonl:31: token id 131000 is outside the vocabulary of 4' in \
        capsys.readouterr().err
    # under the default --max-bad-fraction (1%) the run stops, naming the record
    code = train(tmp_path / 'run2', [data], '--hidden', '8', '--max-iter', '1')
    assert code == 2
    assert 'tokens.jsonl:31: token id 131000 is outside the vocabulary' in capsys.readouterr().err


def test_one_record_with_a_huge_class_leaves_the_head_small(tmp_path):
    records = sequence_records(30, seed=2, dim=2, classes=3)
    records[7]['y'] = 131000
    data = write_jsonl(tmp_path / 'd.jsonl', records)
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '3', '--max-iter', '1',
                 '--max-bad-fraction', '0.05') == 0
    assert Model.load(str(run / 'final.npz')).schema.output_size == 3


# ── bad-record examples in reading order ──

def test_bad_record_examples_sort_by_file_then_line_number():
    examples = ['b.jsonl:2: x', 'a.jsonl:100: y', 'a.jsonl:11: z', 'a.jsonl:9: w']
    expected = ['a.jsonl:9: w', 'a.jsonl:11: z', 'a.jsonl:100: y', 'b.jsonl:2: x']
    assert sorted(examples, key=example_order) == expected
    facts = merge_facts({'examples': examples[:2]}, {'examples': examples[2:]})
    assert facts['examples'] == expected
    packets = [Packet({'examples': examples[:2]}), Packet({'examples': examples[2:]})]
    assert add_packets(packets).scalars['examples'] == expected
