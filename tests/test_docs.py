"""The design doc and the README's layer table stay true to the code: every
section the code cites exists, and every module has its line in both tables."""
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


def citing_lines():
    """(file, line) of every line outside design.md that names design.md."""
    for top in ('mr_rnn', 'bench', 'tests', 'docs'):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != '__pycache__']
            for name in filenames:
                path = os.path.join(dirpath, name)
                if path == DESIGN or not name.endswith(('.py', '.md', '.sh')):
                    continue
                for line in read(path).splitlines():
                    if 'design.md' in line:
                        yield os.path.relpath(path, ROOT), line
    for line in read(os.path.join(ROOT, 'README.md')).splitlines():
        if 'design.md' in line:
            yield 'README.md', line


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
