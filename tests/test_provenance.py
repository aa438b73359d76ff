import numpy as np

import taskspace
from taskspace.provenance import library_versions


def test_taskspace_first_then_the_named_libraries_in_order_as_plain_str():
    versions = library_versions("numpy", "yaml")
    assert list(versions) == ["taskspace_version", "numpy_version", "yaml_version"]
    assert versions["taskspace_version"] == taskspace.__version__ and versions["numpy_version"] == np.__version__
    assert all(type(v) is str for v in versions.values())
    assert library_versions() == {"taskspace_version": taskspace.__version__}
