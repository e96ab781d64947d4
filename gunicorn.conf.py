"""gunicorn's settings for the web tier, read from the working directory (the Procfile's `web`
line and the benchmarks run gunicorn from the repository root). The command line wins."""

# gunicorn's own refusals answer in the API's JSON error format.
worker_class = "messaging_platform.gunicorn_worker.JsonErrorSyncWorker"
# The longest request line gunicorn allows (its default is 4094): long query strings of list
# filters fit; beyond it the answer is a JSON 400.
limit_request_line = 8190
# Each header up to 16 KB (default 8190), such as large cookies; beyond it a JSON 431.
limit_request_field_size = 16380


def child_exit(server, worker) -> None:
    # A dead worker's live gauges must stop counting in /metrics (prometheus-client multiprocess).
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    # The worker has loaded Django and the app: their objects (about 140,000) live as long as the
    # process, so leave them out of the collector's full collections, which a request's own
    # allocations trigger every few dozen long answers. Without this, each such collection
    # walked them all (a 2,000-point insights answer paid it as a pause of several times its
    # own time, one request in 25); with it a full collection walks only what requests made.
    import gc

    gc.collect()
    gc.freeze()
