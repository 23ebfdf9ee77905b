"""Guard the public names: additions are deliberate, removals are breaking."""

import smoothscope

PUBLIC = {
    "Claim",
    "NonsmoothnessMaps",
    "SmoothscopeError",
    "VideoNonsmoothness",
    "__version__",
    "available_experiments",
    "available_models",
    "ave_nonsmooth",
    "build",
    "compare_profiles",
    "detect_kinks",
    "fit",
    "nonsmoothness_maps",
    "peak_mask",
    "profile",
    "reconstruct_videos",
    "run_experiment",
    "second_difference",
    "second_difference_at",
    "smp",
    "video_nonsmoothness",
}


def test_public_names():
    assert set(smoothscope.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(smoothscope, name) is not None


def test_error_family_is_a_value_error():
    assert issubclass(smoothscope.SmoothscopeError, ValueError)
