"""The Faust worker: the transport around `streams.pipeline` (consumer group, assignment,
changelog tables, transactions, web endpoints, metrics sampling).

`streams.worker.app.create_worker` builds it; this package imports no Faust by itself, so
modules such as `topology` stay cheap to import.
"""
