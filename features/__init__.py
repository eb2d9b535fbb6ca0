"""features stage package (built in later issues)."""
