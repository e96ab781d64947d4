"""The floor: the least a Django + DRF request that stores one row can cost on this machine.

One settings module, one model, one view (JSON in, validate, one INSERT, 201), served by the same
gunicorn command as the platform and measured by the same load generator in the same run, so the
platform's accept and inbound figures can be given as ratios to it (see docs/performance.md).
"""
