"""The code blocks of README.md and docs/*.md, as tests/test_doc_commands.py
runs them (not a test module).

A block is an indented block (four spaces or more after a blank line) or a
fenced one (```python runs as Python; ```sh, ```console, ```bash or a bare ```
as shell; any other language is not a command). A shell block is a command
block when its first command starts with a command word (COMMAND: mr-rnn,
make, pip, python, mkdir, ...); `$ ` lines are the commands of a block that
shows their output too. Any other block (a diagram, a file listing, output) is
text.

A command block that a test must not run is marked on the line before it
(the nearest line that is not blank), in an HTML comment a reader does not see:

    <!-- not run: install -->        installs something
    <!-- not run: make -->           a make target (the test runs make demo itself)
    <!-- not run: benchmark -->      a benchmark
    <!-- not run: cluster -->        needs a Hadoop or Spark cluster, or HDFS
    <!-- not run: output -->         shows what a command printed, not commands
    <!-- not run: placeholder -->    names a placeholder (RUN_DIR) for the reader's own

Every other command block runs, in the order a reader meets it.
"""
import re
from dataclasses import dataclass

MARK = re.compile(r'^<!-- not run: (install|make|benchmark|cluster|output|placeholder)\b[^>]*-->$')
COMMAND = re.compile(r'^(mr-rnn|make|pip|python[\d.]*|\.venv/\S+|tests/\S+|mkdir|gzip|split|'
                     r'printf|eval|export|hadoop|yarn|cd|repo=\S*)$')
SHELL_FENCES = ('', 'sh', 'shell', 'bash', 'console')


@dataclass
class Block:
    path: str           # the document, relative to the repository
    line: int           # of the block's first line, 1-based
    language: str       # 'shell' or 'python'
    text: str           # dedented
    mark: str           # the reason it is not run, or ''

    @property
    def where(self):
        return f'{self.path}:{self.line}'

    def commands(self):
        """The shell text to run: the `$ ` lines of a block that shows output,
        else the whole block."""
        lines = self.text.splitlines()
        if any(line.startswith('$ ') for line in lines):
            return '\n'.join(line[2:] for line in lines if line.startswith('$ '))
        return self.text

    def is_command(self):
        if self.language == 'python':
            return True
        first = self.commands().strip().split()
        return bool(first) and bool(COMMAND.match(first[0]))


def _dedent(lines):
    width = min(len(line) - len(line.lstrip(' ')) for line in lines if line.strip())
    return '\n'.join(line[width:] for line in lines).strip('\n') + '\n'


def _mark(lines, index):
    """The mark of a block starting at ``index``: the nearest non-blank line above."""
    for line in reversed(lines[:index]):
        if line.strip():
            m = MARK.match(line.strip())
            return m.group(1) if m else ''
    return ''


def blocks(path, text):
    """Every code block of a markdown document, in order."""
    lines, found, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r'^(\s*)```(\w*)\s*$', line)
        if fence:
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith('```'):
                end += 1
            language = fence.group(2)
            if language == 'python' or language in SHELL_FENCES:
                body = lines[i + 1:end]
                if any(b.strip() for b in body):
                    found.append(Block(path, i + 2, 'python' if language == 'python' else 'shell',
                                       _dedent(body), _mark(lines, i)))
            i = end + 1
            continue
        if line.startswith('    ') and line.strip() and (i == 0 or not lines[i - 1].strip()):
            end = i
            while end < len(lines) and (lines[end].startswith('    ') or not lines[end].strip()):
                end += 1
            body = lines[i:end]
            while body and not body[-1].strip():
                body.pop()
            found.append(Block(path, i + 1, 'shell', _dedent(body), _mark(lines, i)))
            i = i + len(body)
            continue
        i += 1
    return found
