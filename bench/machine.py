"""What the benchmarks ran on: the rows both bench/run.py and bench/quality.py
print at the top of their results, so that figures from two machines (or one
machine under load) are never compared unknowingly."""
import os
import platform

import numpy as np


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        if names:
            return names[0]
    except OSError:
        pass
    return platform.processor() or '?'


def blas_note():
    """numpy's BLAS and, with threadpoolctl, the thread count each library runs."""
    blas = '?'
    try:
        deps = np.show_config(mode='dicts')['Build Dependencies']['blas']
        blas = f"{deps.get('name')} {deps.get('version')}"
    except Exception:       # numpy < 1.25 has no mode='dicts'; the note stays '?'
        pass
    try:
        from threadpoolctl import threadpool_info
        blas += ' | threadpoolctl: ' + '; '.join(
            f"{i.get('internal_api')} {i.get('version')} threads={i.get('num_threads')}"
            for i in threadpool_info())
    except ImportError:
        blas += ' | threadpoolctl not installed'
    return blas


def machine_rows(*extra):
    """[(name, value)]: CPU, OS, Python, numpy and its BLAS, then ``extra``
    rows, then the load average as the run starts."""
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg()) if hasattr(os, 'getloadavg') else '?'
    return [('CPU', f'{cpu_name()}, {os.cpu_count()} logical cores'),
            ('OS', platform.platform()),
            ('Python', platform.python_version()),
            ('numpy', f'{np.__version__}, BLAS {blas_note()}'),
            *extra,
            ('load average at start (1, 5, 15 min)', load)]
