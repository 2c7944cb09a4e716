"""The shipped YAML configs (model presets, search and train configs), installed as package data so the CLI finds
them from any folder: ``search.shipped`` locates them."""
