"""A stand-in for a probe whose model never answers (tests/components/test_serving_check.py)."""

import time

time.sleep(60)
