"""Message templates through the store interface: one name per key, kept across a restart,
replaced and deleted only by their own key, listed per key or for all in cursor order."""

from __future__ import annotations

from .backends import Harness
from .interface import NewTemplate, Store


def _t(key: str, name: str, text: str = "Hi {{name}}", at: float = 1_000.0) -> NewTemplate:
    return NewTemplate(
        key=key,
        name=name,
        text=text,
        variants={"de": "Hallo {{name}}", "fr-CA": "Allo {{name}}"},
        msg_class="marketing",
        description="greeting",
        at=at,
    )


async def test_a_template_is_kept_as_written_across_a_restart(harness: Harness) -> None:
    made = await harness.store.add_template(_t("shop", "hello"))
    assert made is not None
    assert (made.key, made.name, made.text, made.msg_class) == (
        "shop",
        "hello",
        "Hi {{name}}",
        "marketing",
    )
    assert made.variants == {"de": "Hallo {{name}}", "fr-CA": "Allo {{name}}"}
    assert (made.created_at, made.updated_at, made.description) == (1_000.0, 1_000.0, "greeting")
    store = await harness.reopen()
    assert await store.get_template("shop", "hello") == made


async def test_a_name_is_taken_once_per_key(store: Store) -> None:
    first = await store.add_template(_t("shop", "hello"))
    assert first is not None
    assert await store.add_template(_t("shop", "hello", "Other text")) is None
    again = await store.get_template("shop", "hello")
    assert again is not None and again.text == "Hi {{name}}"
    theirs = await store.add_template(_t("other", "hello", "Theirs"))
    assert theirs is not None and theirs.text == "Theirs"


async def test_replace_and_delete_touch_only_the_keys_own(store: Store) -> None:
    await store.add_template(_t("shop", "hello"))
    await store.add_template(_t("other", "hello", "Theirs"))
    new = NewTemplate(key="shop", name="hello", text="Hey {{name}}", at=2_000.0)
    replaced = await store.replace_template(new)
    assert replaced is not None
    assert (replaced.text, replaced.variants, replaced.msg_class) == ("Hey {{name}}", {}, None)
    assert (replaced.created_at, replaced.updated_at) == (1_000.0, 2_000.0)
    assert (
        await store.replace_template(NewTemplate(key="shop", name="nope", text="x", at=1.0)) is None
    )
    theirs = await store.get_template("other", "hello")
    assert theirs is not None and theirs.text == "Theirs"
    assert await store.delete_template("shop", "hello")
    assert not await store.delete_template("shop", "hello")
    assert await store.get_template("shop", "hello") is None
    assert await store.get_template("other", "hello") is not None


async def test_pages_follow_the_cursor_per_key_or_for_all(store: Store) -> None:
    for i in range(5):
        await store.add_template(_t("shop" if i % 2 == 0 else "other", f"t{i}"))
    mine = await store.templates_page("shop", 0, 2)
    assert [t.name for t in mine] == ["t0", "t2"]
    rest = await store.templates_page("shop", mine[-1].cursor, 2)
    assert [t.name for t in rest] == ["t4"]
    every = await store.templates_page(None, 0, 10)
    assert [(t.key, t.name) for t in every] == [
        ("shop", "t0"),
        ("other", "t1"),
        ("shop", "t2"),
        ("other", "t3"),
        ("shop", "t4"),
    ]
