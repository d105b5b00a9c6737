"""An exercise answered with the course's own reference of that exercise fails, by any of the four routes;
answers that build on earlier exercises' references, or copy nothing, pass."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import nb03, nb05
from course_utils.feedback import ReferenceUsed, passed
from course_utils.models import attention, fusion
from course_utils.references import reference

from copies import own


def test_imported_or_aliased_reference_fails():
    from course_utils.models.fusion import product_of_experts as mine
    with pytest.raises(ReferenceUsed, match="reference product_of_experts itself"):
        nb03.check_product_of_experts(mine)
    assert not passed("03.product_of_experts")
    with pytest.raises(ReferenceUsed):
        nb03.check_product_of_experts(reference("03.product_of_experts"))


def test_subclassed_reference_fails():
    class Mine(fusion.DecisionLateFusion):
        pass
    with pytest.raises(ReferenceUsed, match="subclasses the course's reference DecisionLateFusion"):
        nb03.check_decision_fusion(Mine)


def test_instance_holding_a_reference_submodule_fails():
    class Mine(nn.Module):
        def __init__(self, img_dim, txt_dim, hidden_dim, num_classes):
            super().__init__()
            self.inner = getattr(fusion, "Decision" + "LateFusion")(img_dim, txt_dim, hidden_dim, num_classes)
            self.img_head, self.txt_head = self.inner.img_head, self.inner.txt_head

        def forward(self, img, txt):
            return self.inner(img, txt)
    # the name is computed at run time, so only the built model shows the reference inside it
    with pytest.raises(ReferenceUsed, match="holds .*an instance of the course's reference DecisionLateFusion"):
        nb03.check_decision_fusion(Mine)


def test_function_calling_the_reference_fails():
    def through_globals(img_logits, txt_logits):
        return fusion.product_of_experts(img_logits, txt_logits)

    ref = reference("03.product_of_experts")

    def through_closure(img_logits, txt_logits):
        return ref(img_logits, txt_logits) + 0.0

    class Callable:
        def __call__(self, a, b):
            return through_globals(a, b)

    for answer in (through_globals, through_closure, Callable()):
        with pytest.raises(ReferenceUsed, match="calls the course's reference product_of_experts"):
            nb03.check_product_of_experts(answer)


def test_own_code_passes():
    def mine(img_logits, txt_logits):
        joint = F.log_softmax(img_logits, -1) + F.log_softmax(txt_logits, -1)
        return joint - torch.logsumexp(joint, -1, keepdim=True)
    assert nb03.check_product_of_experts(mine) and passed("03.product_of_experts")


def test_building_on_an_earlier_exercises_reference_passes():
    """05's block on notebook 04's reference CrossAttentionLayer, as notebook 05 does."""
    Layer = attention.CrossAttentionLayer               # exercise 04.cross_attention's reference

    class Block(own("05.bidirectional")):
        def __init__(self, dim, num_heads=4, shared=False):
            super().__init__(dim, num_heads, shared)
            self.txt_to_img = Layer(dim, num_heads)
            self.img_to_txt = self.txt_to_img if shared else Layer(dim, num_heads)
    assert nb05.check_bidirectional(Block) and passed("05.bidirectional")


def test_a_mistyped_exercise_id_of_a_course_notebook_is_an_error():
    """It used to switch the reference-use test off silently; ids of notebooks the course does not have (a
    course of one's own, as the grading tests build) have no reference to compare with."""
    from course_utils import provenance
    with pytest.raises(KeyError, match=r"notebook 03 has no exercise '03.product_of_expert'.*03.product_of_experts"):
        provenance.reference_route("03.product_of_expert", [fusion.product_of_experts])
    assert provenance.reference_route("90.add", [fusion.product_of_experts]) == ""
    assert provenance.holds_reference("90.add", nn.Linear(2, 2)) == ""
