"""skssad.callbacks pieces that are not covered through a detector."""

from types import SimpleNamespace

from skssad.callbacks import MemoryWarmup


def test_memory_warmup_switches_once_by_epoch_index():
    # AnoMem's memory_warmup: no memory for the first `epochs` epochs, the patterns
    # placed once, before the first epoch with the memory; the phase follows the epoch
    # index (skorch's history has the current epoch's row at on_epoch_begin).
    calls = []
    cb = MemoryWarmup(2, lambda X, y: calls.append((X, y)))
    net = SimpleNamespace(history=[], criterion_=SimpleNamespace(use_memory=True))
    data = SimpleNamespace(X="X", y="y")
    phases = []
    for _ in range(5):
        net.history.append({})
        cb.on_epoch_begin(net, dataset_train=data)
        phases.append(net.criterion_.use_memory)
    assert phases == [False, False, True, True, True]
    assert calls == [("X", "y")]
    # a fit resumed after the switch keeps the memory on and does not move the patterns
    resumed = SimpleNamespace(history=[{}] * 4, criterion_=SimpleNamespace(use_memory=False))
    cb.on_epoch_begin(resumed, dataset_train=data)
    assert resumed.criterion_.use_memory and len(calls) == 1
