"""Shared test set-up: a headless plotting backend and small deterministic data."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def fashion_test():
    from seelike import data

    return data.fashion_mnist("test")
