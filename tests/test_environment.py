import pytest
import torch

from course_utils import environment_report, get_device, in_colab, seed_everything


def test_device_and_report():
    assert get_device().type in {"cpu", "cuda", "mps"}
    assert get_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'mps'"):
        get_device("tpu")
    report = environment_report()
    assert report["torch"] == torch.__version__ and report["colab"] is in_colab() is False


def test_seed_everything_repeats():
    seed_everything(3); a = torch.rand(4)
    seed_everything(3); b = torch.rand(4)
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_seeds_default_and_override(monkeypatch):
    from course_utils.environment import seeds
    monkeypatch.delenv("COURSE_SEEDS", raising=False)
    assert seeds() == [0, 1, 2] and seeds(default=(4, 5)) == [4, 5]
    monkeypatch.setenv("COURSE_SEEDS", " 3, 4,5 ")
    assert seeds() == [3, 4, 5] and seeds(default=[9]) == [3, 4, 5]
    for bad in ("a,b", "-1,2", ","):
        monkeypatch.setenv("COURSE_SEEDS", bad)
        with pytest.raises(ValueError, match="COURSE_SEEDS|seed list"):
            seeds()
