"""Storage benchmark: the Python Pebble binding against Pebble used natively from Go."""
