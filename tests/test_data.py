import pytest
import torch

from course_utils import data
from course_utils.data import MultimodalDataset


@pytest.mark.parametrize("kind", ["redundant", "unique", "synergy"])
def test_generators_are_deterministic_and_shaped(kind):
    a = data.make_information_dataset(kind, 500, seed=3)
    b = data.make_information_dataset(kind, 500, seed=3)
    c = data.make_information_dataset(kind, 500, seed=4)
    assert a.modalities[0].shape == (500, 32) and a.modalities[1].shape == (500, 16)
    assert a.labels.shape == (500,) and a.labels.dtype == torch.long
    assert all(torch.equal(x, y) for x, y in zip(a.modalities, b.modalities))
    assert not torch.equal(a.modalities[0], c.modalities[0])


def _bits(dataset):
    """Recover each modality's bit along its first principal direction (sign is arbitrary)."""
    from course_utils.plots import first_principal_component
    return [(first_principal_component(m) > 0).long() for m in dataset.modalities]


def test_information_structure_at_zero_noise():
    syn = data.make_synergy(4000, noise=0.0, seed=0)
    a, b = _bits(syn)
    agree = (syn.labels == (a ^ b)).float().mean().item()
    assert agree in (0.0, 1.0)  # exactly XOR up to the arbitrary sign of each component
    assert abs(syn.labels[a == 1].float().mean().item() - 0.5) < 0.03
    red = data.make_redundant(4000, noise=0.0, seed=0)
    a, b = _bits(red)
    assert (a == b).all() or (a != b).all()


def test_reference_tutorial_data_matches_its_definition():
    ds = data.make_reference_tutorial_data(3000, seed=0)
    assert ds.num_classes == 3 and torch.bincount(ds.labels).tolist() == [1000, 1000, 1000]
    image, text = ds.modalities
    c2 = ds.labels == 2
    assert (image[c2, 0] >= 0.5).all() and (text[c2, 0] >= 0.5).all()
    assert abs(image[ds.labels == 0, 0].mean().item() - 1.0) < 0.05


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "n must be"), (dict(n=2.5), "n must be"), (dict(noise=-1.0), "noise"),
    (dict(noise=float("nan")), "noise"), (dict(img_dim=0), "img_dim"),
])
def test_generators_reject_bad_input(kwargs, message):
    args = dict(n=100) | kwargs
    n = args.pop("n")
    with pytest.raises(ValueError, match=message):
        data.make_synergy(n, **args)


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        data.make_information_dataset("xor", 10)


def test_dataset_validation_and_split():
    with pytest.raises(ValueError, match="as many samples as labels"):
        MultimodalDataset((torch.zeros(5, 2), torch.zeros(4, 2)), torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="integer class indices"):
        MultimodalDataset((torch.zeros(5, 2),), torch.zeros(5), names=("x",))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        MultimodalDataset((torch.zeros(2, 2), torch.zeros(2, 2)), torch.tensor([0, 5]))
    ds = data.make_unique(100, seed=0)
    train, val = ds.split(0.8, seed=1)
    assert len(train) == 80 and len(val) == 20
    with pytest.raises(ValueError, match="train_fraction"):
        ds.split(1.0)
    assert ds.modality("text") is ds.modalities[1]


def test_make_xor_tensors_reference():
    gen = torch.Generator().manual_seed(0)
    u = torch.tensor([1.0, 0.0])
    from course_utils.references import reference
    image, text, y = reference("01.xor_data")(1000, u, u, 0.0, gen)
    assert torch.equal(y, (image[:, 0] > 0).long() ^ (text[:, 0] > 0).long())
