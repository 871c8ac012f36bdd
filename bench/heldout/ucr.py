"""Four public UCR/UEA classification sets with their standard train/test
splits, as jsonl records (docs/design.md §3.1: {"x": T steps of D floats,
"y": class id}): GunPoint, ItalyPowerDemand (univariate), BasicMotions and
JapaneseVowels (multivariate; JapaneseVowels of unequal lengths). They come
from the `.ts` files inside the PyPI wheel of sktime (SKTIME_VERSION), fetched
once with `pip download --no-deps` into ~/.cache/mr_rnn/ and never committed;
sktime itself is not installed or imported."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

SKTIME_VERSION = '1.2.0'
CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'mr_rnn')
SETS = ('GunPoint', 'JapaneseVowels', 'ItalyPowerDemand', 'BasicMotions')
# the published 1-nearest-neighbour DTW test accuracies of the UCR/UEA archive
DTW_1NN = {'GunPoint': 0.907, 'JapaneseVowels': 0.949, 'ItalyPowerDemand': 0.950,
           'BasicMotions': 0.975}
SOURCE = f'PyPI `sktime=={SKTIME_VERSION}` (its `sktime/datasets/data/*/*.ts`)'


def wheel():
    """The cached sktime wheel, downloaded (no dependencies) on first use."""
    where = os.path.join(CACHE, f'sktime-{SKTIME_VERSION}')
    found = glob.glob(os.path.join(where, 'sktime-*.whl'))
    if not found:
        os.makedirs(where, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=where)
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--quiet',
                        '-d', tmp, f'sktime=={SKTIME_VERSION}'], check=True)
        name = os.path.basename(glob.glob(os.path.join(tmp, 'sktime-*.whl'))[0])
        os.replace(os.path.join(tmp, name), os.path.join(where, name))
        os.rmdir(tmp)
        found = [os.path.join(where, name)]
    return found[0]


def parse_ts(text):
    """[(series as T lists of D floats, label)] of a .ts file's @data lines."""
    labels, rows, data = None, [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.lower().startswith('@classlabel'):
            labels = line.split()[2:]
        elif line.lower().startswith('@data'):
            data = True
        elif data:
            *dims, label = line.split(':')
            channels = [[float(v) for v in d.split(',')] for d in dims]
            rows.append(([list(step) for step in zip(*channels)], labels.index(label)))
    return rows


def jsonl_splits(name, folder):
    """(train.jsonl, test.jsonl) of set ``name``, written into ``folder`` once."""
    paths = tuple(os.path.join(folder, f'{name}_{split}.jsonl') for split in ('train', 'test'))
    if all(os.path.exists(p) for p in paths):
        return paths
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(wheel()) as z:
        for split, path in zip(('TRAIN', 'TEST'), paths):
            text = z.read(f'sktime/datasets/data/{name}/{name}_{split}.ts').decode('utf-8')
            with open(path + '.tmp', 'w') as f:
                for i, (x, y) in enumerate(parse_ts(text)):
                    f.write(json.dumps({'x': x, 'y': y, 'id': f'{split.lower()}-{i}'}) + '\n')
            os.replace(path + '.tmp', path)
    return paths
