"""evaluation stage package (built in later issues)."""
