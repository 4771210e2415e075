"""The fuzzers' seed and what they measured in this pytest run.

One seed for every fuzzer of the run, fresh each time (FUZZ_SEED replays one): printed at the top of the
run (tests/conftest.py, pytest_report_header) and again with the figures in the terminal summary, where
each fuzzer fills its own entry of FIGURES, name -> ordered figures.
"""

import os
import random

SEED = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**32))
FIGURES: dict[str, dict[str, object]] = {}
