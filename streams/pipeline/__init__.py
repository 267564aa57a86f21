"""The stream's pure stage logic: no Faust, no asyncio, no I/O.

Decoding and dead letters, the event-time merge of a partition's inputs, epochs of stream
time, stage 1 (measure: state, due-index, rank summaries), the rank barrier and stage 2
(rank: classifications, hysteresis, cut sweeps), checkpoints, repartition bookkeeping, and
`LocalPipeline`, which runs all of it in-process without a broker.
"""
