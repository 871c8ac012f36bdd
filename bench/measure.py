"""How bench/run.py's sections measure and judge: repetitions interleaved
(A, B, A, B, ...) and compared as medians, torch when it is importable, and
the verdict of a target. Absolute times are informative only: the machine may
be shared, so only ratios measured side by side mean anything."""
import time
from collections import namedtuple

import numpy as np

# What a section's measure() gets: a scratch folder, whether this is a smoke
# run (tiny shapes), the BLAS threads per process, and torch (None if absent).
Context = namedtuple('Context', 'work smoke threads torch')


def interleaved(funcs, reps):
    """Run funcs round-robin ``reps`` times; return each one's median seconds."""
    times = [[] for _ in funcs]
    for _ in range(reps):
        for f, ts in zip(funcs, times):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return [float(np.median(ts)) for ts in times]


def load_torch(threads):
    """(torch, its version) with ``threads`` intra-op threads, or (None, why not)."""
    try:
        import torch
    except Exception as e:     # not installed, or a wheel whose CUDA libraries are missing
        return None, f'{type(e).__name__}: {str(e).splitlines()[0][:120]}'
    torch.set_num_threads(threads)
    return torch, torch.__version__


def verdict(ok):
    return 'met' if ok else '**not met**'


def ratio_row(target, ratio, ok, detail, digits=2):
    """A row of the targets table for a measured ratio: the target,
    'ratio× (detail)', and the verdict."""
    return target, f'{ratio:.{digits}f}× ({detail})', verdict(ok)


def heading(title):
    """The lines that open a section of RESULTS.md."""
    return ['', f'## {title}', '']
