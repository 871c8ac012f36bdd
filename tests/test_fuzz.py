"""Fuzzing the readers and checkpoint loading with hypothesis.

Whatever bytes arrive, a reader either returns records that mean exactly what
the bytes said (checked by round trips from generated valid data) or raises
BadRecord, which the jobs count and name; a checkpoint either loads exactly as
it was written or raises CheckpointError. Nothing else ever escapes.
"""
import glob
import json
import os
import statistics

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers import sequence_records, train, write_jsonl
from mr_rnn.codec.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mr_rnn.config import LIMITS, ConfigError, DataConfig, ModelConfig, TrainConfig
from mr_rnn.data.csv_series import CsvReader, csv_facts
from mr_rnn.data.jsonl import JsonlReader, jsonl_facts, parse_jsonl
from mr_rnn.data.records import BadRecord, Sequence
from mr_rnn.data.text import TextReader, text_facts
from mr_rnn.data.schema import UNK, DataSchema, schema_from_facts
from mr_rnn.driver.run_dir import RunDir, RunDirError
from mr_rnn.model import Model

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# text that survives UTF-8 (no surrogates) and has no line break: one record
line_text = st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='\n'),
                    max_size=200)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
measurement = st.floats(-1e6, 1e6).map(lambda v: round(v, 6))     # what a csv series holds
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats() |
                st.text(max_size=5))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.sampled_from(['x', 'y', 'id', 'z']), inner,
                                           max_size=3), max_leaves=25)


def only_bad_records(read, raw):
    """Call read(raw); a BadRecord is a fine answer, anything else raised fails the test."""
    try:
        return read(raw)
    except BadRecord:
        return None


# ── text ──

def text_schema(chars):
    vocab = (UNK,) + tuple(sorted(set(chars) | {'\n'}))
    return DataSchema('text', 'lm', True, len(vocab), True, len(vocab), vocab=vocab)


@FUZZ
@given(raw=st.binary(max_size=4000), seq_len=st.integers(1, 20))
def test_text_reader_takes_any_bytes(raw, seq_len):
    reader = TextReader(text_schema('abc \u00e9'), seq_len)
    facts = only_bad_records(text_facts, raw)
    seqs = only_bad_records(reader.sequences, raw)
    assert (facts is None) == (seqs is None)     # both read a record, or both refuse it
    if seqs is not None:
        assert sum(facts['chars'].values()) == len(raw.decode('utf-8')) + 1
        for s in seqs:
            assert s.x.dtype == s.y.dtype == np.int64
            assert 1 <= len(s.x) == len(s.y) <= seq_len


@FUZZ
@given(text=line_text, seq_len=st.integers(1, 20))
def test_text_windows_are_the_line_and_its_next_characters(text, seq_len):
    schema = text_schema(text)
    seqs = TextReader(schema, seq_len).sequences(text.encode('utf-8'))
    ids = np.array([schema.vocab.index(c) for c in text + '\n'])
    for s in seqs:
        # every input step has its target: the next character (no step without one)
        assert 1 <= len(s.x) == len(s.y) <= seq_len
    none = [np.empty(0, np.int64)]       # an empty line has no window
    assert np.array_equal(np.concatenate([s.x for s in seqs] + none), ids[:-1])
    assert np.array_equal(np.concatenate([s.y for s in seqs] + none), ids[1:])
    facts = text_facts(text.encode('utf-8'))
    assert facts['chars'] == {c: (text + '\n').count(c) for c in set(text + '\n')}


@FUZZ
@given(text=line_text)
def test_text_characters_outside_the_vocabulary_are_unk(text):
    schema = text_schema('ab')
    seqs = TextReader(schema, 8).sequences(text.encode('utf-8'))
    got = np.concatenate([s.x for s in seqs] + [s.y[-1:] for s in seqs[-1:]] +
                         [np.empty(0, np.int64)])
    expected = [schema.vocab.index(c) if c in 'ab\n' else 0 for c in text + '\n'][:len(got)]
    assert len(got) == len(text) + (1 if text else 0)
    assert got.tolist() == expected


def test_text_record_past_the_size_limit_is_bad(monkeypatch):
    monkeypatch.setattr('mr_rnn.data.records.LIMITS', LIMITS.__class__(record_bytes=10))
    with pytest.raises(BadRecord, match='past the limit of 10 bytes'):
        TextReader(text_schema('a'), 4).sequences(b'a' * 11)
    assert TextReader(text_schema('a'), 4).sequences(b'a' * 10)


