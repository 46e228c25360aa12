"""The entry-point module stays light, and agrees with the store it builds."""

import maestro_mongo
from maestro_mongo import _plugin


def test_the_plugin_default_prefix_is_the_stores():
    assert _plugin.COLLECTION_PREFIX == maestro_mongo.DEFAULT_PREFIX


def test_a_client_from_options_gives_up_on_a_missing_server_soon():
    client = _plugin._client("mongodb://127.0.0.1:9/")
    try:
        assert client.options.server_selection_timeout == 10
    finally:
        client.close()
    client = _plugin._client("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=2500")
    try:
        assert client.options.server_selection_timeout == 2.5
    finally:
        client.close()
