"""File formats: GT shards (SPEC §4), predictions (§5), results records (§7)."""
