from vistapass.platform.db.engine import Database, normalise_url

__all__ = ["Database", "normalise_url"]
