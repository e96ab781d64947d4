"""Read by gunicorn from the working directory (the Procfile's `web`)."""


def child_exit(server, worker) -> None:
    # A dead worker's live gauges must stop counting in /metrics (prometheus-client multiprocess).
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
