"""The TUI's widgets, one a file, named for the screen area they fill."""
