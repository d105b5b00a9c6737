"""Which exercises the judge (:mod:`.judge`) decides, and how: a table without torch, so that the runner can ask
whether a notebook has any (:func:`any_judged`) without importing torch, which costs a grading command about 1.5 s
of CPU where no exercise is judged."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    """One judged exercise: the name the kernel looks up and the course's check function (module, attribute).

    The inputs are the check's own, drawn from generators seeded with the per-run secret; the comparison and
    the typical mistakes are the check's visible and hidden parts (``course_utils/checks/nbNN.py`` and
    ``checks/hidden/nbNN.py``), run here on the kernel's outputs.
    """
    name: str
    checks: str           # course_utils.checks.<module>
    check: str            # the check function's name
    kind: str = "function"   # "module": the answer is an nn.Module class, judged with the grader's weights loaded

    def check_function(self):
        import importlib
        return getattr(importlib.import_module(f"course_utils.checks.{self.checks}"), self.check)


JUDGED = {
    "00.standardize": Spec("standardize", "nb00", "check_standardize"),
    "01.xor_data": Spec("make_xor_data", "nb01", "check_xor_data"),
    "03.product_of_experts": Spec("product_of_experts", "nb03", "check_product_of_experts"),
    "04.sdpa": Spec("scaled_dot_product_attention", "nb04", "check_scaled_dot_product_attention"),
    "04.cross_attention": Spec("CrossAttentionLayer", "nb04", "check_cross_attention_layer", "module"),
    "06.gmu": Spec("GatedMultimodalUnit", "nb06", "check_gmu", "module"),
    "07.fuse": Spec("fuse", "nb07", "check_fuse"),
    "09.infonce": Spec("info_nce", "nb09", "check_info_nce"),
    "09.learnable_temperature": Spec("LearnedTemperature", "nb09", "check_learned_temperature", "module"),
    "09.recall_at_k": Spec("recall_at_k", "nb09", "check_recall_at_k"),
    "10.tensor_fusion": Spec("tensor_fusion", "nb10", "check_tensor_fusion"),
    "10.low_rank_fusion": Spec("LowRankFusion", "nb10", "check_low_rank_fusion", "module"),
    "10.parameter_counts": Spec("parameter_counts", "nb10", "check_parameter_counts"),
    "11.auxiliary_loss": Spec("auxiliary_loss", "nb11", "check_auxiliary_loss"),
    "12.mutual_information": Spec("mutual_information_bits", "nb12", "check_mutual_information"),
    "12.broja": Spec("solve_broja", "nb12", "check_broja"),
}


def any_judged(checks) -> bool:
    """Whether any of the check ids ``checks`` is judged."""
    return any(c in JUDGED for c in checks)
