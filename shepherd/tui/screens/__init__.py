"""The TUI's screens: the four views, the child's view, dialogs and the key list."""
