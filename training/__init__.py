"""training stage package (built in later issues)."""
