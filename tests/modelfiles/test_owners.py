"""Modules to the distributions that provide them, from a packages_distributions()-shaped mapping."""

from __future__ import annotations

from envcheck.modelfiles import ModuleOwners, module_owners

PROVIDES = {
    "sklearn": ["scikit-learn"],
    "numpy": ["numpy"],
    "google": ["protobuf", "Google_Auth"],
    "typing_extensions": ["typing_extensions"],
}


def test_sorts_modules_into_provided_stdlib_and_unowned() -> None:
    owners = module_owners(
        ["sklearn", "numpy.core", "collections", "__main__", "google", "copy_reg", "my_project"], PROVIDES
    )
    assert owners == ModuleOwners(
        distributions={
            "google": ("google-auth", "protobuf"),
            "numpy": ("numpy",),
            "sklearn": ("scikit-learn",),
        },
        stdlib=("collections", "copy_reg"),
        unowned=("__main__", "my_project"),
    )
    assert owners.all_distributions == ("google-auth", "numpy", "protobuf", "scikit-learn")


def test_an_installed_distribution_wins_over_the_stdlib() -> None:
    owners = module_owners(["enum"], {"enum": ["enum34"]}, stdlib={"enum"})
    assert owners.distributions == {"enum": ("enum34",)} and owners.stdlib == ()


def test_references_and_empty_names() -> None:
    owners = module_owners(["sklearn.pipeline:Pipeline", ""], PROVIDES, stdlib=())
    assert owners.distributions == {"sklearn": ("scikit-learn",)} and owners.unowned == ()
