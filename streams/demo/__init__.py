"""`tierstream demo`: sample feed, webhook sink, child processes and the live view.

`streams.cli.demo` is the command; `session` runs one demo; the other modules are its
parts (`feed`, `sink`, `processes`, `board`), each usable alone.
"""
