"""Outputs with names: class names in predict's lines, per-class precision,
recall and F1 and a labelled confusion matrix from evaluate (checked against
scikit-learn on the same predictions), word language models in sample, and
the tokenizer file that export writes beside a model (read from disk).

A model whose schema has no class names (``classes`` None) behaves as before
names existed: ids in predict's lines, a list of probabilities.
"""
import dataclasses
import json
import os
import re

import numpy as np
import pytest

from conftest import need_module
from helpers import random_model, sequence_records, write_jsonl
from mr_rnn.cli import main
from mr_rnn.codec.checkpoint import load_checkpoint, save_checkpoint
from mr_rnn.config import DataConfig, ModelConfig, TrainConfig
from mr_rnn.data.schema import DataSchema
from mr_rnn.inference.generate import join_words, sample_text, text_codec, word_codec
from mr_rnn.inference.metrics import classification_metrics, evaluation_lines, evaluation_metrics
from mr_rnn.inference.predictions import softmax
from mr_rnn.kernels.network import forward, step
from mr_rnn.model import Model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONNX = "pip install -e '.[onnx]'"
SKLEARN = "pip install -e '.[test]'"
NAMES = ('eggs', 'ham', 'spam')                  # sorted: a class's id is its index
WORDS = {'kind': 'words', 'lowercase': True, 'max_token_chars': 100}


def dense_classifier(classes, per_step=False, seed=0):
    config = TrainConfig(model=ModelConfig(cell='gru', hidden=6, dtype='float64'), batch_size=4)
    return random_model(config, DataSchema('jsonl', 'classify', False, 3, per_step, len(NAMES),
                                           classes=classes), seed=seed)


def logits_of(model, x):
    x = np.array([x])
    return forward(model.params, model.spec, x, np.ones(x.shape[:2], bool))[0]


