"""Hidden checks of notebook 05: the bidirectional block wired again from the learner's own direction layers and
layer norms (which spells out the answer), and the typical wirings that are wrong.

Left out of a graded release that withholds notebook 05; grading runs them from the instructor's package.
"""
from __future__ import annotations

import torch

from ...attention_inspection import attend
from ..common import cap
from ..nb05 import BLOCK_PARTS


def _variants(block, img, txt):
    """The right output (two accepted poolings) and typical mistakes: name -> (B, dim) tensor."""
    t2i, i2t, norm_t, norm_i = (getattr(block, n) for n in BLOCK_PARTS)
    a_t, a_i = attend(t2i, txt, img), attend(i2t, img, txt)
    t_new, i_new = norm_t(txt + a_t), norm_i(img + a_i)
    return {
        "ok: average of the two pooled modalities": 0.5 * (t_new.mean(1) + i_new.mean(1)),
        "ok: mean over all tokens of both modalities": torch.cat([t_new, i_new], 1).mean(1),
        "only text queries image": t_new.mean(1),
        "only image queries text": i_new.mean(1),
        "no residual": 0.5 * (norm_t(a_t).mean(1) + norm_i(a_i).mean(1)),
        "no residual (tokens)": torch.cat([norm_t(a_t), norm_i(a_i)], 1).mean(1),
        "no layer norm": 0.5 * ((txt + a_t).mean(1) + (img + a_i).mean(1)),
        "residual outside the norm": 0.5 * ((txt + norm_t(a_t)).mean(1) + (img + norm_i(a_i)).mean(1)),
        "roles swapped": 0.5 * (norm_t(txt + attend(t2i, img, txt)).mean(1)
                                + norm_i(img + attend(i2t, txt, img)).mean(1)) if img.shape[1] == txt.shape[1]
        else None,
    }


_ADVICE = {
    "only text queries image": "a direction is left out: the image -> text direction (img_to_txt, image "
                               "queries text) does not reach the output. Compute it and combine both pooled "
                               "results.",
    "only image queries text": "a direction is left out: the text -> image direction (txt_to_img, text "
                               "queries image) does not reach the output. Compute it and combine both pooled "
                               "results.",
    "no residual": "the residual connection is missing: normalise `txt + attention(txt, img)`, not the attention "
                   "output alone (and the same for the image).",
    "no residual (tokens)": "the residual connection is missing: normalise `txt + attention(txt, img)`, not the "
                            "attention output alone (and the same for the image).",
    "no layer norm": "the layer norms are missing: apply norm_txt / norm_img to the residual sums.",
    "residual outside the norm": "apply the layer norm to the residual sum, norm(x + attention(x, other)), "
                                 "not x + norm(attention(...)).",
    "roles swapped": "the directions are swapped: in txt_to_img the TEXT gives the queries and the image the "
                     "keys/values (txt_to_img(txt, img)); in img_to_txt the image queries the text.",
}


def _compare(check, out, variants, what):
    __tracebackhide__ = True
    matched = next((name for name, ref in variants.items()
                    if ref is not None and torch.allclose(out, ref, atol=1e-5, rtol=1e-4)), None)
    if matched is None or not matched.startswith("ok"):
        hint = cap(_ADVICE.get(matched, "compute t' = norm_txt(txt + txt_to_img(txt, img)) and "
                                    "v' = norm_img(img + img_to_txt(img, txt)), then return "
                                    "0.5 * (t'.mean(1) + v'.mean(1))."))
        check.close(out, variants["ok: average of the two pooled modalities"],
                    f"output ({what}) vs the block wired from your own layers", hint=hint)
    check.ok(f"output ({what}) matches the reference wiring ({matched[4:]})")


def block_output(check, block, img, txt, out, what):
    """``out = block(img, txt)`` against the wiring from the block's own parts; names the mistake."""
    __tracebackhide__ = True
    _compare(check, out, _variants(block, img, txt), what)
