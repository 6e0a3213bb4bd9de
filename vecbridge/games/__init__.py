"""Built-in games, each served in its own process over the real protocol."""
