"""What `tierstream score --compare` and `--report` show about a scoring: migration between
tiers, revenue concentration, segment, lifecycle and risk counts, watch lists.

Everything here works on the rows of the score output CSV (`streams.cli.score.OUTPUT_COLUMNS`
plus optional value columns), never on the engine, so it serves any engine that writes that
contract.
"""
