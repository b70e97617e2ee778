from labelsite.text import counted


def test_a_count_of_one_takes_the_singular_and_every_other_count_the_plural():
    assert [counted(n, "error") for n in (0, 1, 2)] == ["0 errors", "1 error", "2 errors"]


def test_an_irregular_plural_is_given():
    assert counted(3, "media", "media") == "3 media"
