r"""Binding tasks: which attribute belongs to which object (notebooks 04 and 05).

**Binding task** (:func:`make_binding`). The image is a *set* of ``num_objects`` object tokens in random
order; object $k$ has a shape $s_k$ and a colour $c_k$ (shapes all differ within an image; with
``distinct_colours=True``, the default, so do colours). Its token is

$$x_k = e^{\text{colour}}_{c_k} + e^{\text{shape}}_{s_k} + \sigma\varepsilon_k \in \mathbb{R}^{d},$$

with fixed random codebooks $e$. The text is one token naming a shape that is in the image,
$t = f^{\text{shape}}_{s_q} + \sigma\varepsilon$ (its own codebook: words are not pixels). The label is the
colour of the object with that shape. The text alone says nothing about the label (the shape and the colour
are independent), and the image alone narrows it only to the ``num_objects`` colours it shows, each equally
likely (accuracy at most ``1 / num_objects``): the answer lives in the *binding* of the text to one image
token.

**Two-way binding task** (:func:`make_two_way_binding`): a caption checked against a picture. The image has
``num_objects`` objects (shape, colour red or not); the text has ``num_words`` word tokens in random order, each a
shape word plus an adjective (big or small): ``num_mentioned`` words name objects in the image, the others name
shapes that are not there. The label has two halves:

- *red*: how many of the mentioned objects are red (a word has to find its object: text -> image);
- *big*: how many of the words naming a real object say "big" (an object has to find its word: image -> text).

The label is ``red * (num_mentioned + 1) + big``.

Every generator is vectorised and deterministic for a ``seed``; the codebooks depend only on
``codebook_seed`` so datasets drawn with different seeds share them.
"""
from __future__ import annotations

import torch

from .dataset import MultimodalDataset, check_int

#: names for the codebook entries, for printing and plots
COLOUR_NAMES = ("red", "green", "blue", "yellow", "purple", "orange", "pink", "brown")
SHAPE_NAMES = ("circle", "square", "triangle", "star", "heart", "cross", "moon", "hexagon",
               "diamond", "arrow", "ring", "spiral")


