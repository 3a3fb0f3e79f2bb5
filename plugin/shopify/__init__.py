"""The Shopify app: its configuration file (app_config), and the theme app extension the
merchant adds widgets with (extension/, static files)."""
