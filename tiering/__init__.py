"""The tiering domain: pure, deterministic customer classification (no I/O, no clock)."""
