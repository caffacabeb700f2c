"""What a test module needs that the bindings themselves do not.

A missing requirement fails the module rather than skipping it: `make test`
installs everything (tools/install-deps.sh), so on a machine set up by it
a skip would only hide a suite that never ran. Set SPARSA_ALLOW_SKIP=1 to
skip instead, when running the tests by hand without the optional
packages.
"""

import importlib
import os

import pytest


def _allow_skip():
    return os.environ.get("SPARSA_ALLOW_SKIP", "") == "1"


def _missing(reason):
    if _allow_skip():
        pytest.skip(reason + " (skipped: SPARSA_ALLOW_SKIP=1)", allow_module_level=True)
    pytest.fail(reason + "; tools/install-deps.sh installs it, or set SPARSA_ALLOW_SKIP=1 to skip",
                pytrace=False)


def require(module):
    """The module, imported; a failure (or a skip) where it cannot be."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        reason = f"{module} cannot be imported ({err})"
    _missing(reason)


def require_cuda(torch):
    """Skips without a CUDA device, unless SPARSA_REQUIRE_CUDA=1 says the
    caller knows one is there (the GPU check), which makes it a failure."""
    if torch.cuda.is_available():
        return
    if os.environ.get("SPARSA_REQUIRE_CUDA", "") == "1":
        pytest.fail("SPARSA_REQUIRE_CUDA=1 but torch sees no CUDA device", pytrace=False)
    pytest.skip("no CUDA device", allow_module_level=True)
