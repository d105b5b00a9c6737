"""Names the course retired (issue 29: one name for each kind of late fusion) still work where a handed-out
notebook may use them, and mean what the new names mean."""
from course_utils import plots
from course_utils.models import cnn


def test_late_fusion_cnn_is_the_embedding_concat_cnn():
    from course_utils.models.cnn import LateFusionCNN
    assert LateFusionCNN is cnn.EmbeddingConcatCNN
    assert type(cnn.model_zoo()["embedding concat"]()) is cnn.EmbeddingConcatCNN
    assert isinstance(LateFusionCNN(), cnn.EmbeddingConcatCNN)


def test_retired_colour_keys_get_their_new_names_colours():
    assert plots.color_for("late fusion (decision)") == plots.STRATEGY_COLORS["late fusion (joint)"]
    assert plots.color_for("Late fusion (embedding concat)") == plots.STRATEGY_COLORS["embedding concat"]
    assert plots.color_for("late fusion (ensemble)") != plots.color_for("late fusion (joint)")
    assert not set(plots.RENAMED) & set(plots.STRATEGY_COLORS)      # the table itself uses the new names only
    assert set(plots.RENAMED.values()) <= set(plots.STRATEGY_COLORS)


def test_unknown_names_still_fall_back_to_the_cycle():
    assert plots.color_for("something new", 1) == plots._FALLBACK[1]
