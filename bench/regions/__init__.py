"""bench/regions: the Region store with one Region vs many, and write latency during splits vs without."""
