"""Fixtures of the benchmark tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny images: one thread is faster than several (and the CPU is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
