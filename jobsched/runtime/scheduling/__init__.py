"""The scheduler: the scheduling queue and its gate, per-domain placement loops, and the bind cycle."""
