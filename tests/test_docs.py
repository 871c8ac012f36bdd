"""The design doc and the README stay true to the code: every section the code
cites exists, every module has its line in both tables, and every default the
two state for a flag is the one the code holds."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DESIGN = os.path.join(ROOT, 'docs', 'design.md')
SECTION_REF = re.compile(r'§(\d+(?:\.\d+)?)')


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def design_sections():
    return set(re.findall(r'^#{2,3} (\d+(?:\.\d+)?)[. ]', read(DESIGN), re.M))


def text_lines(tops):
    """(file, line) of every line of the code and docs below ``tops``, and of README.md."""
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != '__pycache__']
            for name in filenames:
                path = os.path.join(dirpath, name)
                if name.endswith(('.py', '.md', '.sh')):
                    yield from ((os.path.relpath(path, ROOT), line)
                                for line in read(path).splitlines())
    yield from (('README.md', line) for line in read(os.path.join(ROOT, 'README.md')).splitlines())


def citing_lines():
    """(file, line) of every line outside design.md that names design.md."""
    return ((path, line) for path, line in text_lines(('mr_rnn', 'bench', 'tests', 'docs'))
            if 'design.md' in line and path != os.path.relpath(DESIGN, ROOT))


def package_modules():
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, 'mr_rnn')):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        for name in filenames:
            if name.endswith('.py') and not (name == '__init__.py' and dirpath.endswith(
                    ('kernels', 'data', 'codec', 'tasks', 'jobs', 'driver', 'inference', 'outputs'))):
                yield os.path.relpath(os.path.join(dirpath, name), os.path.join(ROOT, 'mr_rnn'))


def test_every_section_the_code_and_docs_cite_exists():
    sections = design_sections()
    assert {'3.8', '7', '9'} <= sections        # the parser reads the headings at all
    cited = [(path, ref) for path, line in citing_lines() for ref in SECTION_REF.findall(line)]
    assert len(cited) > 20
    missing = [(path, ref) for path, ref in cited if ref not in sections]
    assert not missing, f'citations of design.md sections that do not exist: {missing}'
    inside = SECTION_REF.findall(read(DESIGN))
    assert not [ref for ref in inside if ref not in sections]


def test_every_module_has_a_line_in_the_design_doc_and_the_readme_layer_table():
    design = read(DESIGN)
    readme = read(os.path.join(ROOT, 'README.md'))
    table = readme[readme.index('| folder / file |'):]
    table = table[:table.index('\n\n')]
    modules = sorted(package_modules())
    assert 'kernels/cells.py' in modules and 'cli.py' in modules
    assert not [m for m in modules if f'`{m}`' not in design], 'missing from docs/design.md'
    assert not [m for m in modules if os.path.basename(m) not in table], \
        "missing from the README's layer table"


# ── every default the docs state is the code's ──

def code_defaults():
    """{flag: its default as the code holds it}. A flag of the configuration
    tree is here by its field; any other flag the docs give a default for is
    one line below."""
    from mr_rnn.cli import build_parser
    from mr_rnn.config import DEFAULT_LR, options
    run = build_parser()[0].parse_args(['train', 'x', '--out', 'run'])
    return {
        **{o.flag: o.default for o in options()},
        '--lr': DEFAULT_LR,                                    # per optimizer
        '--out': None,                                         # required
        '--keep-checkpoints': run.keep_checkpoints,
        '--job-retries': run.job_retries,
    }


FLAG = r'`(--[a-z][a-z-]*)[^`]*`'
# how the docs state a default: after a flag in a flag table, '`--flag N` (X)';
# anywhere, '`--flag N` (default X)', '`--flag VALUE` (the default)' and
# 'default(s) (are) `--flag VALUE --flag VALUE`, `--flag VALUE`'
TABLE_DEFAULT = re.compile(FLAG + r' \(([^()]*)\)')
PROSE_DEFAULTS = (re.compile(FLAG + r' \(default:? ([^()]*)\)'),
                  re.compile(r'`(--[a-z][a-z-]*) ([^`\s]+)` \(the default\)'))
DEFAULTS_ARE = re.compile(r'\bdefaults? (?:are |is )?\(?((?:`--[^`]*`(?:, and |, | and )?)+)')
FLAG_TABLES = {'README.md': '### train', os.path.join('docs', 'design.md'): '### 3.6'}
NUMBER = r'-?\d+(?:\.\d*)?(?:e-?\d+)?'


def section(text, heading):
    """``text`` from the line ``heading`` to the next heading of its level or above."""
    start = re.search(r'^%s\b' % re.escape(heading), text, re.M).start()
    body = text.index('\n', start)
    end = re.compile(r'^#{1,%d} ' % len(heading.split()[0]), re.M).search(text, body)
    return text[start:end.start() if end else len(text)]


def stated_defaults():
    """(file, flag, the words stating its default) for every default stated
    in README.md and docs/design.md."""
    for name, heading in FLAG_TABLES.items():
        text = read(os.path.join(ROOT, name))
        for line in section(text, heading).splitlines():
            if line.startswith('|'):
                yield from ((name, flag, said) for flag, said in TABLE_DEFAULT.findall(line)
                            if not said.startswith('default'))     # read as prose below
        prose = ' '.join(text.split())     # a statement may run over a line break
        for pattern in PROSE_DEFAULTS:
            yield from ((name, flag, said) for flag, said in pattern.findall(prose))
        for spans in DEFAULTS_ARE.findall(prose):
            yield from ((name, flag, said)
                        for flag, said in re.findall(r'(--[a-z][a-z-]*) ([^\s`]+)', spans))


def agrees(said, default):
    """Whether the words a doc gives as a flag's default state ``default``."""
    if isinstance(default, dict):       # 'sgd 0.1, momentum/nesterov/adagrad 0.05, ...'
        found = {name: float(value) for names, value in re.findall(
            r'([a-z][a-z/]*) (%s)' % NUMBER, said) for name in names.split('/')}
        return found == default
    if isinstance(default, tuple) and default:     # numbers in order: '30 ..., else 40'
        return tuple(float(n) for n in re.findall(NUMBER, said)) == default
    word = re.match(r'[^\s,;:]*', said).group()
    is_number = re.fullmatch(NUMBER, word) is not None
    if default is None or default == ():            # no value: what happens, in words
        return not is_number
    if isinstance(default, str):
        return word == default
    return is_number and float(word) == default


def test_every_default_the_docs_state_is_the_code_default():
    defaults = code_defaults()
    stated = list(stated_defaults())
    unknown = sorted({flag for _, flag, _ in stated if flag not in defaults})
    assert not unknown, f'defaults stated for flags this test does not know: {unknown}'
    wrong = [f'{where}: {flag} ({said}), but the code says {defaults[flag]!r}'
             for where, flag, said in stated if not agrees(said, defaults[flag])]
    assert not wrong, 'defaults in the docs that are not the code\'s:\n' + '\n'.join(wrong)
    for name in FLAG_TABLES:        # the reader finds what it must
        assert {'--outer-lr', '--lr', '--patience', '--keep-checkpoints'} <= {
            flag for where, flag, _ in stated if where == name}, name


def test_nothing_cites_an_issue_number():
    # the repository holds no issue tracker: say what, not which ticket
    cited = [(path, line) for path, line in text_lines(('mr_rnn', 'tests', 'docs'))
             if re.search(r'\bissues? #?\d', line, re.I)]
    assert not cited, cited
