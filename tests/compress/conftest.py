import pytest


@pytest.fixture
def one_thread():
    """One PyTorch thread: tiny matrices on a busy 2-core machine, where two OpenMP threads wait on each other
    (several times slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
