# Two commands set everything up on a fresh machine:  make demo  (Python 3.11+)
# and  make test  (what tests/prereqs.py checks, listed in README.md)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
RUN     = runs/demo
DATA    = runs/demo-data
TEXT    = sample_data/text/austen_persuasion.txt

.PHONY: demo test clean

$(BIN)/.demo-deps: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[plot]'
	touch $@

# every extra a test needs, torch (bench) included: in CI no test may skip
# (tests/conftest.py in_ci). torch is large; pip's cache keeps it after the first time.
$(BIN)/.test-deps: $(BIN)/.demo-deps
	$(BIN)/pip install -q -e '.[test,plot,spark,onnx,bench]'
	touch $@

# A character LSTM on Jane Austen's Persuasion, every 10th paragraph held out.
# Average mode on one map task (mrjob and Hadoop never split a gzip file), so a
# round is a pass of minibatch Adam over the text and a checkpoint. Ten rounds,
# the held-out loss measured in each round's own job; then the held-out bits per
# character of the best round (the run folder's best.npz) and 400 sampled characters.
demo: $(BIN)/.demo-deps
	rm -rf $(RUN) $(DATA)
	mkdir -p $(DATA)
	awk 'NR % 10 != 0' $(TEXT) | gzip -n > $(DATA)/train.txt.gz
	awk 'NR % 10 == 0' $(TEXT) > $(DATA)/heldout.txt
	$(BIN)/mr-rnn train $(DATA)/train.txt.gz --format text --out $(RUN) \
	    --mode average --optimizer adam --lr 0.01 --max-iter 10 --val $(DATA)/heldout.txt
	$(BIN)/mr-rnn evaluate $(RUN) $(DATA)/heldout.txt
	$(BIN)/mr-rnn sample $(RUN) --prime 'Anne ' --length 400 --temperature 0.5

# Unit and MapReduce tests, real Hadoop (fetched with Maven) and Spark, and the
# HTML report in headless Chromium. First the machine's prerequisites
# (tests/prereqs.py: one line per missing one, with how to install it; under CI,
# where nothing may skip, it stops here, before anything is built), then what
# can be fetched without root -- the venv's packages, the task Pythons' numpy,
# the Hadoop jars -- so that no test reaches the network.
test:
	$(PYTHON) tests/prereqs.py
	$(MAKE) --no-print-directory $(BIN)/.test-deps
	$(MAKE) --no-print-directory task-pythons
	$(BIN)/python tests/prereqs.py fetch-hadoop
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs

# Old task interpreters for tests/test_task_pythons.py and the Hadoop tests:
# Python 3.7, 3.8 and 3.9 venvs holding only numpy (PyPI), cached in
# ~/.cache/mr_rnn/pythons; each one that cannot be made is named with the
# reason, the tests then skip, and under CI this fails
.PHONY: task-pythons
task-pythons: $(BIN)/.test-deps
	$(BIN)/python tests/pythons.py
