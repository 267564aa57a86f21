"""HTTP paths and ports that deployments probe and scrape: one place for the code and the files.

docker-compose.yml, k8s/ and monitoring/prometheus/prometheus.yml use these; tests compare
them. The worker serves them on Faust's web server (`Settings.web`, port 6066 by default);
the notifier on its own (`Settings.notifier.host/port`, streams.notifier.web.web_address;
`NOTIFIER_WEB_PORT` in deployments).
"""

from __future__ import annotations

__all__ = [
    "CUSTOMER_PATH",
    "LIVENESS_PATH",
    "METRICS_PATH",
    "NOTIFIER_WEB_PORT",
    "READINESS_PATH",
    "WORKER_WEB_PORT",
]

METRICS_PATH = "/metrics"
# 200 while the process's event loop runs; failing it restarts the container.
LIVENESS_PATH = "/healthz"
# 200 once the process can do its work (worker: partitions assigned and tables recovered;
# notifier: Kafka consumer and Redis connected); failing it only takes it out of Services.
READINESS_PATH = "/readyz"
# The worker's answer for one customer's current classification (any worker forwards the
# request to the one that owns the customer's partition).
CUSTOMER_PATH = "/customers/{customer_id}"
WORKER_WEB_PORT = 6066
NOTIFIER_WEB_PORT = 6067