def predict_lines(capsys, *argv):
    assert main(['predict', *argv]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# ── the schema keeps the names and the tokenizer settings ──

def test_schema_round_trips_classes_and_tokens():
    schema = DataSchema('jsonl', 'classify', True, 5, False, 3, vocab=('<unk>', 'a', 'b', 'c', 'd'),
                        classes=NAMES, tokens=WORDS)
    again = DataSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema and again.classes == NAMES and again.tokens == WORDS
    assert again.token_settings() == WORDS


def test_a_checkpoint_written_before_names_loads_without_them(tmp_path):
    path = str(tmp_path / 'old.npz')
    dense_classifier(None).save(path)
    arrays, meta = load_checkpoint(path)
    for key in ('classes', 'tokens'):
        del meta['schema'][key]                  # what a checkpoint of an older mr_rnn holds
    del meta['checksum']
    save_checkpoint(path, arrays, meta)
    model = Model.load(path)
    assert model.schema.classes is None and model.schema.tokens is None


def test_token_settings_say_what_each_format_meant_before_tokenizers():
    text = DataSchema('text', 'lm', True, 3, True, 3, vocab=('<unk>', 'a', 'b'))
    ids = DataSchema('jsonl', 'lm', True, 9, True, 9)
    dense = DataSchema('jsonl', 'classify', False, 3, False, 2)
    assert text.token_settings() == {'kind': 'chars'}
    assert ids.token_settings() == {'kind': 'ids'}
    assert dense.token_settings() is None


# ── predict: class names and probabilities keyed by name ──

@pytest.fixture(scope='module')
def records(tmp_path_factory):
    folder = tmp_path_factory.mktemp('named')
    records = sequence_records(13, seed=3, dim=3, classes=len(NAMES))
    for r in records:
        del r['y']                               # data to score: no labels needed
    return write_jsonl(folder / 'data.jsonl', records), records


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_predict_writes_class_names_and_probabilities_by_name(records, tmp_path, capsys, runner):
    data, recs = records
    model = dense_classifier(NAMES)
    ckpt = str(tmp_path / 'model.npz')
    model.save(ckpt)
    lines = {line['id']: line for line in predict_lines(capsys, ckpt, data, '-r', runner)}
    assert len(lines) == len(recs)
    for r in recs:
        line, p = lines[r['id']], softmax(logits_of(model, r['x']))
        assert line['class'] == NAMES[int(np.argmax(p))]
        assert list(line['probabilities']) == list(NAMES)        # in class-id order
        np.testing.assert_allclose([line['probabilities'][n] for n in NAMES], p, rtol=1e-12)


def test_predict_without_names_writes_ids_as_before(records, tmp_path, capsys):
    data, recs = records
    model = dense_classifier(None)
    ckpt = str(tmp_path / 'model.npz')
    model.save(ckpt)
    for line, r in zip(predict_lines(capsys, ckpt, data), recs):
        p = softmax(logits_of(model, r['x']))
        assert line['class'] == int(np.argmax(p)) and isinstance(line['class'], int)
        assert isinstance(line['probabilities'], list)
        np.testing.assert_allclose(line['probabilities'], p, rtol=1e-12)


def test_per_step_classes_are_named_at_every_step(records, tmp_path, capsys):
    data, recs = records
    model = dense_classifier(NAMES, per_step=True, seed=5)
    ckpt = str(tmp_path / 'model.npz')
    model.save(ckpt)
    lines = {line['id']: line for line in predict_lines(capsys, ckpt, data)}
    for r in recs:
        line, p = lines[r['id']], softmax(logits_of(model, r['x']))     # (T, C)
        assert line['classes'] == [NAMES[c] for c in p.argmax(-1)]
        assert len(line['probabilities']) == len(r['x'])
        for got, want in zip(line['probabilities'], p):
            np.testing.assert_allclose([got[n] for n in NAMES], want, rtol=1e-12)


# ── evaluate: per-class precision, recall, F1 and the confusion matrix ──

CLASSES = 4


@pytest.fixture(scope='module')
def evaluated(tmp_path_factory):
    """An evaluate job's result on a 4-class model, and the labels and
    predictions computed record by record in this process."""
    folder = tmp_path_factory.mktemp('evaluate')
    records = sequence_records(60, seed=8, dim=3, classes=CLASSES)
    data = write_jsonl(folder / 'data.jsonl', records)
    config = TrainConfig(model=ModelConfig(cell='lstm', hidden=5, dtype='float64'), batch_size=4)
    model = random_model(config, DataSchema('jsonl', 'classify', False, 3, False, CLASSES), seed=2)
    ckpt = str(folder / 'model.npz')
    model.save(ckpt)
    y_true = [r['y'] for r in records]
    y_pred = [int(np.argmax(logits_of(model, r['x']))) for r in records]
    return ckpt, data, model, y_true, y_pred


def sklearn_report(y_true, y_pred, labels):
    metrics = need_module('sklearn.metrics', SKLEARN)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {'precision': precision, 'recall': recall, 'f1': f1, 'support': support,
            'macro_f1': metrics.f1_score(y_true, y_pred, average='macro', zero_division=0),
            'macro_precision': metrics.precision_score(y_true, y_pred, average='macro',
                                                       zero_division=0),
            'macro_recall': metrics.recall_score(y_true, y_pred, average='macro', zero_division=0),
            'confusion': metrics.confusion_matrix(y_true, y_pred, labels=labels)}


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_per_class_metrics_of_the_job_equal_scikit_learn(evaluated, capsys, runner):
    ckpt, data, model, y_true, y_pred = evaluated
    assert main(['evaluate', ckpt, data, '-r', runner, '--json']) == 0
    got = json.loads(capsys.readouterr().out)
    want = sklearn_report(y_true, y_pred, list(range(CLASSES)))
    assert len(set(y_pred)) > 1                      # not a model that always says one class
    assert got['confusion'] == want['confusion'].tolist()
    assert got['labels'] == list(range(CLASSES))     # no names: the ids
    assert list(got['per_class']) == [str(c) for c in range(CLASSES)]
    for c in range(CLASSES):
        for key in ('precision', 'recall', 'f1'):
            assert got['per_class'][str(c)][key] == pytest.approx(want[key][c], abs=1e-12), key
        assert got['per_class'][str(c)]['support'] == want['support'][c]
    assert got['f1_per_class'] == pytest.approx(want['f1'].tolist(), abs=1e-12)
    for key in ('macro_f1', 'macro_precision', 'macro_recall'):
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


@pytest.mark.parametrize('confusion', [
    [[2, 1, 0, 0], [0, 3, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]],     # a class nobody has nor predicts
    [[0, 4, 0], [0, 5, 1], [0, 2, 0]],                            # classes never predicted
    [[7, 0], [0, 0]],                                             # one class only
])
def test_classification_metrics_equal_scikit_learn_where_a_ratio_is_undefined(confusion):
    y_true = [t for t, row in enumerate(confusion) for p, n in enumerate(row) for _ in range(n)]
    y_pred = [p for t, row in enumerate(confusion) for p, n in enumerate(row) for _ in range(n)]
    labels = list(range(len(confusion)))
    want = sklearn_report(y_true, y_pred, labels)
    got = classification_metrics(np.array(confusion))
    assert np.array_equal(want['confusion'], confusion)
    for key in ('precision', 'recall', 'f1', 'support'):
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-12, err_msg=key)
    for key in ('macro_f1', 'macro_precision', 'macro_recall'):
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_evaluation_names_the_classes_in_json_and_text(evaluated):
    """The evaluate job's totals, read with a checkpoint that names its classes."""
    _, _, model, y_true, y_pred = evaluated
    names = ('billing', 'not spam', 'spam', 'technical-escalation')
    named = Model(model.config, dataclasses.replace(model.schema, classes=names), model.params,
                  model.optim_state)
    confusion = np.zeros((CLASSES, CLASSES))
    np.add.at(confusion, (y_true, y_pred), 1.0)
    result = evaluation_metrics(named, {'count': len(y_true), 'loss_sum': 1.0,
                                        'correct': int(np.trace(confusion))},
                                {'confusion': confusion})
    json.dumps(result)                               # JSON-able as it is
    assert result['labels'] == list(names) and list(result['per_class']) == list(names)
    want = sklearn_report(y_true, y_pred, list(range(CLASSES)))
    for c, name in enumerate(names):
        assert result['per_class'][name]['recall'] == pytest.approx(want['recall'][c], abs=1e-12)

    lines = evaluation_lines(result)
    first = lines.index('confusion matrix (rows: true class, columns: predicted class)')
    header = lines[first + 1]
    assert 'billing' in header and 'not spam' in header
    assert 'technical-e~' in header                  # a long name is cut in a column header
    for c, name in enumerate(names):
        row = lines[first + 2 + c]
        assert row.lstrip().startswith(name)
        assert [int(v) for v in row[len(row) - len(row.lstrip()) + len(name):].split()[:-1]] \
            == confusion[c].astype(int).tolist()
    table = lines[first + 2 + CLASSES:]
    assert table[0].split() == ['class', 'precision', 'recall', 'F1', 'support']
    for c, name in enumerate(names):
        values = table[1 + c][table[1 + c].index(name) + len(name):].split()
        assert [float(v) for v in values[:3]] == pytest.approx(
            [want['precision'][c], want['recall'][c], want['f1'][c]], abs=1e-4)
        assert int(values[3]) == want['support'][c]


