"""The entry-point module stays light, and agrees with the store it builds."""

import maestro_mongo
from maestro_mongo import _plugin


def test_the_plugin_default_prefix_is_the_stores():
    assert _plugin.COLLECTION_PREFIX == maestro_mongo.DEFAULT_PREFIX
