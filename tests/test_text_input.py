"""Text as people keep it (docs/design.md §3.1): documents in jsonl and in csv
or tsv tables, class names, --max-len, the vocabulary as a MapReduce count
with bounded memory and the same result on every runner, and hostile text as
counted, named bad records (§8.1)."""
import csv
import json
import os
import random
import tracemalloc

import pytest

from helpers import metrics, train
from mr_rnn.cli import main
from mr_rnn.config import DataConfig
from mr_rnn.data.documents import table_rows
from mr_rnn.data.jsonl import JsonlReader, jsonl_facts
from mr_rnn.data.records import BadRecord
from mr_rnn.data.schema import merge_facts, schema_from_facts
from mr_rnn.data.vocab import FLUSH_AT, TopCounts, merge_top, top_of_counts
from mr_rnn.model import Model
from mr_rnn.tasks.describe import DescribeMap, DescribeReduce, merge
from mr_rnn.data.task_input import Record

SPAM = ['buy cheap pills now', 'win money fast!!!', 'cheap watches, free offer today',
        'claim your prize now', 'free money, click here']
HAM = ['meeting at noon tomorrow', 'please review the report', 'lunch on friday?',
       'the build is green again', 'notes from the design review']
FLAGS = ['--embed', '8', '--hidden', '8', '--lr', '0.05', '--max-iter', '12', '--tol', '0']


