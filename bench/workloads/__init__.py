"""How much of a load budget the load generator itself takes (see __main__)."""
