"""How the local runners cut the input into map and reduce tasks
(mr_rnn/jobs/mrjob_internals.py)."""
import gzip
import os

from helpers import train
from mr_rnn.codec.wire import PacketProtocol
from mr_rnn.driver.runner import make_job
from mr_rnn.jobs.mr_average_step import MRAverageStep
from mr_rnn.jobs.mr_gradient_step import MRGradientStep
from mr_rnn.jobs import mrjob_internals


DIGITS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'sample_data', 'sequences', 'digits-train.jsonl')


def part_files(folder, parts, lines=150, bad=None):
    """``parts`` text files of ``lines`` lines; ``bad`` (part, line number):
    that line is invalid UTF-8, a bad record that names where it is."""
    files = []
    for k in range(parts):
        path = folder / f'part-{k:05d}'
        rows = [f'part {k} line {i} of some text'.encode() for i in range(1, lines + 1)]
        if bad and bad[0] == k:
            rows[bad[1] - 1] = b'\xff\xfe bad bytes'
        path.write_bytes(b'\n'.join(rows) + (b'\n' if k % 2 else b''))  # odd parts: no last \n
        files.append(str(path))
    return files


def checkpoint(tmp_path, files):
    run = tmp_path / 'run'
    assert train(run, files, '--format', 'text', '--hidden', '4', '--seq-len', '8', '--max-iter', '0',
                 '--mode', 'average', '--local-steps', '1') == 0
    return str(run / 'checkpoints' / 'iter-000000.npz')


class MRAverageStepMrjobSplits(MRAverageStep):
    """The average job with mrjob's own runner and its splits."""

    SPLITS = None       # mrjob's own


def run_average_step(job_class, checkpoint, inputs, runner_args, totals='__stats__', job_args=()):
    """-> (number of map tasks, the job's ``totals`` scalars)."""
    job = make_job(job_class, ['--format', 'text', '--checkpoint', checkpoint, *job_args,
                               *inputs], runner_args)
    with job.make_runner() as runner:
        runner.run()
        tasks = mrjob_internals.map_task_count(runner)
        output = dict(job.parse_output(runner.cat_output()))
    return tasks, output[totals].scalars


def mrjob_splits(checkpoint, inputs, runner_args):
    """How many map tasks mrjob's own runner would make of the inputs."""
    job = make_job(MRAverageStepMrjobSplits, ['--format', 'text', '--checkpoint', checkpoint,
                                               *inputs], runner_args)
    with job.make_runner() as runner:
        return len(mrjob_internals.mrjob_splits(runner, inputs))


def test_local_average_job_makes_one_map_task_per_core_and_reads_every_line_once(tmp_path):
    files = part_files(tmp_path, 4)
    ckpt = checkpoint(tmp_path, files)
    local = ['-r', 'local', '--num-cores', '2']
    ours = run_average_step(MRAverageStep, ckpt, files, local)
    # mrjob makes a split per file at least (two per core, by size): four here
    assert (ours[0], mrjob_splits(ckpt, files, local)) == (2, 4)
    assert ours[1]['records'] == 600 and ours[1]['bad'] == 0
    # one file: mrjob cuts it in four (two per core), we in two
    one = run_average_step(MRAverageStep, ckpt, files[:1], local)
    assert one[0] == 2 and one[1]['records'] == 150
    assert mrjob_splits(ckpt, files[:1], local) == 4


def test_inline_average_job_reads_plain_files_in_one_task_and_each_gzip_file_in_its_own(tmp_path):
    files = part_files(tmp_path, 3)
    for k in range(2):
        path = tmp_path / f'part-gz-{k}.gz'
        with gzip.open(path, 'wb') as f:
            f.write(b''.join(f'gzip {k} line {i} of some text\n'.encode() for i in range(100)))
        files.append(str(path))
    ckpt = checkpoint(tmp_path, files)
    tasks, stats = run_average_step(MRAverageStep, ckpt, files, ['--num-cores', '1'])
    # a gzip file is a split of its own, as on Hadoop: a split fixed with gzip
    # part files stays fixed
    assert tasks == 3
    assert stats['records'] == 3 * 150 + 2 * 100


def test_bad_records_in_joined_splits_name_their_own_file_and_line(tmp_path):
    files = part_files(tmp_path, 4, bad=(3, 17))
    ckpt = checkpoint(tmp_path, files[:3])
    for runner in (['-r', 'local', '--num-cores', '2'], ['--num-cores', '1']):
        tasks, stats = run_average_step(MRAverageStep, ckpt, files, runner)
        assert tasks < 4
        assert stats['bad'] == 1 and stats['records'] == 600
        assert len(stats['examples']) == 1
        assert stats['examples'][0].startswith(f'{files[3]}:17: ')


def test_validation_records_in_joined_splits_are_told_apart_by_their_own_file(tmp_path):
    files = part_files(tmp_path, 4)
    val = files.pop(1)              # joined with training pieces on either side
    ckpt = checkpoint(tmp_path, files)
    args = ['--with-val', '--val-path', val]
    for runner in (['-r', 'local', '--num-cores', '2'], ['--num-cores', '1']):
        tasks, stats = run_average_step(MRAverageStep, ckpt, [files[0], val, *files[1:]], runner,
                                        job_args=args)
        assert tasks < 4 and stats['records'] == 450
        assert run_average_step(MRAverageStep, ckpt, [files[0], val, *files[1:]], runner,
                                totals='__val__', job_args=args)[1]['records'] == 150


def run_gradient_step(checkpoint, inputs, runner_args):
    """-> ({task type: how many ran}, the output pairs)."""
    job = make_job(MRGradientStep, ['--format', 'jsonl', '--checkpoint', checkpoint, *inputs],
                   runner_args)
    with job.make_runner() as runner:
        runner.run()
        tasks = {t: mrjob_internals.task_count(runner, t) for t in ('mapper', 'combiner', 'reducer')}
        output = list(job.parse_output(runner.cat_output()))
    return tasks, output


def test_local_gradient_round_has_no_combiner_and_reduce_tasks_by_size(tmp_path, monkeypatch):
    """mrjob's four map tasks on two cores; no combiner (each map task emits a
    key once); one reduce task for a small model, one per core at most when
    every task has MIN_REDUCE_INPUT bytes. The blocks are the same bytes."""
    data = tmp_path / 'digits.jsonl'
    with open(DIGITS) as f:
        data.write_text(''.join(f.readlines()[:200]))
    run = tmp_path / 'run'
    assert train(run, [str(data)], '--hidden', '4', '--cell', 'gru', '--dtype', 'float64',
                 '--max-iter', '0') == 0
    ckpt = str(run / 'checkpoints' / 'iter-000000.npz')
    local = ['-r', 'local', '--num-cores', '2']
    tasks, small = run_gradient_step(ckpt, [str(data)], local)
    assert tasks == {'mapper': 4, 'combiner': 0, 'reducer': 1}
    monkeypatch.setattr(mrjob_internals, 'MIN_REDUCE_INPUT', 1)
    tasks, split = run_gradient_step(ckpt, [str(data)], local)
    assert tasks == {'mapper': 4, 'combiner': 0, 'reducer': 2}
    assert [PacketProtocol().write(k, v) for k, v in split] == [
        PacketProtocol().write(k, v) for k, v in small]
