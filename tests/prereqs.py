"""What `make test` needs on the machine, checked before it builds anything.

    python3 tests/prereqs.py              one line per missing prerequisite, with
                                          how to install it; exit 1 under CI
    python3 tests/prereqs.py fetch-hadoop the Hadoop jars into their cache (Maven),
                                          so that no test downloads them

Under CI (CI set to anything but empty, 0, false or no -- the one rule, which
tests/conftest.py imports from here) nothing may skip, so a missing
prerequisite stops `make test` before the virtualenv is built. Elsewhere it
goes on, and the tests that need the missing part skip with their reason.

Standard library only, and runnable by an old python3: it is what says that
python3 is too old. README.md lists exactly PREREQUISITES (tests/test_prereqs.py).
"""
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
POM = os.path.join(HERE, 'hadoop', 'pom.xml')
FETCH = os.path.join(HERE, 'hadoop', 'fetch_hadoop.sh')
TASK_PYTHONS = ('3.7', '3.8', '3.9')          # tests/pythons.py makes venvs of these
BROWSERS = ('chromium', 'chromium-browser', 'google-chrome')


def in_ci():
    """CI is set to anything but empty, 0, false or no (services set CI=true,
    some CI=1; .ci/run sets it when they do not)."""
    return os.environ.get('CI', '').strip().lower() not in ('', '0', 'false', 'no')


def base_interpreter(version):
    """pyenv's build of the version, else python3.X on PATH (not a pyenv shim,
    which fails for versions pyenv does not have selected)."""
    root = os.environ.get('PYENV_ROOT', os.path.join(os.path.expanduser('~'), '.pyenv'))
    candidates = sorted(glob.glob(os.path.join(root, 'versions', version + '.*', 'bin', 'python')))
    if candidates:
        return candidates[-1]
    found = shutil.which('python' + version)
    if found and '/shims/' not in found:
        return found
    return None


def java_major():
    """(major version of the java Hadoop and Spark would use, None) or (None, why not)."""
    home = os.environ.get('JAVA_HOME')
    java = os.path.join(home, 'bin', 'java') if home else shutil.which('java')
    if home and not os.path.exists(java):
        return None, '$JAVA_HOME is %s, which has no bin/java' % home
    if not java:
        return None, 'no java on the PATH, no $JAVA_HOME'
    try:
        out = subprocess.run([java, '-version'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=120).stderr
    except (OSError, subprocess.SubprocessError) as e:
        return None, '%s -version failed: %s' % (java, e)
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None, 'cannot tell the version from %s -version' % java
    return (int(m.group(1)) if m.group(1) != '1' else int(m.group(2))), None


def hadoop_jars_cached():
    root = os.environ.get('MR_RNN_HADOOP_CACHE',
                          os.path.join(os.path.expanduser('~'), '.cache', 'mr_rnn', 'hadoop'))
    with open(POM, 'rb') as f:
        key = hashlib.sha256(f.read()).hexdigest()
    return os.path.isdir(os.path.join(root, key, 'lib'))


# ── the checks: (what, how to install, README's line), each a function -> why missing, or None ──

def check_python():
    if sys.version_info < (3, 11):
        return 'this python3 is %d.%d' % sys.version_info[:2]
    try:
        import ensurepip  # noqa: F401  (python3 -m venv needs it; Debian ships it apart)
    except ImportError:
        return 'python3 -m venv cannot install pip (no ensurepip)'
    return None


def check_java():
    major, why = java_major()
    if major is None:
        return why
    if major < 17:
        return 'this java is %d' % major
    return None


def check_maven():
    if hadoop_jars_cached():
        return None
    mvn = (os.environ.get('MVN') or 'mvn').split()[0]
    if not shutil.which(mvn):
        return 'no mvn on the PATH, and the Hadoop jars are not in ~/.cache/mr_rnn/hadoop'
    return None


def check_task_pythons():
    missing = [v for v in TASK_PYTHONS if base_interpreter(v) is None]
    if missing:
        return 'no ' + ', '.join('python' + v for v in missing) + ' (pyenv or the PATH)'
    return None


def check_chromium():
    if not any(shutil.which(name) for name in BROWSERS):
        return 'none of %s on the PATH' % ', '.join(BROWSERS)
    return None


# (what, the command that installs it, a note or '', the check)
PREREQUISITES = [
    ('Python 3.11 or newer, with venv', 'apt-get install -y python3 python3-venv',
     '(Debian 12 has 3.11)', check_python),
    ('Java 17', 'apt-get install -y openjdk-17-jdk-headless', '(or set JAVA_HOME)', check_java),
    ('Maven, to fetch the Hadoop jars once', 'apt-get install -y maven', '', check_maven),
    ('the task Pythons 3.7, 3.8 and 3.9', 'pyenv install 3.7 3.8 3.9',
     '(or python3.7, python3.8 and python3.9 on the PATH)', check_task_pythons),
    ('Chromium, for the HTML report test', 'apt-get install -y chromium', '', check_chromium),
]


def install(command, note):
    return command + (' ' + note if note else '')


def readme_lines():
    """The README's list of prerequisites, one line each (tests/test_prereqs.py)."""
    return ['- %s: `%s`%s' % (what, command, ' ' + note if note else '')
            for what, command, note, _ in PREREQUISITES]


def missing():
    """[(what, why, how to install)] of every prerequisite that is missing."""
    found = []
    for what, command, note, check in PREREQUISITES:
        why = check()
        if why:
            found.append((what, why, install(command, note)))
    return found


def main(argv):
    if argv[1:] == ['fetch-hadoop']:
        return fetch_hadoop()
    lacking = missing()
    for what, why, how in lacking:
        print('make test: missing %s (%s); install: %s' % (what, why, how), file=sys.stderr)
    if lacking and in_ci():
        print('make test: CI is set, where no test may skip: stopping before anything is built',
              file=sys.stderr)
        return 1
    if lacking:
        print('make test: going on; the tests that need these skip with the reason',
              file=sys.stderr)
    return 0


def fetch_hadoop():
    """The Hadoop jars into their cache before pytest (the tests fetch nothing)."""
    if check_java() or check_maven():
        print('make test: the Hadoop jars cannot be fetched here (see above); '
              'the Hadoop tests skip', file=sys.stderr)
        return 1 if in_ci() else 0
    done = subprocess.run([FETCH], stdout=subprocess.DEVNULL)
    if done.returncode:
        print('make test: tests/hadoop/fetch_hadoop.sh failed (exit %d)' % done.returncode,
              file=sys.stderr)
        return 1 if in_ci() else 0
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
