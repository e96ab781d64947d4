"""The web workers leave the loaded app's objects out of the garbage collector's full
collections (gunicorn.conf.py's post_worker_init), so that a request never pays for walking them."""

import gc
import runpy
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_a_full_collection_after_worker_init_walks_only_what_came_after():
    hooks = runpy.run_path(str(CONFIG))
    loaded = len(gc.get_objects())
    try:
        hooks["post_worker_init"](None)
        assert gc.get_freeze_count() >= loaded * 0.9
        made_after = [[i] for i in range(1000)]
        walked = len(gc.get_objects())
        assert walked < loaded * 0.1 + len(made_after) + 1000
    finally:
        gc.unfreeze()
