"""Data sources: the built-in season simulator (``synthetic:``) and Big Data Bowl files (``bdb:``)."""
