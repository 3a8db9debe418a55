"""quiet_third_party drops the listed third-party messages only, and puts the filters back after."""

import logging
import warnings

import pytest

from edgellm.quiet import quiet_third_party


def _emit():
    logging.getLogger("torchao").warning("Failed to load /x/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: nope")
    logging.getLogger("torchao").warning("something torchao has not said before")
    logging.getLogger("torchao").error("Failed to load /x/_C.so but at ERROR level")
    logging.getLogger("torch.utils._pytree").warning(
        "<enum 'KernelPreference'> is an Enum subclass and is now natively supported by torch.compile")
    logging.getLogger("edgellm").warning("edgellm's own warning")
    warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
    warnings.warn("an unrelated FutureWarning", FutureWarning)


def test_listed_noise_is_dropped_and_the_rest_passes(caplog):
    caplog.set_level(logging.INFO)
    with pytest.warns(FutureWarning) as seen, quiet_third_party():
        _emit()
    assert [r.getMessage() for r in caplog.records] == [
        "something torchao has not said before", "Failed to load /x/_C.so but at ERROR level",
        "edgellm's own warning"]
    assert [str(w.message) for w in seen] == ["an unrelated FutureWarning"]


def test_filters_are_removed_after_and_on_error(caplog):
    caplog.set_level(logging.INFO)
    with pytest.raises(RuntimeError), quiet_third_party():
        raise RuntimeError("an export error passes through")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _emit()
    assert len(caplog.records) == 5 and len(seen) == 2
