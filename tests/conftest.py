import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def facebench_home(tmp_path_factory):
    """Every test session gets its own FACEBENCH_HOME (cache, default GT folders)."""
    home = tmp_path_factory.mktemp("facebench-home")
    old = os.environ.get("FACEBENCH_HOME")
    os.environ["FACEBENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("FACEBENCH_HOME", None)
    else:
        os.environ["FACEBENCH_HOME"] = old
