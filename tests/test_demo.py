"""The in-memory demo tells its story and ends with both providers agreeing."""

import io

from maestro_core import demo


def test_demo_ends_in_agreement():
    out = io.StringIO()
    assert demo.main([], out=out) == 0
    text = out.getvalue()
    assert "conflicts 1" in text
    assert "LOCAL_UPDATE_REMOTE_UPDATE" in text
    assert text.rstrip().endswith("All providers agree.")
