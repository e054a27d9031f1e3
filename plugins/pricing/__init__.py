"""The built-in pricing modes. Each imports only `vistapass.platform.plugin_api`."""