# ── sample: word language models ──

WORD_VOCAB = ('<unk>', '!', '"', "'", ',', '.', 'and', 'cat', 'sat', 't', 'the', 'won')


def tokenize(text):
    """A stand-in for the word tokenizer: lowercased words and punctuation marks."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


@pytest.fixture(scope='module')
def word_model():
    schema = DataSchema('text', 'lm', True, len(WORD_VOCAB), True, len(WORD_VOCAB),
                        vocab=WORD_VOCAB, tokens=WORDS)
    config = TrainConfig(model=ModelConfig(cell='lstm', hidden=8, dtype='float64'),
                         data=DataConfig(format='text', seq_len=4))
    return random_model(config, schema, seed=2, scale=2.5)   # greedy text of 5 distinct tokens


def greedy_tokens(model, ids, n):
    logits, state = step(model.params, model.spec, np.array([ids]))
    out = []
    for _ in range(n):
        token = int(np.argmax(logits[0, -1]))
        out.append(WORD_VOCAB[token] if token else '<unk>')
        logits, state = step(model.params, model.spec, np.array([[token]]), state)
    return out


def test_a_word_model_is_primed_with_words_and_its_words_are_joined(word_model):
    codec = word_codec(WORD_VOCAB, tokenize)
    prime = 'The CAT sat, and a dog'                 # 'a' and 'dog' are not in the vocabulary
    ids = [10, 7, 8, 4, 6, 0, 0]
    assert codec.encode(prime) == ids
    tokens = greedy_tokens(word_model, ids, 15)
    text = sample_text(word_model, prime, 15, k=1, codec=codec)
    assert text == join_words(tokens, prime)
    assert len(set(tokens)) > 2                      # the join below is not of one token
    # the words come back as written: one space between words, none before a mark
    assert re.sub(r' ', '', text) == ''.join(tokens)


@pytest.mark.parametrize('tokens,prime,text', [
    (['the', 'cat', 'sat', '.'], '', 'the cat sat.'),
    (['sat', ',', 'and', 'won', '!'], 'The cat', ' sat, and won!'),
    (['won'], 'The cat ', 'won'),
    (['won', "'", 't', '.'], 'it', " won't."),
    (['she', 'said', '"', 'the', 'cat', '"', 'and', 'sat'], '', 'she said "the cat" and sat'),
    (['cat', '"', 'and'], 'she said "the', ' cat" and'),
    (['(', 'the', 'cat', ')', 'sat'], 'and', ' (the cat) sat'),
    (['sat', '\n', 'the', 'cat'], '', 'sat\nthe cat'),
    (['well', '-', 'known', '<unk>'], '', 'well-known <unk>'),
])
def test_join_words(tokens, prime, text):
    assert join_words(tokens, prime) == text


def tokens_module(monkeypatch):
    from mr_rnn.data import tokens
    return tokens


def test_cli_samples_a_word_model(word_model, tmp_path, capsys, monkeypatch):
    tokens = tokens_module(monkeypatch)
    ckpt = str(tmp_path / 'words.npz')
    word_model.save(ckpt)
    prime = 'The cat'
    assert main(['sample', ckpt, '--prime', prime, '--length', '9', '--top-k', '1']) == 0
    ids = tokens.encode(prime, WORDS, WORD_VOCAB)
    assert capsys.readouterr().out == prime + join_words(greedy_tokens(word_model, ids, 9),
                                                         prime) + '\n'
    assert text_codec(word_model.schema).encode(prime) == ids


def test_a_character_model_samples_as_before(tmp_path):
    vocab = ('<unk>', '\n', ' ', 'a', 'b')
    schema = DataSchema('text', 'lm', True, len(vocab), True, len(vocab), vocab=vocab)
    config = TrainConfig(model=ModelConfig(cell='gru', hidden=6, dtype='float64'),
                         data=DataConfig(format='text', seq_len=4))
    model = random_model(config, schema, seed=1, scale=1.5)
    assert text_codec(schema).encode('ab?') == [3, 4, 0]
    text = sample_text(model, 'ab', 30, temperature=1.5, seed=2)
    assert len(text) == 30 and set(text) <= set(vocab[1:]) | {'?'}


# ── export: the tokenizer file beside the model ──

def exported_tokenizer(tmp_path, model, out):
    ckpt = str(tmp_path / 'ckpt.npz')
    model.save(ckpt)
    assert main(['export', ckpt, str(tmp_path / out)]) == 0
    with open(tmp_path / (os.path.splitext(out)[0] + '.tokenizer.json'), encoding='utf-8') as f:
        return json.load(f)


def word_classifier():
    vocab = ('<unk>', '!', 'buy', 'cheap', 'hello', 'now', 'pills', 'ça')
    schema = DataSchema('jsonl', 'classify', True, len(vocab), False, 2, vocab=vocab,
                        classes=('ham', 'spam'), tokens=WORDS)
    config = TrainConfig(model=ModelConfig(cell='gru', hidden=5, embed=4))
    return random_model(config, schema, seed=3)


@pytest.mark.parametrize('out', ['spam.onnx', 'spam-torch.npz'])
def test_export_writes_tokenizer_settings_vocabulary_and_class_names(tmp_path, out):
    if out.endswith('.onnx'):
        need_module('onnx', ONNX)
    facts = exported_tokenizer(tmp_path, word_classifier(), out)
    assert facts == {'format': 'mr_rnn-tokenizer-1', 'task': 'classify', 'tokens': WORDS,
                     'vocab': ['<unk>', '!', 'buy', 'cheap', 'hello', 'now', 'pills', 'ça'],
                     'classes': ['ham', 'spam'], 'max_len': None, 'keep': 'start'}
    raw = (tmp_path / (os.path.splitext(out)[0] + '.tokenizer.json')).read_bytes()
    assert 'ça'.encode('utf-8') in raw               # UTF-8, readable, not \u escapes


def test_tokenizer_file_of_models_without_words_or_names(tmp_path):
    chars = DataSchema('text', 'lm', True, 3, True, 3, vocab=('<unk>', 'a', 'b'))
    ids = DataSchema('jsonl', 'classify', True, 9, False, 4)
    dense = DataSchema('jsonl', 'regress', False, 3, False, 2)
    config = TrainConfig(model=ModelConfig(cell='rnn', hidden=3))
    for name, schema, tokens, vocab in (('chars', chars, {'kind': 'chars'}, ['<unk>', 'a', 'b']),
                                        ('ids', ids, {'kind': 'ids'}, None),
                                        ('dense', dense, None, None)):
        facts = exported_tokenizer(tmp_path, Model.initial(config, schema), f'{name}.npz')
        assert facts['tokens'] == tokens and facts['vocab'] == vocab, name
        assert facts['classes'] is None and facts['task'] == schema.task


def raw_text_snippet():
    """The raw-string example of docs/using-models.md, so the docs cannot go stale."""
    with open(os.path.join(ROOT, 'docs', 'using-models.md'), encoding='utf-8') as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
    return next(b for b in blocks if 'from mr_rnn.data.tokens import model_input' in b)


def test_docs_example_classifies_a_raw_string_with_onnxruntime(tmp_path, monkeypatch):
    need_module('onnxruntime', ONNX)
    tokens = tokens_module(monkeypatch)
    vocab = ('<unk>', ' ', '!', 'a', 'b', 'c', 'e', 'h', 'l', 'n', 'o', 'p', 's', 'u', 'w', 'y')
    schema = DataSchema('jsonl', 'classify', True, len(vocab), False, 2, vocab=vocab,
                        classes=('ham', 'spam'), tokens={'kind': 'chars'})
    model = random_model(TrainConfig(model=ModelConfig(cell='lstm', hidden=6)), schema, seed=9)
    ckpt = str(tmp_path / 'ckpt.npz')
    model.save(ckpt)
    assert main(['export', ckpt, str(tmp_path / 'spam.onnx')]) == 0
    monkeypatch.chdir(tmp_path)
    text = 'Buy cheap pills now!'                    # 'B' is not in the vocabulary
    namespace = {}
    exec(raw_text_snippet().replace("'buy cheap pills now!'", repr(text)), namespace)
    ids = tokens.encode(text, schema.token_settings(), vocab)
    p = softmax(forward(model.params, model.spec, np.array([ids]), np.ones((1, len(ids)), bool))[0])
    assert namespace['label'] == schema.classes[int(np.argmax(p))]
    np.testing.assert_allclose(namespace['probabilities'], p, rtol=0, atol=1e-5)


def test_inspect_shows_the_tokenizer_settings_and_class_names(tmp_path, capsys):
    ckpt = str(tmp_path / 'ckpt.npz')
    word_classifier().save(ckpt)
    assert main(['inspect', ckpt]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 'tokens       kind words, lowercase True, max_token_chars 100' in lines
    assert 'classes      2: ham, spam' in lines


SPAM_WORDS = ('buy', 'cheap', 'pills', 'now', 'winner', 'free', 'offer', 'click')
HAM_WORDS = ('meeting', 'tomorrow', 'agenda', 'notes', 'lunch', 'report', 'team', 'review')


def raw_documents(n, seed):
    """Raw e-mails as a user keeps them: text with punctuation and case, a class name."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        label = str(rng.choice(['ham', 'spam']))
        own, other = (SPAM_WORDS, HAM_WORDS) if label == 'spam' else (HAM_WORDS, SPAM_WORDS)
        words = [str(rng.choice(own if rng.random() < 0.7 else other))
                 for _ in range(int(rng.integers(3, 30)))]
        words[0] = words[0].capitalize()
        docs.append({'x': ' '.join(words) + str(rng.choice(['!', '.', '?'])), 'y': label})
    return docs