def documents(n, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = 'spam' if i % 2 else 'ham'
        out.append((f'{rng.choice(SPAM if label == "spam" else HAM)} #{rng.randint(0, 9)}',
                    label))
    return out


def write_docs_jsonl(path, docs, x='x', y='y'):
    with open(path, 'w', encoding='utf-8') as f:
        for i, (text, label) in enumerate(docs):
            f.write(json.dumps({x: text, y: label, 'id': f'd{i}'}) + '\n')
    return str(path)


def write_table(path, docs, delimiter=','):
    with open(path, 'w', encoding='utf-8', newline='') as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(['id', 'subject', 'body', 'queue'])
        for i, (text, label) in enumerate(docs):
            # a quoted field across a line break, with commas and doubled quotes
            w.writerow([i, 'hi', f'{text}\n-- "sent", from a phone', label])
    return str(path)


def run_json(capsys, *argv):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


# ── records ──

def test_a_jsonl_string_is_a_document_and_a_string_label_a_class_name():
    data = DataConfig(format='jsonl', case='lower')
    facts = {}
    for text, label in documents(20):
        facts = merge_facts(facts, jsonl_facts(json.dumps({'x': text, 'y': label}).encode(),
                                               data=data))
    schema = schema_from_facts(facts, data)
    assert schema.classes == ('ham', 'spam') and schema.output_size == 2
    assert schema.tokens == {'kind': 'words', 'lowercase': True, 'max_token_chars': 100}
    assert schema.token_input and schema.task == 'classify' and not schema.per_step
    [seq] = JsonlReader(schema, data=data).sequences(b'{"x": "Buy CHEAP zzz#", "y": "spam"}')
    vocab = list(schema.vocab)
    assert seq.x.tolist() == [vocab.index('buy'), vocab.index('cheap'), 0, vocab.index('#')]
    assert int(seq.y) == 1
    with pytest.raises(BadRecord, match="class 'eggs' is not one of the model's 2 classes"):
        JsonlReader(schema, data=data).sequences(b'{"x": "buy", "y": "eggs"}')


def test_fields_are_named_by_flags():
    data = DataConfig(format='jsonl', text_field='body', label_field='label')
    facts = jsonl_facts(b'{"body": "a b", "label": "x", "x": 3}', data=data)
    assert facts['class_names'] == {'x': 1} and facts['tokens'] == {'a': 1, 'b': 1}
    with pytest.raises(BadRecord, match='not a JSON object with "body" and "label"'):
        jsonl_facts(b'{"x": "a b", "y": "x"}', data=data)


def test_per_step_class_names_go_with_a_list_of_steps():
    data = DataConfig(format='jsonl')
    facts = {}
    for _ in range(3):
        facts = merge_facts(facts, jsonl_facts(b'{"x": [1, 2, 3], "y": ["b", "a", "b"]}',
                                               data=data))
    schema = schema_from_facts(facts, data)
    assert (schema.classes, schema.per_step, schema.task) == (('a', 'b'), True, 'classify')
    [seq] = JsonlReader(schema, data=data).sequences(b'{"x": [1, 0, 2], "y": ["a", "a", "b"]}')
    assert seq.y.tolist() == [0, 0, 1]


def test_max_len_keeps_the_first_or_the_last_steps():
    raw = b'{"x": "one two three four five", "y": "a"}'
    for keep, want in (('start', ['one', 'two']), ('end', ['four', 'five'])):
        data = DataConfig(format='jsonl', max_len=2, keep=keep)
        assert jsonl_facts(raw, data=data)['tokens'] == dict.fromkeys(want, 1)
    ids = DataConfig(format='jsonl', max_len=2, keep='end')
    facts = jsonl_facts(b'{"x": [5, 6, 7], "y": [1, 2, 3]}', data=ids)
    schema = schema_from_facts(merge_facts(facts, facts), ids)
    [seq] = JsonlReader(schema, data=ids).sequences(b'{"x": [5, 6, 7], "y": [1, 2, 3]}')
    assert seq.x.tolist() == [6, 7] and seq.y.tolist() == [2, 3]


def test_table_rows_span_line_breaks_and_are_named_by_their_first_line():
    lines = [b'id,body,label', b'1,"two', b'lines, ""quoted""",a', b'2,plain,b', b'3,"\xff",c',
             b'', b'4,x,d']
    rows = list(table_rows(iter(lines), 'f.csv'))
    assert rows[:3] == [(1, ['id', 'body', 'label']), (2, ['1', 'two\nlines, "quoted"', 'a']),
                        (4, ['2', 'plain', 'b'])]
    assert rows[3][0] == 5 and 'invalid UTF-8' in str(rows[3][1])
    assert rows[4][0] == 6 and 'empty row' in str(rows[4][1])
    assert rows[5] == (7, ['4', 'x', 'd'])
    tabs = list(table_rows(iter([b'body\tlabel', b'a, b\tc']), 'f.tsv.gz'))
    assert tabs[1] == (2, ['a, b', 'c'])


# ── the vocabulary: bounded, and the same on every runner ──

def test_a_reducer_and_the_driver_hold_a_bounded_top_of_a_million_tokens():
    k = 1000
    reduce = DescribeReduce('jsonl', DataConfig(format='jsonl', max_vocab=k + 1))
    tracemalloc.start()
    for i in range(1_000_000):
        list(reduce.add(f't:w{i:07d}', [1 + i % 7]))
    top = dict(reduce.finish())['vocab']
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(top) == k
    # the 7s of smallest name: count descending, then token ascending
    assert top[0] == ['w0000006', 7] and top[-1] == [f'w{6 + 7 * (k - 1):07d}', 7]
    assert peak < 2_000_000, peak           # 2k entries, not a million
    merged = merge_top([top, [['a', 7], ['zz', 100]]], k)
    assert merged[0] == ['zz', 100] and merged[1] == ['a', 7] and len(merged) == k


def test_a_map_task_emits_its_counts_in_bounded_pieces():
    data = DataConfig(format='jsonl', max_len=100_000)
    task = DescribeMap('jsonl', None, data)
    text = ' '.join(f'w{i}' for i in range(150_000))
    record = Record(b'', 'f:1', 'f', lambda: jsonl_facts(
        json.dumps({'x': text, 'y': 'a'}).encode(), data=data))
    emitted = task.add(record)
    assert len(emitted) == 100_001 and not task.counts      # past FLUSH_AT: emitted at once
    assert FLUSH_AT < 100_001
    out = dict(task.finish())
    assert out['facts']['records'] == 1 and len(out) == 1
    assert list(merge('t:w1', [2, 3])) == [('t:w1', 5)]


def test_ties_go_to_the_smaller_token():
    counts = {'b': 2, 'a': 2, 'c': 2, 'd': 5}
    assert top_of_counts(counts, 3) == [['d', 5], ['a', 2], ['b', 2]]
    top = TopCounts(2, min_count=3)
    for t, n in counts.items():
        top.add(t, n)
    assert top.top() == [['d', 5]]


def vocab_corpus(folder):
    """Four files of documents over a long-tailed vocabulary with many ties."""
    rng = random.Random(3)
    words = [f'w{i}' for i in range(3000)]
    paths = []
    for part in range(4):
        docs = [(' '.join(rng.choice(words[:rng.choice((30, 300, 3000))])
                          for _ in range(rng.randint(1, 30))), rng.choice('ab'))
                for _ in range(150)]
        paths.append(write_docs_jsonl(folder / f'part-{part}.jsonl', docs))
    return paths


@pytest.fixture(scope='module')
def vocab_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp('vocab')
    paths = vocab_corpus(folder)
    facts = {}
    for path in paths:
        for raw in open(path, 'rb'):
            facts = merge_facts(facts, jsonl_facts(raw.rstrip(b'\n')))
    return folder, paths, facts


def describe_only(run, inputs, *flags):
    assert train(run, inputs, '--max-iter', '0', '--hidden', '2', '--embed', '2',
                 '--max-vocab', '500', *flags) == 0
    return Model.load(str(run / 'checkpoints' / 'iter-000000.npz')).schema


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_the_vocabulary_is_the_same_on_every_runner_and_split(vocab_runs, runner):
    folder, paths, facts = vocab_runs
    want = schema_from_facts(facts, DataConfig(format='jsonl', max_vocab=500))
    assert len(want.vocab) == 500
    runs = [describe_only(folder / f'{runner}-files', paths, '-r', runner)]
    if runner == 'local':       # the files shuffled, more map tasks and three reducers
        shuffled = [paths[2], paths[0], paths[3], paths[1]]
        runs.append(describe_only(folder / 'local-split', shuffled, '-r', runner,
                                  '--num-cores', '4', '-D', 'mapreduce.job.reduces=3'))
    for schema in runs:
        assert schema.vocab == want.vocab and schema.classes == want.classes == ('a', 'b')


# ── end to end: train, evaluate, predict ──

@pytest.mark.parametrize('kind', ['jsonl', 'csv'])
def test_documents_train_evaluate_and_predict(tmp_path, capsys, kind):
    docs = documents(80)
    if kind == 'jsonl':
        data = write_docs_jsonl(tmp_path / 'mail.jsonl', docs, x='text', y='label')
        flags = ['--text-field', 'text', '--label-field', 'label']
    else:
        data = write_table(tmp_path / 'mail.csv', docs)
        flags = ['--text-column', 'body', '--label-column', 'queue', '--keep', 'start',
                 '--max-len', '6']
    run = tmp_path / 'run'
    assert train(run, [data], *FLAGS, *flags, '--tokens', 'words', '--case', 'lower') == 0
    model = Model.load(str(run / 'final.npz'))
    assert model.schema.classes == ('ham', 'spam')
    result = json.loads(run_json(capsys, 'evaluate', str(run), data, '--json'))
    assert result['records'] == 80 and result['accuracy'] == 1.0
    lines = [json.loads(line) for line in run_json(capsys, 'predict', str(run), data).split('\n')
             if line]
    assert len(lines) == 80 and all('error' not in line for line in lines)


def test_a_table_of_documents_needs_both_columns(tmp_path, capsys):
    data = write_table(tmp_path / 'mail.csv', documents(10))
    capsys.readouterr()
    assert train(tmp_path / 'run', [data], '--text-column', 'body') == 2
    assert 'needs both --text-column and --label-column' in capsys.readouterr().err


# ── hostile text: counted, named bad records, on inline and local ──

MILLION_WORDS = ' '.join(f'w{i}' for i in range(1_000_000))
# (the line, the word of its reason, or None: read, not bad)
HOSTILE = [
    (json.dumps({'x': 'x' * (8 << 20), 'y': 'spam'}).encode(), None),       # one huge word
    (json.dumps({'x': MILLION_WORDS, 'y': 'ham'}).encode(), 'past the limit of 100000 steps'),
    (b'{"x": "buy cheap", "y": 1}', 'is a class id, the model expects a class name'),
    (b'{"x": "", "y": "spam"}', 'the text is empty'),
    (b'{"x": "buy \xff\xfe cheap", "y": "spam"}', 'invalid UTF-8'),
    (b'{"x": "  \\t ", "y": "ham"}', 'the text has no tokens'),
]
GOOD = 60


@pytest.fixture(scope='module')
def hostile_text(tmp_path_factory):
    folder = tmp_path_factory.mktemp('hostile-text')
    good = [json.dumps({'x': t, 'y': y}).encode() for t, y in documents(GOOD, seed=5)]
    lines = good[:GOOD // 2] + [line for line, _ in HOSTILE] + good[GOOD // 2:]
    path = folder / 'mail.jsonl'
    path.write_bytes(b'\n'.join(lines) + b'\n')
    return str(path), folder, GOOD // 2 + 1


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_hostile_text_is_counted_and_named_and_never_grows_the_vocabulary(hostile_text, runner,
                                                                          capsys):
    path, folder, first = hostile_text
    run = folder / f'run-{runner}'
    bad = [(first + n, reason) for n, (_, reason) in enumerate(HOSTILE) if reason]
    assert train(run, [path], '--embed', '4', '--hidden', '4', '--max-iter', '1',
                 '--max-vocab', '20', '--max-bad-fraction', '0.2', '-r', runner) == 0
    assert [r['bad_records'] for r in metrics(run)] == [len(bad)] * 2
    assert [r['records'] for r in metrics(run)] == [GOOD + len(HOSTILE)] * 2
    err = capsys.readouterr().err
    for line, reason in bad:
        assert any(f'mail.jsonl:{line}: ' in e and reason in e for e in err.splitlines()), \
            (line, reason, err)
    schema = Model.load(str(run / 'final.npz')).schema
    assert len(schema.vocab) == 20 and max(len(t) for t in schema.vocab) <= 100
    assert schema.classes == ('ham', 'spam')


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_a_million_distinct_words_capped_by_max_len_keep_the_vocabulary_bounded(
        tmp_path, runner):
    docs = [json.dumps({'x': MILLION_WORDS, 'y': 'a'}), json.dumps({'x': 'w1 w2', 'y': 'b'})]
    path = tmp_path / 'million.jsonl'
    path.write_text('\n'.join(docs * 2) + '\n')
    schema = describe_only(tmp_path / 'run', [str(path)], '--max-len', '100000', '-r', runner)
    assert len(schema.vocab) == 500
    # two records hold w0..w99999: ties at count 2 go to the smaller tokens
    assert schema.vocab[:4] == ('<unk>', 'w0', 'w1', 'w10')


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_hostile_rows_of_a_table_are_counted_and_named(tmp_path, runner, capsys):
    good = [f'{i},"{t}\n(two lines)",{y}'.encode() for i, (t, y) in
            enumerate(documents(GOOD, seed=6))]
    hostile = [b'91,"buy \xff cheap",spam', b'92,,ham', b'93,' + b'z' * 300_000 + b',spam',
               b'94,only two']
    lines = [b'id,body,label'] + good[:10] + hostile + good[10:]
    path = tmp_path / 'mail.csv'
    path.write_bytes(b'\n'.join(lines) + b'\n')
    run = tmp_path / 'run'
    assert train(run, [str(path)], '--text-column', 'body', '--label-column', 'label',
                 '--embed', '4', '--hidden', '4', '--max-iter', '1', '--max-bad-fraction', '0.2',
                 '-r', runner) == 0
    # rows 2..21 are the first ten documents, two lines each
    assert [r['bad_records'] for r in metrics(run)] == [3] * 2
    err = capsys.readouterr().err
    for line, reason in ((22, 'invalid UTF-8'), (23, 'the text is empty'), (25, '2 fields')):
        assert f'mail.csv:{line}: ' in err and reason in err, (line, reason, err)


def test_tokens_ids_refuses_a_document():
    with pytest.raises(BadRecord, match='--tokens ids reads lists of token ids'):
        jsonl_facts(b'{"x": "a b", "y": "c"}', data=DataConfig(format='jsonl', tokens='ids'))
    assert jsonl_facts(b'{"x": [1, 2], "y": 0}', data=DataConfig(tokens='ids'))['records'] == 1


def test_a_word_language_model_reads_lines_of_words_and_their_ends():
    from mr_rnn.data.text import TextReader, text_facts
    data = DataConfig(format='text', tokens='words', seq_len=3)
    facts = merge_facts(text_facts(b'The cat sat.', settings=tokens_of(data)),
                        text_facts(b'the dog', settings=tokens_of(data)))
    schema = schema_from_facts(facts, data)
    assert schema.vocab == ('<unk>', '\n', '.', 'The', 'cat', 'dog', 'sat', 'the')
    assert schema.tokens['kind'] == 'words' and schema.task == 'lm'
    seqs = TextReader(schema, 3).sequences(b'The cat sat.')
    v = schema.vocab.index
    assert [s.x.tolist() for s in seqs] == [[v('The'), v('cat'), v('sat')], [v('.')]]
    assert [s.y.tolist() for s in seqs] == [[v('cat'), v('sat'), v('.')], [v('\n')]]


def tokens_of(data):
    from mr_rnn.data.documents import token_settings
    return token_settings(data, 'text')
