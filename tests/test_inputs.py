"""Inputs as another job leaves them: part files in a folder beside _SUCCESS,
hidden .crc files, gzip and bzip2 compression -- read alike by every runner.
(Hadoop local mode: tests/test_hadoop.py.)"""
import bz2
import gzip
import os
import shutil

import pytest
from mrjob.fs.local import LocalFilesystem

from helpers import load_arrays, max_relative_difference, metrics, sequence_records, train, write_jsonl
from mr_rnn.cli import main
from mr_rnn.config import ConfigError
from mr_rnn.driver.inputs import expand, format_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERIES = os.path.join(ROOT, 'sample_data', 'timeseries', 'us_macro_quarterly.csv')
FLAGS = ['--hidden', '5', '--dtype', 'float64', '--max-iter', '2', '--lr', '0.05',
         '--batch-size', '8']
RECORDS = 60


def hadoop_output_folder(folder, records, parts=3):
    """What a MapReduce job leaves: part-0000k files, _SUCCESS, and checksum
    files that Hadoop's local filesystem writes beside each part (not records)."""
    folder.mkdir()
    for k in range(parts):
        write_jsonl(folder / f'part-{k:05d}.jsonl', records[k::parts])
        (folder / f'.part-{k:05d}.jsonl.crc').write_bytes(b'crc\x00\x01 not a record\n')
    (folder / '_SUCCESS').write_text('')
    (folder / '_logs').mkdir()
    (folder / '_logs' / 'history.jsonl').write_text('not a record either\n')
    return str(folder)


def compressed(path, opener, suffix):
    path = str(path)
    with open(path, 'rb') as f, opener(path + suffix, 'wb') as out:
        shutil.copyfileobj(f, out)
    return path + suffix


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp('inputs')
    records = sequence_records(RECORDS, seed=4)
    one = write_jsonl(folder / 'all.jsonl', records)
    reference = folder / 'reference'
    assert train(reference, [one], *FLAGS, '--format', 'jsonl', '--quiet') == 0
    return {'folder': folder, 'records': records, 'one': one,
            'weights': load_arrays(reference / 'final.npz')}


def test_a_folder_lists_its_data_files_without_underscore_and_dot_names(tmp_path):
    folder = hadoop_output_folder(tmp_path / 'out', sequence_records(6))
    files = expand([folder], LocalFilesystem())
    assert [os.path.basename(f) for f in files] == [
        'part-00000.jsonl', 'part-00001.jsonl', 'part-00002.jsonl']
    # a glob, and the same file named twice, list each file once
    assert expand([folder + '/part-*', folder + '/part-00000.jsonl'], LocalFilesystem()) == files


def test_the_format_is_read_through_gz_and_bz2():
    assert format_of(['d/part-0.jsonl.gz', 'd/part-1.jsonl.bz2', 'x.JSON']) == 'jsonl'
    assert format_of(['a.csv.bz2']) == 'csv'
    assert format_of(['book.txt.gz']) == 'text'
    assert format_of(['part-00000'], 'text') == 'text'


def test_files_without_an_extension_need_format_and_the_message_names_them():
    with pytest.raises(ConfigError) as e:
        format_of(['out/part-00000', 'out/part-00001', 'a.jsonl'])
    message = str(e.value)
    assert 'out/part-00000, out/part-00001' in message and '--format' in message
    assert 'a.jsonl' not in message


def test_mixed_formats_are_one_error_naming_both():
    with pytest.raises(ConfigError) as e:
        format_of(['a.jsonl', 'b.csv.gz'])
    assert str(e.value).startswith('the inputs mix formats (csv: b.csv.gz; jsonl: a.jsonl)')


def test_a_folder_with_only_success_says_so(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / '_SUCCESS').write_text('')
    assert main(['train', str(tmp_path / 'empty'), '--out', str(tmp_path / 'run')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'holds no data files, only' in err[0] and '_SUCCESS' in err[0], err


@pytest.mark.parametrize('runner', ['inline', 'local'])
@pytest.mark.parametrize('layout', ['part-folder', 'gz', 'bz2'])
def test_train_reads_part_folders_and_compressed_files_without_format(data, tmp_path, runner,
                                                                      layout):
    if layout == 'part-folder':
        inputs = [hadoop_output_folder(tmp_path / 'out', data['records'])]
    else:
        opener = gzip.open if layout == 'gz' else bz2.open
        one = shutil.copy(data['one'], tmp_path / 'all.jsonl')
        inputs = [compressed(one, opener, '.' + layout)]
        os.unlink(one)
    run = tmp_path / 'run'
    assert train(run, inputs, *FLAGS, '-r', runner, '--quiet') == 0
    assert max_relative_difference(load_arrays(run / 'final.npz'), data['weights']) < 1e-12
    assert all(r['records'] == RECORDS and r['bad_records'] == 0 for r in metrics(run))


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_compressed_csv_series_read_whole_equal_the_plain_file(tmp_path, runner, capsys):
    """csv series go to map tasks as whole raw files, which the task decompresses."""
    flags = ['--target', 'infl', '--window', '8', '--dtype', 'float64', '--hidden', '4',
             '--max-iter', '1', '--quiet']
    assert train(tmp_path / 'plain', [SERIES], *flags) == 0
    packed = compressed(shutil.copy(SERIES, tmp_path / 'macro.csv'), gzip.open, '.gz')
    os.unlink(tmp_path / 'macro.csv')
    assert train(tmp_path / 'gz', [packed], *flags, '-r', runner) == 0
    plain, gz = metrics(tmp_path / 'plain'), metrics(tmp_path / 'gz')
    assert [r['records'] for r in gz] == [r['records'] for r in plain] and plain[0]['records'] > 0
    assert max_relative_difference(load_arrays(tmp_path / 'plain' / 'final.npz'),
                                   load_arrays(tmp_path / 'gz' / 'final.npz')) < 1e-12


def test_evaluate_reads_a_part_folder(data, tmp_path, capsys):
    folder = hadoop_output_folder(tmp_path / 'out', data['records'])
    run = tmp_path / 'run'
    assert train(run, [data['one']], *FLAGS, '--quiet') == 0
    capsys.readouterr()
    assert main(['evaluate', str(run / 'final.npz'), folder, '--json']) == 0
    assert '"records": 60, "bad_records": 0' in capsys.readouterr().out


def test_on_an_uploading_runner_val_and_training_files_of_one_name_are_one_error(tmp_path, capsys):
    """Hadoop uploads local inputs into one folder under their names, renaming
    one of two that share a name: the tasks could not tell which is validation."""
    for folder in ('a', 'b'):
        hadoop_output_folder(tmp_path / folder, sequence_records(6))
    code = main(['train', str(tmp_path / 'a'), '--val', str(tmp_path / 'b'), '--out',
                 str(tmp_path / 'run'), '-r', 'hadoop'])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'have the same name, and this runner uploads local files' in err[0]
