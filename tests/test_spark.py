"""mr-rnn on Spark: mrjob's spark runner, pyspark (the `spark` extra) in
local[2] mode, with the repository's mrjob.conf `spark` section -- only the
interpreter path changed to a Python that has numpy but not mr_rnn, mrjob or
pyspark, so the executors import mr_rnn from the zip the job ships.

Without pyspark or Java 17 these tests are skipped with the reason; with
CI set (see conftest.in_ci) that is a failure instead.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hadoop'))
import harness as h  # noqa: E402
from helpers import VOCAB_FLAGS, text_schema_of, write_vocab_documents  # noqa: E402


@pytest.fixture(scope='module')
def spark():
    home = h.pyspark_home()
    h.need_java('Spark')
    return home


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('spark')


@pytest.fixture(scope='module')
def data(work):
    return h.first_lines(h.DIGITS, work / 'digits-200.jsonl', h.RECORDS)


def test_spark_local_gives_the_inline_runners_weights(spark, work, data):
    inline = str(work / 'inline')
    h.ok(h.mr_rnn('train', data, '--out', inline, *h.TRAIN, '-r', 'inline'))
    node = h.node_python(str(work / 'node-python'))
    conf = h.write_conf(work / 'spark.conf', 'spark', python_bin=node)
    assert h.conf_section('spark')['spark_master'] == 'local[2]'
    run = str(work / 'spark')
    before = len(h.mr_rnn_origins(node))
    done = h.ok(h.mr_rnn('train', data, '--out', run, *h.TRAIN, '-r', 'spark', '-c', conf, '-v',
                         cwd=work))
    # the executors, without this repository on their PYTHONPATH, imported the shipped zip
    h.assert_shipped(h.mr_rnn_origins(node)[before:])
    assert 'spark-submit' in done.stderr or 'SparkContext' in done.stderr
    h.assert_same_weights(inline, run)
    rows = h.metrics(run)
    assert [r['iteration'] for r in rows] == [0, 1, 2]
    assert all(r['records'] == h.RECORDS and r['bad_records'] == 0 for r in rows)


def test_spark_learns_the_inline_runners_vocabulary(spark, work):
    """Tokens counted a key each keep the inline runner's vocabulary on Spark
    (docs/design.md §3.8)."""
    data = write_vocab_documents(work / 'documents.jsonl')
    inline = str(work / 'documents-inline')
    h.ok(h.mr_rnn('train', data, '--out', inline, *VOCAB_FLAGS, '-r', 'inline'))
    node = h.node_python(str(work / 'node-python'))
    conf = h.write_conf(work / 'spark-documents.conf', 'spark', python_bin=node)
    run = str(work / 'documents-spark')
    h.ok(h.mr_rnn('train', data, '--out', run, *VOCAB_FLAGS, '-r', 'spark', '-c', conf,
                  cwd=work))
    vocab, classes, tokens = text_schema_of(run)
    assert (vocab, classes, tokens) == text_schema_of(inline)
    assert len(vocab) == 300 and classes == ['a', 'b'] and tokens['kind'] == 'words'


def test_spark_task_error_reaches_the_user_in_one_line(spark, work, data):
    bare = h.node_python(str(work / 'bare-python'), numpy=False)
    conf = h.write_conf(work / 'spark-bare.conf', 'spark', python_bin=bare)
    done = h.mr_rnn('train', data, '--out', str(work / 'failing'), *h.TRAIN,
                    '-r', 'spark', '-c', conf, cwd=work)
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith('mr-rnn: error:')]
    assert errors == [done.stderr.strip().splitlines()[-1]], done.stderr[-3000:]
    assert errors[0].startswith("mr-rnn: error: MRDescribeData failed: a task raised "
                                "ModuleNotFoundError: No module named 'numpy'"), errors[0]
