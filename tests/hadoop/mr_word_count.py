"""A standard mrjob word count, used to check the Hadoop set-up.

Counts words; also bumps a counter (so we can see counters reach mrjob) and,
if the package `mr_probe_pkg` can be imported, counts through it. The package
exists only in a zip shipped with --py-files in the YARN check, which proves
that tasks get their Python code from the job, not from the client's venv.
"""
import re

from mrjob.job import MRJob

WORD_RE = re.compile(r"[\w']+")


class MRWordCount(MRJob):

    def mapper_init(self):
        try:
            import mr_probe_pkg  # only present when shipped via py_files
        except ImportError:
            self.probe = None
            self.increment_counter('probe', 'import_failed', 1)
        else:
            self.probe = mr_probe_pkg
            self.increment_counter('probe', 'import_ok', 1)

    def mapper(self, _, line):
        for word in WORD_RE.findall(line):
            if self.probe is not None:
                word = self.probe.normalize(word)
            else:
                word = word.lower()
            self.increment_counter('wc', 'words', 1)
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == '__main__':
    MRWordCount.run()