@pytest.mark.parametrize('keep', ['start', 'end'])
def test_onnx_and_the_tokenizer_file_classify_a_raw_string_as_predict_does(tmp_path, capsys, keep):
    need_module('onnxruntime', ONNX)
    import onnxruntime as ort
    from mr_rnn.data.tokens import model_input
    train_file = write_jsonl(tmp_path / 'train.jsonl', raw_documents(120, seed=1))
    test_docs = raw_documents(30, seed=2) + [{'x': 'Cheap review, unseen-word NOW!!', 'y': 'ham'}]
    test_file = write_jsonl(tmp_path / 'test.jsonl', test_docs)
    run = tmp_path / 'run'
    assert main(['train', train_file, '--out', str(run), '--tokens', 'words', '--case', 'lower',
                 '--embed', '8', '--hidden', '8', '--max-len', '12', '--keep', keep,
                 '--max-iter', '4', '--lr', '0.05', '--quiet']) == 0
    assert main(['export', str(run), str(tmp_path / 'spam.onnx')]) == 0
    capsys.readouterr()
    assert main(['predict', str(run), test_file]) == 0
    predicted = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                 if line.startswith('{')]
    assert len(predicted) == len(test_docs)
    with open(tmp_path / 'spam.tokenizer.json', encoding='utf-8') as f:
        tokenizer = json.load(f)
    assert tokenizer['max_len'] == 12 and tokenizer['keep'] == keep
    session = ort.InferenceSession(str(tmp_path / 'spam.onnx'))
    cut = 0
    for doc, row in zip(test_docs, predicted):
        ids = model_input(doc['x'], tokenizer)
        cut += len(model_input(doc['x'], dict(tokenizer, max_len=None))) > len(ids)
        logits = session.run(['output'], {'x': np.array([ids], np.int64),
                                          'lengths': np.array([len(ids)], np.int32)})[0][0]
        p = softmax(logits.astype(np.float64))
        assert tokenizer['classes'][int(np.argmax(p))] == row['class']
        np.testing.assert_allclose([p[i] for i in range(2)],
                                   [row['probabilities'][name] for name in tokenizer['classes']],
                                   rtol=0, atol=1e-5)
    assert cut > 5      # the cap was exercised, so the keep side mattered
