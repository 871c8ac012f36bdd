"""What a task process keeps across the tasks it runs, named as such: the
inline runner runs every map and reduce task of every job in the driver's
process, one after another, and would otherwise load the same checkpoint and
start the same threads again for each. Nothing here changes a result."""
import ctypes
import functools
import os

from mr_rnn.kernels.parallel import ThreadPool
from mr_rnn.model import Model

_LOADED = {}


def load_model(path, optimizer_state=True):
    """Model.load, remembered while the file is unchanged (keyed by path, inode,
    size and mtime; a checkpoint is written once, under a new name each round).
    Tasks only read the model. A model remembered without its optimizer state
    is loaded again, whole, for a task that needs the state (a reducer after
    the map tasks): the map tasks never hold the state (docs/design.md §8.2)."""
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    held = _LOADED.get(key)
    if held is None or (optimizer_state and held.optim_state is None):
        _LOADED.clear()
        _LOADED[key] = Model.load(path, optimizer_state)
    return _LOADED[key]


def forget_model():
    """Drop the remembered checkpoint once a job's tasks are done: the next
    job loads another (a round's checkpoint is read by that round's tasks
    only), and inline, where the tasks run in the driver's process, holding it
    would add a model's size to the driver's memory while it puts the next
    checkpoint together (docs/design.md §7)."""
    _LOADED.clear()


def thread_pool(threads):
    """(thread pool, threadpoolctl controller). The pool is made once per
    process and kept across map tasks and jobs: starting its threads would
    cost that per task (docs/design.md §7). The controller is made afresh
    (about a millisecond): one kept from an earlier task would not know a BLAS
    library loaded since, and leave its threads unlimited. Only the inline
    runner's tasks get here: a cluster's nodes need nothing but Python and
    numpy."""
    from threadpoolctl import ThreadpoolController
    return _pool(threads), ThreadpoolController()


@functools.lru_cache(maxsize=None)
def _pool(threads):
    return ThreadPool(threads)


@functools.lru_cache(maxsize=None)    # functools.cache is 3.9+; tasks run 3.8
def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for the next arrays instead of
    handing every large one back to the kernel (mmap/munmap, or a trim of the
    heap's top). A gradient makes arrays of several MB per batch, and fresh
    pages cost a page fault each when first touched (measured in
    bench/README.md). A task's memory stays bounded by one batch's arrays.
    Returns whether malloc took the settings (False where it is not glibc's)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    # 32 MiB is the largest mmap threshold glibc accepts on 64-bit
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 512 << 20))