# ── jsonl ──

@FUZZ
@given(raw=st.binary(max_size=4000))
def test_jsonl_parser_takes_any_bytes(raw):
    only_bad_records(parse_jsonl, raw)
    only_bad_records(jsonl_facts, raw)


# pieces of JSON that stress a parser when repeated: nesting, long numbers, strings, escapes
json_pieces = st.sampled_from([b'[', b']', b'{', b'}', b'{"x":', b'"y":', b'"', b'\\', b'\\"',
                               b'9' * 100, b'-', b'1e999', b'0.5', b',', b' ', b'\xff'])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(head=st.lists(json_pieces, max_size=8).map(b''.join),
       unit=st.lists(json_pieces, min_size=1, max_size=6).map(b''.join),
       tail=st.lists(json_pieces, max_size=8).map(b''.join))
def test_jsonl_parser_takes_any_record_of_a_mebibyte(head, unit, tail):
    raw = head + unit * -(-(1 << 20) // len(unit)) + tail      # at least 1 MiB
    assert len(raw) >= 1 << 20
    only_bad_records(parse_jsonl, raw)
    only_bad_records(jsonl_facts, raw)
    only_bad_records(TextReader(text_schema('[]{}'), 64).sequences, raw)


def check_parsed(result):
    """What a parsed record promises the batching code."""
    x_kind, y_kind, x, y = result
    T = len(x)
    assert T >= 1
    if x_kind == 'tokens':
        assert x.dtype == np.int64 and x.ndim == 1 and 0 <= x.min() and x.max() < LIMITS.vocab
    else:
        assert x.dtype == np.float64 and x.shape == (T, int(x_kind.split(':')[1]))
        assert np.isfinite(x).all()
    place, kind = y_kind.split(':')[:2]
    if kind == 'class':
        assert y.dtype == np.int64 and 0 <= y.min() and y.max() < LIMITS.vocab
        assert y.shape == ((T,) if place == 'step' else ())
    else:
        O = int(y_kind.split(':')[2])
        assert y.dtype == np.float64 and np.isfinite(y).all()
        assert y.shape == ((T, O) if place == 'step' else (O,))


@FUZZ
@given(record=json_values | st.fixed_dictionaries({'x': json_values, 'y': json_values}))
def test_jsonl_parser_takes_any_json(record):
    raw = json.dumps(record).encode('utf-8')
    result = only_bad_records(parse_jsonl, raw)
    if result is not None:
        check_parsed(result)


@st.composite
def valid_records(draw):
    """(record, x_kind, y_kind) for every record shape the README documents."""
    T = draw(st.integers(1, 12))
    if draw(st.booleans()):
        x, x_kind = draw(st.lists(st.integers(0, LIMITS.vocab - 1), min_size=T, max_size=T)), 'tokens'
    else:
        D = draw(st.integers(1, 4))
        x = draw(st.lists(st.lists(finite | st.integers(-2 ** 53, 2 ** 53), min_size=D, max_size=D),
                          min_size=T, max_size=T))
        x_kind = f'dense:{D}'
    shape = draw(st.sampled_from(['class', 'number', 'vector', 'step-class', 'step-vector']))
    number = shape == 'number'
    O = draw(st.integers(1, 3))
    y, y_kind = {
        'class': (draw(st.integers(0, 1000)), 'last:class'),
        'number': (draw(finite), 'last:vec:1'),
        'vector': (draw(st.lists(finite, min_size=O, max_size=O)), f'last:vec:{O}'),
        'step-class': (draw(st.lists(st.integers(0, 50), min_size=T, max_size=T)), 'step:class'),
        'step-vector': (draw(st.lists(st.lists(finite, min_size=O, max_size=O), min_size=T,
                                      max_size=T)), f'step:vec:{O}'),
    }[shape]
    record = {'x': x, 'y': y}
    if draw(st.booleans()):
        record['id'] = draw(st.text(max_size=8))
    return record, x_kind, y_kind, number


@FUZZ
@given(valid_records())
def test_jsonl_valid_records_round_trip(case):
    record, x_kind, y_kind, number = case
    raw = json.dumps(record).encode('utf-8')
    got_x_kind, got_y_kind, x, y = parse_jsonl(raw)
    assert (got_x_kind, got_y_kind) == (x_kind, y_kind)
    assert np.array_equal(x, np.array(record['x'], x.dtype))
    y_expected = [record['y']] if number else record['y']
    assert np.array_equal(y, np.array(y_expected, y.dtype))
    check_parsed((got_x_kind, got_y_kind, x, y))
    # a reader for the schema of this very record hands the same arrays on
    facts = jsonl_facts(raw)
    schema = schema_from_facts(facts, DataConfig(format='jsonl'))
    [seq] = JsonlReader(schema).sequences(raw)
    assert np.array_equal(seq.x, x) and np.array_equal(seq.y, y)


@pytest.mark.parametrize('line, reason', [
    (b'{"x": [123456789012345678901234567890], "y": 1}', 'vocabulary limit'),
    (b'{"x": [[1e999]], "y": 1}', 'NaN or infinite'),
    (b'{"x": [[1' + b'0' * 400 + b']], "y": 1}', 'too large for a float'),
    (b'{"x": [1], "y": 99999999999999999999999}', 'vocabulary limit'),
    (b'{"x": [1], "y": [1.0, 1' + b'0' * 400 + b']}', 'too large for a float'),
    (b'{"x": [1], "y": -3}', 'must be >= 0'),
    (b'{"x": ' + b'[' * 50000 + b']' * 50000 + b', "y": 1}', 'nested too deeply'),
    (b'[' * 100_000 + b']' * 100_000, 'nested too deeply'),
    (b'[' * (1 << 20), 'nested too deeply'),
    (b'{"x": [1], "y": 1, "id": ' + b'{"a": ' * 100_000 + b'0' + b'}' * 100_001,
     'nested too deeply'),
    (b'{"x": [1], "y": 1' + b'0' * 5000 + b'}', 'too large for a float'),
    (b'{"x": [[' + b'9' * (1 << 20) + b']], "y": 1}', 'too large for a float'),
    (b'\xef\xbb\xbf{"x": [1], "y": 1}', 'malformed JSON'),
])
def test_jsonl_numbers_and_nesting_past_what_numpy_holds_are_bad_records(line, reason):
    with pytest.raises(BadRecord, match=reason):
        parse_jsonl(line)


def test_jsonl_brackets_inside_strings_are_not_nesting():
    raw = json.dumps({'x': [1], 'y': 1, 'id': '[{' * 100_000}).encode()
    assert parse_jsonl(raw)[:2] == ('tokens', 'last:class')


def test_jsonl_limits_on_steps_and_vocabulary(monkeypatch):
    monkeypatch.setattr('mr_rnn.data.jsonl.LIMITS', LIMITS.__class__(steps=5, vocab=10))
    assert parse_jsonl(b'{"x": [1, 2, 3, 4, 5], "y": 9}')[0] == 'tokens'
    with pytest.raises(BadRecord, match='6 steps, past the limit of 5'):
        parse_jsonl(b'{"x": [1, 2, 3, 4, 5, 6], "y": 1}')
    with pytest.raises(BadRecord, match='token ids 10 is past the vocabulary limit of 10'):
        parse_jsonl(b'{"x": [10], "y": 1}')
    with pytest.raises(BadRecord, match='class ids 10 is past the vocabulary limit'):
        parse_jsonl(b'{"x": [[0.5], [1.5]], "y": [1, 10]}')


# ── csv ──

# a header with the model's columns a and b, or any bytes; then rows of numbers
# (so that windows are made before and after a bad row) among any bytes
csv_header = st.one_of(st.sampled_from([b'a,b', b'b,a', b'date,a,b']), st.binary(max_size=40))
csv_line = st.one_of(st.binary(max_size=40),
                     st.lists(finite.map(lambda v: b'%r' % v), min_size=2, max_size=3)
                     .map(b','.join))


@FUZZ
@given(lines=st.tuples(csv_header, st.lists(csv_line, max_size=30)).map(lambda t: [t[0], *t[1]]),
       window=st.integers(1, 4), horizon=st.integers(1, 3))
def test_csv_readers_take_any_lines(lines, window, horizon):
    facts = csv_facts(iter(lines), lambda n: f'f.csv:{n}')
    assert facts['bad'] <= facts['records']
    schema = DataSchema('csv', 'regress', False, 2, False, 2 * horizon, columns=('a', 'b'),
                        target_columns=('a', 'b'), norm={'a': [0.0, 1.0], 'b': [1.0, 2.0]})
    reader = CsvReader(schema, window, horizon)
    items, read = [], []

    def counted():              # how far into the file the reader got
        for line in lines:
            read.append(line)
            yield line
    try:
        for item in reader.sequences_from_file(counted(), lambda n: f'f.csv:{n}'):
            items.append(item)
            if isinstance(item, Sequence):
                assert item.x.shape == (window, 2) and item.y.shape == (2 * horizon,)
                assert np.isfinite(item.x).all() and np.isfinite(item.y).all()
            else:
                where, error = item
                assert where.startswith('f.csv:') and isinstance(error, BadRecord)
    except BadRecord as e:
        # only the header may refuse the whole file (one bad record), and only at the
        # start: a bad row halfway through is yielded, counted, and the file goes on
        assert not items and len(read) <= 1, \
            f'BadRecord raised at line {len(read)}, after {len(items)} items: {e}'


@FUZZ
@given(rows=st.lists(st.tuples(measurement, measurement), min_size=2, max_size=40),
       bad_at=st.sets(st.integers(0, 39), max_size=3), window=st.integers(1, 4),
       horizon=st.integers(1, 2))
def test_csv_windows_are_consecutive_good_rows_normalised(rows, bad_at, window, horizon):
    lines = [b'date,a,b'] + [f'2024-01-{i},{a!r},{b!r}'.encode() if i not in bad_at
                             else b'2024-02-01,n/a,?' for i, (a, b) in enumerate(rows)]
    good = [r for i, r in enumerate(rows) if i not in bad_at]
    assume(len(good) * 2 > len(rows))       # else the columns do not count as numeric
    facts = csv_facts(iter(lines), str)
    assert facts['bad'] == 0 and facts['records'] == len(rows)
    schema = schema_from_facts(facts, DataConfig(format='csv', window=window, horizon=horizon,
                                                 columns=('a', 'b'), target=('b',)))
    for j, col in enumerate('ab'):       # Welford per mapper = the exact moments
        column = [r[j] for r in good]
        mean, std = schema.norm[col]
        assert mean == pytest.approx(statistics.fmean(column), rel=1e-9, abs=1e-6)
        exact_std = statistics.stdev(column) if len(column) > 1 else 0.0
        assert std == pytest.approx(exact_std or 1.0, rel=1e-6, abs=1e-6)
    seqs, bad = [], 0
    for item in CsvReader(schema, window, horizon).sequences_from_file(iter(lines), str):
        if isinstance(item, Sequence):
            seqs.append(item)
        else:
            bad += 1
    assert bad == len([i for i in bad_at if i < len(rows)])
    # expected: windows of consecutive good rows, never across a bad one
    mean = np.array([schema.norm[c][0] for c in 'ab'])
    std = np.array([schema.norm[c][1] for c in 'ab'])
    expected, run = [], []
    for i, r in enumerate(rows):
        if i in bad_at:
            run = []
            continue
        run.append((np.array(r) - mean) / std)
        if len(run) >= window + horizon:
            span = run[-(window + horizon):]
            expected.append((np.array(span[:window]),
                             np.array([s[1] for s in span[window:]])))
    assert len(seqs) == len(expected)
    for s, (x, y) in zip(seqs, expected):
        np.testing.assert_allclose(s.x, x, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(s.y, y, rtol=1e-12, atol=1e-12)


def test_csv_file_with_an_unreadable_header_is_one_bad_record():
    facts = csv_facts(iter([b'\xff\xfe,a', b'1,2']), lambda n: f'f.csv:{n}')
    assert facts == {'records': 1, 'bad': 1, 'examples': ['f.csv:1: invalid UTF-8 at byte 0']}


def test_csv_quoted_fields_may_hold_commas_and_quotes():
    lines = [b'date,"note, free text",a,b',
             b'2024-01-01,"says ""hi"", then 2",1.5,2',     # 6 pieces between commas
             b'2024-01-02, "plain" ,"2.5",3',
             b'2024-01-03,only three,4',                    # still a bad row
             b'2024-01-04,"a\rb",5,6\r',                  # a quoted carriage return is text
             b'2024-01-05,x\ry,5,6']                       # an unquoted one: refused
    facts = csv_facts(iter(lines), lambda n: f'f.csv:{n}')
    assert facts['records'] == 5 and facts['bad'] == 2
    assert facts['examples'] == ['f.csv:4: 3 fields, the header has 4',
                                 'f.csv:6: not a csv row: new-line character seen in '
                                 'unquoted field - do you need to open the file in '
                                 'universal-newline mode?']
    config = DataConfig(format='csv', window=1, horizon=1)
    schema = schema_from_facts(facts, config)
    assert schema.columns == ('a', 'b')
    assert schema.norm['a'] == [pytest.approx(3.0), pytest.approx(statistics.stdev([1.5, 2.5, 5]))]
    # the quoted name is one column of the header: not numeric, but there
    with pytest.raises(ConfigError, match="'note, free text' is not numeric"):
        schema_from_facts(facts, DataConfig(format='csv', columns=('note, free text',)))
    items = list(CsvReader(schema, 1, 1).sequences_from_file(iter(lines), lambda n: f'f.csv:{n}'))
    assert [type(i).__name__ for i in items] == ['Sequence', 'tuple', 'tuple']
    mean, std = (np.array([schema.norm[c][k] for c in 'ab']) for k in (0, 1))
    np.testing.assert_allclose(items[0].x, [(np.array([1.5, 2]) - mean) / std])
    np.testing.assert_allclose(items[0].y, (np.array([2.5, 3]) - mean) / std)


# ── checkpoints ──

@pytest.fixture(scope='module')
def checkpoint_bytes(tmp_path_factory):
    """A real checkpoint, written by the product's own save path."""
    schema = DataSchema('text', 'lm', True, 6, True, 6, vocab=(UNK, '\n', ' ', 'a', 'b', 'c'))
    config = TrainConfig(model=ModelConfig(cell='gru', hidden=3, dtype='float64'),
                         data=DataConfig(format='text'))
    path = tmp_path_factory.mktemp('ckpt') / 'iter-000000.npz'
    Model.initial(config, schema).save(str(path))
    raw = path.read_bytes()
    return raw, load_checkpoint(str(path))


def same_checkpoint(a, b):
    (arrays_a, meta_a), (arrays_b, meta_b) = a, b
    return (meta_a == meta_b and arrays_a.keys() == arrays_b.keys() and
            all(arrays_a[k].dtype == arrays_b[k].dtype and np.array_equal(arrays_a[k], arrays_b[k])
                for k in arrays_a))


def load_or_refuse(folder, raw):
    """The loaded checkpoint, or None when refused with CheckpointError (and only that)."""
    path = folder / 'c.npz'
    path.write_bytes(raw)
    try:
        Model.load(str(path))
    except CheckpointError:
        pass
    try:
        return load_checkpoint(str(path))
    except CheckpointError:
        return None


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_corrupted_checkpoint_loads_unchanged_or_is_refused(checkpoint_bytes, tmp_path_factory,
                                                              data):
    raw, original = checkpoint_bytes
    corrupt = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        corrupt[at] ^= data.draw(st.integers(1, 255))
    loaded = load_or_refuse(tmp_path_factory.getbasetemp(), bytes(corrupt))
    # a flip in bytes that carry nothing (a zip timestamp) may load, but then unchanged
    assert loaded is None or same_checkpoint(loaded, original)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_truncated_checkpoint_is_refused(checkpoint_bytes, tmp_path_factory, data):
    raw, _ = checkpoint_bytes
    cut = data.draw(st.integers(0, len(raw) - 1))
    assert load_or_refuse(tmp_path_factory.getbasetemp(), raw[:cut]) is None


@pytest.mark.parametrize('pattern', [0x01, 0xFE])
def test_every_single_byte_flip_of_a_checkpoint_is_caught(tmp_path, pattern):
    """Exhaustive over the positions of a small checkpoint, so that every zip and npy
    header field is hit (the random flips above mostly land in array data): each
    flip is refused, or lands in a byte that carries nothing (a zip timestamp)."""
    path = str(tmp_path / 'c.npz')
    save_checkpoint(path, {'w': np.arange(3.0)}, {'iteration': 2, 'config': {}})
    raw, original = open(path, 'rb').read(), load_checkpoint(path)
    unchanged = 0
    for at in range(len(raw)):
        corrupt = bytearray(raw)
        corrupt[at] ^= pattern
        open(path, 'wb').write(bytes(corrupt))
        try:
            loaded = load_checkpoint(path)
        except CheckpointError:
            continue
        assert same_checkpoint(loaded, original), f'byte {at} changed the checkpoint silently'
        unchanged += 1
    assert unchanged < len(raw) // 3      # most bytes matter: the test does exercise them


# ── what a checkpoint may say ──

def crafted(tmp_path, **meta):
    """A checkpoint with a valid checksum and metadata chosen by a stranger."""
    path = str(tmp_path / 'iter-000001.npz')
    save_checkpoint(path, {'w': np.zeros(2)}, meta)
    return path


@pytest.mark.parametrize('iteration', ['../../../tmp/evil', -1, 1.5, None, True, [3]])
def test_a_checkpoint_cannot_name_a_file_through_its_iteration(tmp_path, iteration):
    path = crafted(tmp_path, iteration=iteration)
    with pytest.raises(CheckpointError, match='iteration'):
        load_checkpoint(path)


@settings(deadline=None)
@given(iteration=st.integers(0, 10 ** 12))
def test_checkpoint_paths_stay_in_the_run_directory(iteration):
    run = RunDir('/runs/r')
    assert run.checkpoint_path(iteration).startswith('/runs/r/checkpoints/iter-')
    assert '/' not in run.checkpoint_path(iteration)[len('/runs/r/checkpoints/'):]


@pytest.mark.parametrize('iteration', [-1, 1.0, '1/../../x', None])
def test_run_directory_refuses_a_strange_iteration(iteration):
    with pytest.raises(RunDirError):
        RunDir('/runs/r').checkpoint_path(iteration)


def test_checkpoint_metadata_that_is_not_an_object_is_refused(tmp_path):
    path = str(tmp_path / 'c.npz')
    np.savez(path, w=np.zeros(2), __meta__=np.frombuffer(b'[1, 2]', np.uint8))
    with pytest.raises(CheckpointError, match='__meta__'):
        load_checkpoint(path)


def test_npz_member_that_is_not_an_array_is_refused(tmp_path):
    import zipfile
    path = tmp_path / 'c.npz'
    save_checkpoint(str(path), {'w': np.zeros(2)}, {'iteration': 0})
    with zipfile.ZipFile(path, 'a') as z:
        z.writestr('notes.txt', b'hello')
    with pytest.raises(CheckpointError):
        load_checkpoint(str(path))


# ── nothing read from a run directory writes outside it ──

def files_outside(root, run):
    return sorted(p for p in glob.glob(os.path.join(root, '**'), recursive=True)
                  if not p.startswith(str(run)))


def test_a_crafted_checkpoint_in_a_run_is_skipped_and_writes_nothing_elsewhere(tmp_path,
                                                                                capsys):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(20))
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '3', '--max-iter', '1', '--quiet') == 0
    good_meta = load_checkpoint(str(run / 'checkpoints' / 'iter-000001.npz'))[1]
    arrays = load_checkpoint(str(run / 'checkpoints' / 'iter-000001.npz'))[0]
    meta = {k: v for k, v in good_meta.items() if k not in ('checksum', 'format')}
    # the newest file, with a valid checksum, says it is iteration "../../../escaped"
    save_checkpoint(str(run / 'checkpoints' / 'iter-000009.npz'), arrays,
                    dict(meta, iteration='../../../escaped'))
    before = files_outside(str(tmp_path), run)
    capsys.readouterr()
    assert train(run, [], '--resume', '--max-iter', '2', '--quiet') == 0
    err = capsys.readouterr().err
    assert 'skipping checkpoint' in err and "invalid iteration '../../../escaped'" in err
    assert files_outside(str(tmp_path), run) == before
    assert Model.load(str(run / 'final.npz')).iteration == 2


