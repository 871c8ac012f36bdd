"""The parts of bench/quality.py, one concern each: the texts (texts.py), the
one scorer of both models (scoring.py), the plain PyTorch loop
(torch_loop.py), and the two measurements: mr_rnn and PyTorch at equal wall
time and to held-out targets (equal_time.py), and rounds to a held-out loss by
the number of map tasks (map_tasks.py)."""
