"""The two points where the fault-injection tests reach into the product, and
the only place that reads their environment variables. Both do nothing unless
a test sets the variable; neither is a user setting.

    MR_RNN_TEST_FAIL_ONCE=[JOB.]PHASE:MARKER   the first mapper or reducer task
        (of any job, or of class JOB) fails, once: the marker file, created
        atomically, says it has (tests/test_faults.py: job retries)
    MR_RNN_TEST_HOLD_TASK=[JOB.]PHASE:FIFO[,...]   every such mapper or reducer
        task waits, before its first record, until the test has opened and
        closed the other end of the fifo, so that a test can kill the driver
        inside a job, knowing it is inside one (tests/test_checkpoints.py,
        tests/test_faults.py); several, comma-separated, each with its fifo
    MR_RNN_TEST_HOLD_CHECKPOINT=FIFO   every checkpoint write is held open, its
        bytes written and before the rename, until the test has opened and
        closed the other end of the fifo, so that a test can kill the driver
        inside a write, knowing it is inside one
"""
import os


def fail_once(job_name, phase):
    what, _, marker = os.environ.get('MR_RNN_TEST_FAIL_ONCE', '').partition(':')
    if not marker or what not in (phase, f'{job_name}.{phase}'):
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    raise RuntimeError(f'{what} task failed on purpose (MR_RNN_TEST_FAIL_ONCE)')


def hold_task(job_name, phase):
    for entry in filter(None, os.environ.get('MR_RNN_TEST_HOLD_TASK', '').split(',')):
        what, _, fifo = entry.partition(':')
        if fifo and what in (phase, f'{job_name}.{phase}'):
            with open(fifo, 'rb') as f:
                f.read()


def hold_checkpoint_write():
    gate = os.environ.get('MR_RNN_TEST_HOLD_CHECKPOINT')
    if gate:
        with open(gate, 'rb') as f:
            f.read()
