"""``create_mongo_store`` and friends, as the documentation imports them."""

from maestro_mongo import create_mongo_lock, create_mongo_provider, create_mongo_store

__all__ = ["create_mongo_lock", "create_mongo_provider", "create_mongo_store"]