@pytest.mark.parametrize('inputs', [['--output-dir', 'OUTSIDE'], '--output-dir=OUTSIDE',
                                    [['nested']], None])
def test_a_damaged_config_cannot_smuggle_options_into_a_resume(tmp_path, capsys, inputs):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(20))
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '3', '--max-iter', '1', '--quiet') == 0
    outside = str(tmp_path / 'outside')
    description = json.loads((run / 'config.json').read_text())
    description['inputs'] = json.loads(json.dumps(inputs).replace('OUTSIDE', outside))
    (run / 'config.json').write_text(json.dumps(description))
    capsys.readouterr()
    assert train(run, [], '--resume', '--max-iter', '2') == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'config.json is damaged: "inputs" must be a list of paths' in err
    assert not os.path.exists(outside)


def test_a_config_that_is_not_json_is_one_line(tmp_path, capsys):
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'config.json').write_text('{"config": ')
    assert train(run, [], '--resume') == 2
    assert 'config.json is damaged' in capsys.readouterr().err


def test_every_property_test_is_seeded_and_untimed():
    """conftest.py's profile reaches every @given here, whatever its @settings:
    the same examples on every run, no deadline."""
    tests = [f for name, f in globals().items()
             if name.startswith('test_') and hasattr(f, 'hypothesis')]
    assert len(tests) >= 10
    for test in tests:
        chosen = test._hypothesis_internal_use_settings
        assert chosen.derandomize is True and chosen.deadline is None, test.__name__
