"""Layouts: the model, YAML loading with positions, validation, typed fields, limits, and the
watcher that reloads a layout file."""
