"""watchapp: offline-first watch-visit log for Kurume's neighbourhood volunteers."""
