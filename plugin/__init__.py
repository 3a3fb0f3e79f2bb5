"""shopreco: the plugin application (composition, config, shops, CLI)."""
