"""The environment both backends give the recipe's processes."""

from ichigo.training.backends.job import recipe_env


def test_huge_pages_for_malloc_are_asked_for_and_other_tunables_kept():
    assert recipe_env({}) == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert recipe_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}) == {
        "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}


def test_a_users_hugetlb_choice_wins():
    assert recipe_env({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) == {}