def _codebook(rows: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    """``rows`` random unit vectors ``(rows, dim)``."""
    e = torch.randn(rows, dim, generator=gen)
    return e / e.norm(dim=1, keepdim=True)


def _random_subsets(n: int, population: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``(n, size)`` distinct values from ``range(population)`` per row, in random order."""
    return torch.rand(n, population, generator=gen).argsort(dim=1)[:, :size]


def make_binding(n: int = 3000, *, num_objects: int = 4, num_shapes: int = 8, num_colours: int = 6,
                 dim: int = 16, txt_dim: int = 16, noise: float = 0.1, distinct_colours: bool = True,
                 seed: int = 0, codebook_seed: int = 1234, return_info: bool = False):
    """The binding task: image object tokens, text names a shape, label = that object's colour.

    Returns a :class:`MultimodalDataset` with ``image`` ``(n, num_objects, dim)``, ``text`` ``(n, txt_dim)``
    and labels ``(n,)`` in ``[0, num_colours)``. With ``return_info=True`` also a dict of the hidden
    variables: ``shapes`` and ``colours`` ``(n, num_objects)``, ``query_shape`` ``(n,)`` and ``target``
    ``(n,)``, the index of the queried object among the image tokens.
    """
    check_int("n", n, 2)
    check_int("num_objects", num_objects, 1)
    check_int("num_colours", num_colours, 2)
    check_int("dim", dim, 1)
    check_int("txt_dim", txt_dim, 1)
    if num_shapes < num_objects:
        raise ValueError(f"num_shapes ({num_shapes}) must be >= num_objects ({num_objects}): shapes differ "
                         "within an image")
    if distinct_colours and num_colours < num_objects:
        raise ValueError(f"distinct_colours=True needs num_colours >= num_objects, got {num_colours} and "
                         f"{num_objects}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    books = torch.Generator().manual_seed(codebook_seed)
    colour_code, shape_code = _codebook(num_colours, dim, books), _codebook(num_shapes, dim, books)
    word_code = _codebook(num_shapes, txt_dim, books)

    gen = torch.Generator().manual_seed(seed)
    shapes = _random_subsets(n, num_shapes, num_objects, gen)                       # (n, K)
    if distinct_colours:
        colours = _random_subsets(n, num_colours, num_objects, gen)                 # a permutation per image
    else:
        colours = torch.randint(0, num_colours, (n, num_objects), generator=gen)
    target = torch.randint(0, num_objects, (n,), generator=gen)                     # which object is asked
    rows = torch.arange(n)
    query_shape = shapes[rows, target]
    image = colour_code[colours] + shape_code[shapes] + noise * torch.randn(n, num_objects, dim, generator=gen)
    text = word_code[query_shape] + noise * torch.randn(n, txt_dim, generator=gen)
    labels = colours[rows, target]
    data = MultimodalDataset((image, text), labels, ("image", "text"), num_colours)
    if return_info:
        return data, {"shapes": shapes, "colours": colours, "query_shape": query_shape, "target": target}
    return data


def make_two_way_binding(n: int = 3000, *, num_objects: int = 4, num_words: int = 4, num_mentioned: int = 2,
                         num_shapes: int = 8, dim: int = 16, txt_dim: int = 16, noise: float = 0.1,
                         seed: int = 0, codebook_seed: int = 4321, return_info: bool = False):
    """A caption checked against a picture; the label has two halves, one about each modality's tokens.

    A person would answer *red* (how many mentioned objects are red) by letting each word look up its object (text
    queries image) and *big* (how many words naming a real object say "big") by letting each object look up its word
    (image queries text). That split is a design intuition, not a limit of one direction: notebook 05 measures that
    a single attention direction learns both halves.

    Returns a :class:`MultimodalDataset` with ``image`` ``(n, num_objects, dim)``, ``text``
    ``(n, num_words, txt_dim)`` and labels ``red * (num_mentioned + 1) + big`` in
    ``[0, (num_mentioned + 1) ** 2)``. With ``return_info=True`` also a dict with ``red`` and ``big`` ``(n,)``,
    ``present`` ``(n, num_words)`` (whether each word names an object in the image) and ``num_mentioned``.
    """
    for name, value, low in (("n", n, 2), ("num_objects", num_objects, 1), ("num_words", num_words, 1),
                             ("num_mentioned", num_mentioned, 1), ("dim", dim, 1), ("txt_dim", txt_dim, 1)):
        check_int(name, value, low)
    if num_mentioned > min(num_objects, num_words):
        raise ValueError(f"num_mentioned ({num_mentioned}) must be <= num_objects ({num_objects}) and "
                         f"<= num_words ({num_words})")
    absent = num_words - num_mentioned
    if num_shapes < num_objects + absent:
        raise ValueError(f"num_shapes ({num_shapes}) must be >= num_objects + absent words "
                         f"({num_objects + absent})")
    books = torch.Generator().manual_seed(codebook_seed)
    colour_code, shape_code = _codebook(2, dim, books), _codebook(num_shapes, dim, books)
    adjective_code, word_code = _codebook(2, txt_dim, books), _codebook(num_shapes, txt_dim, books)

    gen = torch.Generator().manual_seed(seed)
    k, rows = num_objects, torch.arange(n).unsqueeze(1)
    pool = _random_subsets(n, num_shapes, k + absent, gen)           # image shapes, then absent shapes
    shapes = pool[:, :k]
    colours = torch.randint(0, 2, (n, k), generator=gen)             # 1 = red
    mentioned = _random_subsets(n, k, num_mentioned, gen)            # image indices the caption mentions
    word_shapes = torch.cat([shapes.gather(1, mentioned), pool[:, k:]], dim=1)      # (n, num_words)
    present = torch.cat([torch.ones(n, num_mentioned), torch.zeros(n, absent)], dim=1)
    adjectives = torch.randint(0, 2, (n, num_words), generator=gen)  # 1 = big
    order = torch.rand(n, num_words, generator=gen).argsort(dim=1)   # shuffle the words
    word_shapes, present, adjectives = word_shapes.gather(1, order), present.gather(1, order), adjectives.gather(1, order)

    image = colour_code[colours] + shape_code[shapes] + noise * torch.randn(n, k, dim, generator=gen)
    text = word_code[word_shapes] + adjective_code[adjectives] + noise * torch.randn(n, num_words, txt_dim,
                                                                                     generator=gen)
    red = colours.gather(1, mentioned).sum(1)                        # text -> image: colours of mentioned objects
    big = (adjectives * present).sum(1).long()                       # image -> text: adjectives of real objects
    labels = red * (num_mentioned + 1) + big
    data = MultimodalDataset((image, text), labels, ("image", "text"), (num_mentioned + 1) ** 2)
    if return_info:
        return data, {"red": red, "big": big, "present": present.bool(), "num_mentioned": num_mentioned}
    return data
