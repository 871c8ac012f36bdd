"""A job whose map tasks report the BLAS threads of their own process, for
tests/test_threads.py (a file of its own: -r local runs it as a script). Its
runner class is chosen as every mr_rnn job's is (jobs/mrjob_internals.py)."""
import os

from mrjob.protocol import JSONProtocol

from mr_rnn.jobs.mrjob_internals import RunnerChoice


class MRBlasThreads(RunnerChoice):
    OUTPUT_PROTOCOL = JSONProtocol

    def mapper(self, _, line):
        """(None, line) -> nothing; the report comes from mapper_final"""
        return ()

    def mapper_final(self):
        """-> ('blas', {threads: per BLAS library, env: the thread variables})"""
        import numpy  # noqa: F401  (loads BLAS, as a training task does)
        from threadpoolctl import threadpool_info
        threads = [lib['num_threads'] for lib in threadpool_info() if lib['user_api'] == 'blas']
        env = {k: os.environ.get(k) for k in
               ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')}
        yield 'blas', {'threads': threads, 'env': env}


if __name__ == '__main__':
    MRBlasThreads.run()
